"""The command line: train, predict, explain, every training option reaching the model or the optimizer,
and bad arguments without tracebacks."""
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wdnumpy import datasets, runs
from wdnumpy.cli import main
from wdnumpy.ensemble import Ensemble
from wdnumpy.io import load_model
from wdnumpy.optim import FTRL, SGD, AdaGrad, Adam, Optimizer
from wdnumpy.train import make_model, train

ROOT = Path(__file__).resolve().parent.parent
N_TRAIN, N_TEST = 1500, 500  # the cut of Adult the option tests train on


def run(*args):
    """Run the CLI in a fresh process, as a user would."""
    return subprocess.run([sys.executable, "-m", "wdnumpy", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


def run_here(capsys, *args):
    """Run the CLI in this process: (exit code, stdout, stderr). Faster than a new process; an uncaught
    exception (a traceback for the user) fails the test."""
    try:
        code = main(list(args))
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "adult.npz"
    out = run("train", "--data", "adult", "--epochs", "1", "--hidden", "16", "--save", str(path), "--json")
    assert out.returncode == 0, out.stderr
    return path, json.loads(out.stdout.strip().splitlines()[-1]), out


def test_train_reports_json_and_progress(saved_model):
    _, result, out = saved_model
    for key in ("data", "model", "auc", "accuracy", "logloss", "seconds_per_epoch", "epochs", "params"):
        assert key in result
    assert result["data"] == "adult" and result["model"] == "wide_deep" and result["epochs"] == 1
    assert 0.8 < result["auc"] <= 1 and result["params"] > 1000
    assert "epoch 1" in out.stderr and "test: auc" in out.stderr


def test_train_app_store_reports_bayes_auc(capsys, monkeypatch):
    small = datasets.make_app_store(n_train=4000, n_test=2000, n_users=500, n_apps=30, n_niche=10, seed=0)
    monkeypatch.setattr(runs, "make_app_store", lambda seed=0: small)  # the default store takes seconds to draw
    # adam: on 16 steps of 4,000 rows the paper's FTRL (λ₁ = 0.5) keeps every wide weight at 0 (see make_optimizer)
    code, out, _ = run_here(capsys, "train", "--data", "app_store", "--model", "wide", "--epochs", "1",
                            "--optimizer", "adam", "--json")
    assert code == 0
    result = json.loads(out.strip().splitlines()[-1])
    assert result["bayes_auc"] > result["auc"] > 0.5
    assert {"auc_seen", "auc_unseen", "auc_none", "bayes_auc_seen"} <= set(result)


def adult_rows(tmp_path, n=5):
    import gzip
    with gzip.open(ROOT / "data" / "adult.test.csv.gz", "rt") as f:
        lines = [next(f) for _ in range(n + 1)]
    path = tmp_path / "rows.csv"
    path.write_text("".join(lines))
    return path


def test_predict_and_explain(saved_model, tmp_path, capsys):
    model, _, _ = saved_model
    rows = adult_rows(tmp_path)
    out_file = tmp_path / "p.csv"
    assert run_here(capsys, "predict", "--model", str(model), "--csv", str(rows), "--out", str(out_file))[0] == 0
    lines = out_file.read_text().splitlines()
    assert lines[0] == "probability" and len(lines) == 6
    assert all(0 < float(x) < 1 for x in lines[1:])
    code, stdout, stderr = run_here(capsys, "explain", "--model", str(model), "--csv", str(rows), "--row", "2")
    assert code == 0, stderr
    assert "education=" in stdout and " × " in stdout and "= logit" in stdout
    total = 0.0
    for line in stdout.splitlines()[:-1]:
        total += float(line.split()[-1])
    logit = float(stdout.splitlines()[-1].split()[2])
    assert total == pytest.approx(logit, abs=5e-4 * len(stdout.splitlines()))


@pytest.mark.parametrize("args, message", [
    (["train", "--epochs", "0"], "positive integer"),
    (["train", "--epochs", "ten"], "positive integer"),
    (["train", "--hidden", "100,x"], "comma-separated"),
    (["train", "--lr", "-1"], "positive number"),
    (["train", "--dropout", "1"], "probability"),
    (["train", "--l2", "-0.1"], "number >= 0"),
    (["train", "--id-dropout", "1.5"], "probability"),
    (["train", "--id-dropout", ":0.1"], "COLUMN:RATE"),
    (["train", "--id-dropout", "user_id:x"], "probability"),
    (["train", "--model", "forest"], "invalid choice"),
    (["train", "--data", "mnist"], "invalid choice"),
    (["train", "--optimizer", "rmsprop"], "invalid choice"),
    (["predict", "--csv", "x.csv"], "required"),
    (["explain", "--model", "m.npz", "--csv", "x.csv", "--row", "-1"], "non-negative integer"),
    ([], "required"),
])
def test_bad_arguments_give_usage_and_nonzero_exit(capsys, args, message):
    code, _, stderr = run_here(capsys, *args)
    assert code != 0
    assert "usage:" in stderr and message in stderr


def test_a_bad_argument_in_a_new_process_gives_usage_not_a_traceback():
    out = run("train", "--epochs", "0")
    assert out.returncode == 2
    assert "usage:" in out.stderr and "positive integer" in out.stderr and "Traceback" not in out.stderr


def test_bad_files_give_an_error_not_a_traceback(saved_model, tmp_path, capsys):
    model, _, _ = saved_model
    code, _, stderr = run_here(capsys, "predict", "--model", str(tmp_path / "none.npz"), "--csv", "x.csv")
    assert code == 1 and "no such model file" in stderr
    rows = adult_rows(tmp_path, n=2)
    code, _, stderr = run_here(capsys, "explain", "--model", str(model), "--csv", str(rows), "--row", "5")
    assert code == 1 and "row must lie in [0, 2)" in stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("age,workclass\n39,State-gov\n")
    code, _, stderr = run_here(capsys, "predict", "--model", str(model), "--csv", str(bad))
    assert code == 1 and "unknown column" in stderr


# -- every training option reaches the model or the optimizer ----------------------------------------------
#
# These runs train on the first rows of Adult (the loader is replaced by a cut of it), so that each run takes
# a fraction of a second; everything from the parsed arguments to the saved file is the real code.

@pytest.fixture(scope="module")
def small_adult():
    cut = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        columns, labels = datasets.load_adult(split)
        cut[split] = ({k: v[:n] for k, v in columns.items()}, labels[:n])
    return cut


@pytest.fixture
def train_cli(small_adult, monkeypatch, tmp_path, capsys):
    """``train_cli(*options)`` runs ``train --data adult --epochs 1 --hidden 4 *options --save …`` on the cut
    of Adult and returns (model, spec, the optimizer objects that took steps, in order)."""
    monkeypatch.setattr(runs, "load_adult", lambda split="train", data_dir=None: small_adult[split])
    stepped = []
    real_step = Optimizer.step

    def step(self, params, grads):
        if not any(o is self for o in stepped):
            stepped.append(self)
        return real_step(self, params, grads)

    monkeypatch.setattr(Optimizer, "step", step)
    runs_done = []

    def train_cli(*options):
        path = tmp_path / f"run{len(runs_done)}.npz"
        stepped.clear()
        code, _, stderr = run_here(capsys, "train", "--data", "adult", "--epochs", "1", "--hidden", "4", *options,
                                   "--save", str(path))
        assert code == 0, stderr
        runs_done.append(path)
        model, spec, _ = load_model(path)
        return model, spec, list(stepped)

    return train_cli


def test_seed_same_gives_identical_weights_and_another_gives_different(train_cli):
    first, _, _ = train_cli("--seed", "1")
    again, _, _ = train_cli("--seed", "1")
    other, _, _ = train_cli("--seed", "2")
    assert first.seed == 1 and other.seed == 2
    for name, value in first.params.items():
        np.testing.assert_array_equal(again.params[name], value, err_msg=name)
    assert not np.array_equal(first.params["deep.W1"], other.params["deep.W1"])


@pytest.mark.parametrize("batch_size, epochs", [(100, 1), (7, 1), (500, 3)])
def test_batch_size_and_epochs_set_the_number_of_steps(train_cli, batch_size, epochs):
    _, _, stepped = train_cli("--optimizer", "adam", "--batch-size", str(batch_size), "--epochs", str(epochs))
    [adam] = stepped
    assert adam.steps == epochs * math.ceil(N_TRAIN / batch_size)


def test_the_paper_optimizer_steps_both_parts_once_per_batch(train_cli):
    _, _, stepped = train_cli("--batch-size", "64", "--epochs", "2")
    assert [type(o) for o in stepped] == [FTRL, AdaGrad]
    assert [o.steps for o in stepped] == [2 * math.ceil(N_TRAIN / 64)] * 2


@pytest.mark.parametrize("options, expected", [
    ((), [(FTRL, 1.0), (AdaGrad, 0.3)]),
    (("--lr", "0.2"), [(FTRL, 1.0), (AdaGrad, 0.2)]),  # --lr is the deep part's rate; FTRL keeps its α
    (("--optimizer", "adam"), [(Adam, 0.001)]),
    (("--optimizer", "adam", "--lr", "0.02"), [(Adam, 0.02)]),
    (("--optimizer", "sgd", "--lr", "0.3"), [(SGD, 0.3)]),
    (("--optimizer", "adagrad"), [(AdaGrad, 0.05)]),
])
def test_optimizer_and_lr_reach_the_optimizer(train_cli, options, expected):
    _, _, stepped = train_cli(*options)
    assert [(type(o), o.lr) for o in stepped] == expected


def test_float32_trains_and_saves_single_precision(train_cli):
    model, _, _ = train_cli("--float32")
    assert model.dtype == np.float32
    assert {p.dtype for p in model.params.values()} == {np.dtype(np.float32)}
    default, _, _ = train_cli()
    assert {p.dtype for p in default.params.values()} == {np.dtype(np.float64)}


def test_hidden_sets_the_tower(train_cli):
    model, _, _ = train_cli("--hidden", "7,5")
    assert model.hidden == (7, 5)
    assert model.params["deep.W1"].shape[1] == 7 and model.params["deep.W2"].shape == (7, 5)
    assert model.params["deep.w_out"].shape == (5, 1)


def test_embedding_dim_sets_every_embedding(train_cli):
    model, spec, _ = train_cli("--embedding-dim", "3")
    assert model.fields and all(f.dim == 3 for f in model.fields)
    assert all(model.params[f"deep.embedding.{f.name}"].shape[1] == 3 for f in model.fields)
    assert set(spec.embeddings.values()) == {3}


@pytest.mark.parametrize("kind", ["wide", "deep", "wide_deep", "ensemble"])
def test_model_sets_the_kind(train_cli, kind):
    model, _, stepped = train_cli("--model", kind)
    if kind == "ensemble":
        assert isinstance(model, Ensemble)
        assert [m.mode for m in model.members.values()] == ["wide", "deep"]
    else:
        assert model.mode == kind
    assert stepped  # it was trained


def test_dropout_and_l2_reach_the_model(train_cli):
    model, _, _ = train_cli("--dropout", "0.25", "--l2", "0.001")
    assert model.dropout == 0.25 and model.l2 == 0.001
    default, _, _ = train_cli()
    assert default.dropout == 0.0 and default.l2 == 0.0 and default.id_dropout == 0.0


def test_id_dropout_reaches_the_model_as_one_rate_or_per_column(train_cli):
    model, _, _ = train_cli("--id-dropout", "0.05")
    assert model.id_dropout == 0.05
    model, _, _ = train_cli("--id-dropout", "occupation:0.1,education:0.02")
    assert model.id_dropout == {"occupation": 0.1, "education": 0.02}


def test_a_run_equals_the_documented_library_calls_with_the_same_settings(train_cli, small_adult):
    """Every option at once, against the README's library calls: any option lost on the way changes a bit."""
    model, spec, _ = train_cli("--model", "wide_deep", "--epochs", "2", "--batch-size", "50", "--seed", "3",
                               "--optimizer", "adam", "--lr", "0.003", "--hidden", "6,3", "--embedding-dim", "2",
                               "--dropout", "0.1", "--l2", "0.0005", "--float32")
    columns, labels = small_adult["train"]
    expected_spec = datasets.adult_spec(2).fit(columns)
    expected = make_model("wide_deep", expected_spec, hidden=(6, 3), seed=3, dtype=np.float32, dropout=0.1,
                          l2=0.0005)
    train(expected, expected_spec.transform(columns, labels), "adam", epochs=2, batch_size=50, seed=3, lr=0.003)
    assert spec.to_dict() == expected_spec.to_dict()
    assert list(model.params) == list(expected.params)
    for name, value in expected.params.items():
        np.testing.assert_array_equal(model.params[name], value, err_msg=name)


# -- help, fractions, the spec command and the summary line, in this process ----------------------------------

def help_of(capsys, *args):
    code, out, _ = run_here(capsys, *args, "--help")
    assert code == 0
    return " ".join(out.split())  # argparse wraps lines to the terminal's width


def test_help_describes_the_commands_and_options(capsys):
    assert "train on a bundled data set or your own CSV and report test metrics" in help_of(capsys)
    train_help = help_of(capsys, "train")
    for text in ("--positive VALUE label value that counts as 1", "--threshold T label 1 where the value is >= T",
                 "--spec FILE feature spec file (.json or .toml; see `spec` to draft one)",
                 "--lr LR learning rate (default: the optimizer's)",
                 "--l2 L2 L2 penalty on the deep weights (default 0)"):
        assert text in train_help, text
    for command in ("predict", "explain", "spec"):
        assert "--csv FILE" in help_of(capsys, command), command
    assert "days of retraining (the last one's candidate is trained with a diverging learning rate)" in \
        help_of(capsys, "experiment")


def test_fractions_lie_strictly_between_0_and_1_and_none_means_no_hidden_layer(capsys):
    from wdnumpy.cli import hidden_widths
    for value in ("0", "1"):
        code, _, stderr = run_here(capsys, "train", "--validation", value)
        assert code == 2 and "expected a fraction strictly between 0 and 1" in stderr
    assert hidden_widths("none") == hidden_widths(" None ") == hidden_widths("") == ()


def test_spec_drafts_with_the_embedding_dim_and_exits_0(tmp_path, capsys):
    code, out, _ = run_here(capsys, "spec", "--csv", str(adult_rows(tmp_path, n=20)), "--label", "income_bracket",
                            "--embedding-dim", "5")
    assert code == 0
    draft = json.loads(out)
    assert draft["embeddings"] and set(draft["embeddings"].values()) == {5}


def test_train_reports_the_test_metrics_and_keeps_stdout_for_json(small_adult, monkeypatch, capsys):
    monkeypatch.setattr(runs, "load_adult", lambda split="train", data_dir=None: small_adult[split])
    code, out, stderr = run_here(capsys, "train", "--data", "adult", "--epochs", "1", "--hidden", "4")
    assert code == 0
    summary = [line for line in out.splitlines() if line.startswith("test: ")]
    assert len(summary) == 1 and all(f"{k} " in summary[0] for k in ("auc", "accuracy", "logloss"))
    code, out, stderr = run_here(capsys, "train", "--data", "adult", "--epochs", "1", "--hidden", "4", "--json")
    assert code == 0 and "epoch 1" in stderr
    (line,) = out.strip().splitlines()  # only the JSON result on standard output
    assert json.loads(line)["data"] == "adult"


class ClosedPipe:
    """Standard output after its reader went away (`... | head -1`)."""

    def write(self, text):
        raise BrokenPipeError

    def flush(self):
        raise BrokenPipeError


def test_a_reader_that_goes_away_is_not_an_error(tmp_path, monkeypatch):
    """`... | head -1`: writing to a closed pipe exits 0, and standard output then goes to the null device so
    that the interpreter's final flush stays quiet."""
    import os

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["spec", "--csv", str(adult_rows(tmp_path, n=3))]) == 0
    replaced = sys.stdout
    assert getattr(replaced, "name", None) == os.devnull
    replaced.close()


# -- promises found unpinned by mutmut survivors ---------------------------------------------------------------

@pytest.mark.parametrize("args, line", [
    (["train", "--data", "adult", "--csv", "x.csv"],
     "error: give --data (a bundled data set) or --csv (your own file), not both"),
    (["train", "--csv", "x.csv", "--spec", "s.json", "--label", "y", "--split", "random:0.2", "--test", "t.csv"],
     "error: give --split or --test, not both"),
])
def test_options_that_do_not_go_together_are_named_as_typed_and_exit_2(capsys, args, line):
    """README: an error in arguments exits 2 with one line that names the argument; options are named as the
    user types them (--split, not --SPLIT), before any file is read."""
    code, _, stderr = run_here(capsys, *args)
    assert code == 2 and "usage:" in stderr
    assert stderr.rstrip().endswith(line)


def test_explain_requires_model_as_a_usage_error(capsys):
    """README's synopsis `explain --model PATH --csv FILE --row N`: --model is required, so leaving it out is an
    argument error (exit 2, names --model), not a failure to read a model file."""
    code, _, stderr = run_here(capsys, "explain", "--csv", "x.csv", "--row", "0")
    assert code == 2 and "usage:" in stderr and "required: --model" in stderr


def test_help_describes_json_rows_and_out(capsys):
    """`--help` describes train's --json and spec's --rows, and names spec's --out a FILE like --csv."""
    assert "--json end with one JSON line of results (progress to stderr)" in help_of(capsys, "train")
    spec_help = help_of(capsys, "spec")
    assert "--rows ROWS rows sampled from the top of the file" in spec_help
    assert "--out FILE where to write it (default -, standard output)" in spec_help


def test_experiment_seed_reaches_the_ab_experiment(monkeypatch):
    """`experiment --seed N` seeds the whole experiment, the A/B table (Table 1) first; the stub stops the run
    there, so nothing is trained."""
    from wdnumpy import simulate

    class Stop(Exception):
        pass

    calls = []

    def ab_experiment(setup, seed=0, world=None):
        calls.append((setup.users, seed))
        raise Stop

    monkeypatch.setattr(simulate, "ab_experiment", ab_experiment)
    with pytest.raises(Stop):
        main(["experiment", "--users", "12", "--seed", "7"])
    assert calls == [(12, 7)]


# -- the wiring from options to the runs (the runs are stubbed: these check what reaches them) ------------------

class Called(Exception):
    """Raised by a stubbed run, so that nothing is trained."""


@pytest.fixture
def calls(monkeypatch):
    """Stub train_and_evaluate and train_csv as the command line sees them; record (name, args, kwargs)."""
    from wdnumpy import cli
    seen = []

    def stub(name):
        def run(*args, **kwargs):
            seen.append((name, args, kwargs))
            raise Called
        return run

    monkeypatch.setattr(cli, "train_and_evaluate", stub("train_and_evaluate"))
    monkeypatch.setattr(cli, "train_csv", stub("train_csv"))
    return seen


def test_train_defaults_are_the_documented_ones(calls):
    """README synopsis: adult without --data; --hidden 100,50, --embedding-dim 8, --seed 0; no early stopping."""
    with pytest.raises(Called):
        main(["train"])
    [(name, args, kwargs)] = calls
    assert name == "train_and_evaluate" and args == ("adult",)
    assert kwargs["hidden"] == (100, 50) and kwargs["embedding_dim"] == 8 and kwargs["seed"] == 0
    assert kwargs["validation"] is None and kwargs["patience"] is None


def test_validation_and_patience_reach_the_run_on_bundled_data_and_on_a_csv(calls):
    with pytest.raises(Called):
        main(["train", "--data", "adult", "--validation", "0.2", "--patience", "3"])
    with pytest.raises(Called):
        main(["train", "--csv", "x.csv", "--spec", "s.json", "--label", "y", "--validation", "0.1", "--patience", "2"])
    assert [(kw["validation"], kw["patience"]) for _, _, kw in calls] == [(0.2, 3), (0.1, 2)]


def test_a_csv_runs_label_positive_threshold_split_test_and_encoding_reach_train_csv(calls):
    from wdnumpy.splits import parse_split
    with pytest.raises(Called):
        main(["train", "--csv", "x.csv", "--spec", "s.json", "--label", "y", "--positive", ">50K",
              "--split", "random:0.3", "--encoding", "latin-1"])
    with pytest.raises(Called):
        main(["train", "--csv", "x.csv", "--spec", "s.json", "--label", "y", "--threshold", "0.5",
              "--test", "t.csv"])
    (_, first, _), (_, second, _) = calls
    assert first == ("x.csv", "s.json", "y", ">50K", None, parse_split("random:0.3"), None, "latin-1")
    assert second == ("x.csv", "s.json", "y", None, 0.5, None, "t.csv", "utf-8")


def test_a_csv_run_without_its_spec_or_label_names_the_missing_option(capsys):
    for args, missing in ((["--label", "y"], "--spec"), (["--spec", "s.json"], "--label")):
        code, _, stderr = run_here(capsys, "train", "--csv", "x.csv", *args)
        assert code == 2 and stderr.rstrip().endswith(f"error: --csv needs {missing}")


def test_the_saved_model_keeps_the_runs_results_as_metadata(train_cli, tmp_path):
    from wdnumpy.io import load_model as load
    train_cli("--seed", "3")
    _, _, metadata = load(tmp_path / "run0.npz")
    assert metadata["data"] == "adult" and metadata["epochs"] == 1 and 0 < metadata["auc"] <= 1


def test_the_test_summary_of_adult_has_no_bayes_part(small_adult, monkeypatch, capsys):
    monkeypatch.setattr(runs, "load_adult", lambda split="train", data_dir=None: small_adult[split])
    code, out, _ = run_here(capsys, "train", "--data", "adult", "--epochs", "1", "--hidden", "4")
    (summary,) = [line for line in out.splitlines() if line.startswith("test: ")]
    assert code == 0 and re.fullmatch(r"test: auc [0-9.]+, accuracy [0-9.]+, logloss [0-9.]+", summary)


def test_spec_checks_out_first_names_an_unknown_label_and_leaves_the_label_out_of_the_features(tmp_path, capsys):
    csv = adult_rows(tmp_path, n=20)
    code, _, stderr = run_here(capsys, "spec", "--csv", str(tmp_path / "missing.csv"),
                               "--out", str(tmp_path / "no" / "such" / "dir" / "spec.json"))
    assert code == 1 and "--out" in stderr and "missing.csv" not in stderr  # the output path is checked first
    code, _, stderr = run_here(capsys, "spec", "--csv", str(csv), "--label", "nope")
    assert code == 1 and "unknown label column 'nope'; the file has ['age', " in stderr
    code, out, _ = run_here(capsys, "spec", "--csv", str(csv), "--label", "income_bracket")
    draft = json.loads(out)
    assert "income_bracket" not in {c["name"] for c in draft["columns"]}


def test_an_os_error_is_one_line_naming_its_file(monkeypatch, capsys):
    """README: errors in files exit 1 with one line naming the file (here one the system refused)."""
    from wdnumpy import cli

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/data/locked.csv")

    monkeypatch.setattr(cli, "iter_csv", refuse)
    code, _, stderr = run_here(capsys, "spec", "--csv", "/data/locked.csv")
    assert code == 1 and stderr == "error: /data/locked.csv: Permission denied\n"


def test_an_os_error_without_a_file_is_its_own_message(monkeypatch, capsys):
    """An OSError that names no file (a full disk while writing) prints its message, not ': reason'."""
    from wdnumpy import cli

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli, "iter_csv", full)
    code, _, stderr = run_here(capsys, "spec", "--csv", "/data/big.csv")
    assert code == 1 and stderr == "error: [Errno 28] No space left on device\n"


def test_parsed_values_have_their_types(capsys):
    from wdnumpy.cli import build_parser
    from wdnumpy.splits import parse_split
    args = build_parser().parse_args(["train", "--split", "time:day:0.25"])
    assert args.split == parse_split("time:day:0.25")
    spec = build_parser().parse_args(["spec", "--csv", "x.csv"])
    assert spec.rows == 10_000 and spec.embedding_dim == 8
    experiment = build_parser().parse_args(["experiment", "--seed", "4"])
    assert experiment.seed == 4 and isinstance(experiment.seed, int)
    code, _, stderr = run_here(capsys, "experiment", "--seed", "-1")
    assert code == 2 and "--seed" in stderr


# -- the value parsers: what each option "Takes" in the README's reference, and the message for anything else ---

def rejects(parse, text):
    """The usage message ``parse`` gives for ``text`` (argparse shows it after the option's name)."""
    import argparse
    with pytest.raises(argparse.ArgumentTypeError) as error:
        parse(text)
    return str(error.value)


def test_integers_take_whole_numbers_from_their_lower_bound_and_name_the_bad_value():
    from wdnumpy.cli import non_negative_int, positive_int
    assert [positive_int(t) for t in ("1", "2", "256")] == [1, 2, 256]
    assert rejects(positive_int, "0") == "expected a positive integer, got 0"
    assert rejects(positive_int, "-3") == "expected a positive integer, got -3"
    assert rejects(positive_int, "ten") == "expected a positive integer, got 'ten'"
    assert rejects(positive_int, "1.5") == "expected a positive integer, got '1.5'"
    assert [non_negative_int(t) for t in ("0", "1", "17")] == [0, 1, 17]
    for text in ("-1", "x", "1.0", ""):
        assert rejects(non_negative_int, text) == f"expected a non-negative integer, got {text!r}"


@pytest.mark.parametrize("name, accepted, refused, wanted", [
    ("positive_float", {"1e-9": 1e-9, "0.5": 0.5, "3": 3.0}, ("0", "-1e-9", "-2"), "a finite positive number"),
    ("non_negative_float", {"0": 0.0, "0.5": 0.5, "2": 2.0}, ("-1e-9", "-1"), "a finite number >= 0"),
    ("probability", {"0": 0.0, "0.5": 0.5, "0.999": 0.999}, ("1", "1.5", "-0.001"), "a probability in [0, 1)"),
    ("finite_float", {"-2.5": -2.5, "0": 0.0, "1e300": 1e300}, (), "a finite number"),
])
def test_numbers_are_finite_and_in_their_range_else_the_message_names_the_range_and_the_text(
        name, accepted, refused, wanted):
    from wdnumpy import cli
    parse = getattr(cli, name)
    for text, value in accepted.items():
        assert parse(text) == value and isinstance(parse(text), float), text
    for text in refused + ("inf", "-inf", "nan", "x", ""):
        assert rejects(parse, text) == f"expected {wanted}, got {text!r}", text


def test_a_fraction_lies_strictly_between_0_and_1():
    from wdnumpy.cli import fraction
    assert [fraction(t) for t in ("0.001", "0.5", "0.999")] == [0.001, 0.5, 0.999]
    for text in ("0", "1", "-0.5", "1.5"):
        assert rejects(fraction, text) == f"expected a fraction strictly between 0 and 1, got {text!r}"
    assert rejects(fraction, "half") == "expected a finite number, got 'half'"


def test_id_dropout_takes_one_rate_or_rates_by_column():
    from wdnumpy.cli import rates_by_column
    assert rates_by_column("0") == 0.0 and rates_by_column("0.05") == 0.05
    assert rates_by_column("user_id:0.05") == {"user_id": 0.05}
    assert rates_by_column(" user_id : 0.05,item_id:0,x:0.5") == {"user_id": 0.05, "item_id": 0.0, "x": 0.5}
    assert rejects(rates_by_column, "1") == "expected a probability in [0, 1), got '1'"
    assert rejects(rates_by_column, "user_id:1") == "expected a probability in [0, 1), got '1'"
    for text in (":0.1", "user_id:0.1, :0.2", "user_id:0.1,"):
        assert rejects(rates_by_column, text) == f"expected RATE or COLUMN:RATE[,COLUMN:RATE], got {text!r}", text
    # a column name cannot hold ':' (as in --split time:COLUMN:F): the rate is what follows the first ':'
    assert rejects(rates_by_column, "a:b:0.1") == "expected a probability in [0, 1), got 'b:0.1'"


def test_split_takes_random_or_time_with_a_fraction_strictly_between_0_and_1():
    from wdnumpy.cli import split_spec
    from wdnumpy.splits import parse_split
    assert split_spec("random:0.2") == ("random", None, 0.2)
    assert split_spec("time:timestamp:0.25") == ("time", "timestamp", 0.25)
    for text in ("bogus:0.2", "random", "time:0.2", "random:x"):
        with pytest.raises(ValueError) as error:
            parse_split(text)
        assert rejects(split_spec, text) == str(error.value)  # parse_split's own message, not a stand-in
    for text in ("random:0", "random:1", "time:day:1.5", "random:-0.1"):
        assert rejects(split_spec, text) == \
            f"the split's fraction must lie strictly between 0 and 1, got {text!r}", text


def test_hidden_takes_positive_widths_or_none():
    from wdnumpy.cli import hidden_widths
    assert hidden_widths("100,50") == (100, 50) and hidden_widths("7") == (7,)
    assert hidden_widths("1,2,3") == (1, 2, 3)
    assert hidden_widths("none") == hidden_widths("NONE") == hidden_widths(" None ") == hidden_widths("") == ()
    for text in ("100,0", "100,x", "100;50", "-5", "nothing"):
        assert rejects(hidden_widths, text) == \
            f"expected comma-separated positive widths such as 100,50, got {text!r}", text


def test_positive_and_threshold_exclude_each_other(capsys):
    code, _, stderr = run_here(capsys, "train", "--csv", "x.csv", "--spec", "s.json", "--label", "y",
                               "--positive", "1", "--threshold", "0.5")
    assert code == 2 and "argument --threshold: not allowed with argument --positive" in stderr


# -- train: every option reaches the run, and what it prints (the runs are stubbed) --------------------------

ALL_BUNDLED = ["--model", "deep", "--epochs", "3", "--batch-size", "64", "--seed", "5", "--optimizer", "adam",
               "--hidden", "9,4", "--lr", "0.02", "--dropout", "0.3", "--l2", "0.01", "--id-dropout",
               "a:0.1", "--float32", "--validation", "0.25", "--patience", "2"]
THE_SAME = dict(model="deep", epochs=3, batch_size=64, seed=5, optimizer="adam", hidden=(9, 4), lr=0.02,
                dtype=np.float32, dropout=0.3, l2=0.01, id_dropout={"a": 0.1}, validation=0.25, patience=2)
DEFAULTS = dict(model="wide_deep", epochs=10, batch_size=256, seed=0, optimizer="paper", hidden=(100, 50),
                lr=None, dtype=np.float64, dropout=0.0, l2=0.0, id_dropout=0.0, validation=None, patience=None)


def without_log(kwargs):
    return {k: v for k, v in kwargs.items() if k != "log"}


def test_every_training_option_reaches_the_run_of_bundled_data(calls):
    with pytest.raises(Called):
        main(["train", "--data", "app_store", "--embedding-dim", "3", *ALL_BUNDLED])
    with pytest.raises(Called):
        main(["train"])
    (name, args, kwargs), (_, default_args, default_kwargs) = calls
    assert name == "train_and_evaluate" and args == ("app_store",)
    assert without_log(kwargs) == dict(THE_SAME, embedding_dim=3)
    assert default_args == ("adult",) and without_log(default_kwargs) == dict(DEFAULTS, embedding_dim=8)
    assert default_kwargs["log"] is print  # progress on standard output without --json


def test_every_training_option_reaches_the_run_of_a_csv(calls):
    with pytest.raises(Called):
        main(["train", "--csv", "x.csv", "--spec", "s.json", "--label", "y", *ALL_BUNDLED])
    with pytest.raises(Called):
        main(["train", "--csv", "x.csv", "--spec", "s.json", "--label", "y"])
    (name, _, kwargs), (_, _, default_kwargs) = calls
    assert name == "train_csv"
    assert without_log(kwargs) == THE_SAME and without_log(default_kwargs) == DEFAULTS


def test_with_json_progress_goes_to_stderr(calls, capsys):
    with pytest.raises(Called):
        main(["train", "--json"])
    [(_, _, kwargs)] = calls
    capsys.readouterr()
    kwargs["log"]("epoch 1  loss 0.5")
    out = capsys.readouterr()
    assert out.out == "" and out.err == "epoch 1  loss 0.5\n"


@pytest.mark.parametrize("option, value", [("spec", "s.json"), ("label", "y"), ("positive", "1"),
                                           ("threshold", "0.5"), ("split", "random:0.2"), ("test", "t.csv")])
def test_an_option_of_own_data_without_csv_is_named_as_typed(capsys, calls, option, value):
    code, _, stderr = run_here(capsys, "train", f"--{option}", value)
    assert code == 2 and not calls and "usage:" in stderr
    assert stderr.rstrip().endswith(f"error: --{option} needs --csv (it describes your own data, not --data)")


def test_save_is_checked_before_any_training_and_named(calls, tmp_path, capsys):
    target = tmp_path / "no" / "such" / "m.npz"
    code, _, stderr = run_here(capsys, "train", "--save", str(target))
    assert code == 1 and not calls
    assert stderr == f"error: --save {target}: the directory {target.parent} does not exist\n"


@pytest.fixture
def finished_runs(monkeypatch):
    """Stub the runs to return ``result`` (set it in the list) at once, and save_model to record its calls."""
    from wdnumpy import cli
    state = {"result": {}, "saved": [], "model": object(), "spec": object()}

    def run(*args, **kwargs):
        kwargs["log"]("epoch 1")
        return state["model"], state["spec"], dict(state["result"])

    monkeypatch.setattr(cli, "train_and_evaluate", run)
    monkeypatch.setattr(cli, "train_csv", run)
    monkeypatch.setattr(cli, "save_model", lambda *args, **kwargs: state["saved"].append((args, kwargs)))
    return state


def test_train_prints_the_test_metrics_with_four_decimals(finished_runs, capsys):
    finished_runs["result"] = {"data": "app_store", "auc": 0.912345, "accuracy": 0.85, "logloss": 0.3,
                               "bayes_auc": 0.95}
    assert run_here(capsys, "train")[1:] == (
        "epoch 1\ntest: auc 0.9123, accuracy 0.8500, logloss 0.3000, Bayes-optimal AUC 0.9500\n", "")
    finished_runs["result"] = {"auc": 0.5}  # only the metrics the run reported
    assert run_here(capsys, "train") == (0, "epoch 1\ntest: auc 0.5000\n", "")


def test_train_without_test_rows_says_how_to_get_them(finished_runs, capsys):
    finished_runs["result"] = {"data": "x.csv", "epochs": 1}
    code, out, _ = run_here(capsys, "train", "--csv", "x.csv", "--spec", "s.json", "--label", "y")
    assert code == 0 and out == "epoch 1\nno test rows (give --split or --test to score the model)\n"


def test_train_saves_the_model_its_spec_and_results_then_says_where(finished_runs, tmp_path, capsys):
    finished_runs["result"] = result = {"data": "adult", "auc": 0.75}
    path = str(tmp_path / "m.npz")
    code, out, err = run_here(capsys, "train", "--save", path, "--json")
    assert code == 0
    assert finished_runs["saved"] == [((path, finished_runs["model"], finished_runs["spec"]), {"metadata": result})]
    assert err == f"epoch 1\nsaved to {path}\ntest: auc 0.7500\n"
    assert out == json.dumps(result) + "\n"  # standard output holds only the JSON line


# -- spec, predict, explain: their output and every option reaching it -------------------------------------

def tiny_csv(path, encoding="utf-8", colors=("red", "blue", "red", "grün")):
    text = "color,size,y\n" + "".join(f"{c},{s},{i % 2}\n" for i, (c, s) in enumerate(zip(colors, "1234")))
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def tiny_model(tmp_path):
    """A saved W&D model on the tiny CSV's columns, with random weights (so that rows score differently)."""
    from wdnumpy.csvfiles import read_csv
    from wdnumpy.features import FeatureSpec
    from wdnumpy.io import save_model
    from wdnumpy.specfiles import draft_spec
    columns = read_csv(tiny_csv(tmp_path / "fit.csv"))
    spec = FeatureSpec.from_dict(draft_spec(columns, "y", 2)).fit(columns)
    model = make_model("wide_deep", spec, hidden=(3,), seed=0)
    rng = np.random.default_rng(0)
    for value in model.params.values():
        value[...] = rng.normal(size=value.shape)
    path = tmp_path / "tiny.npz"
    save_model(path, model, spec)
    return path, model, spec


def test_spec_writes_the_librarys_draft_as_indented_json(tmp_path, capsys):
    """The draft is the library's draft_spec of the sample, one value a line (indent 1) to edit by hand,
    ending in a newline; --out FILE writes the same text."""
    from wdnumpy.csvfiles import read_csv
    from wdnumpy.specfiles import draft_spec
    csv = tiny_csv(tmp_path / "t.csv")
    code, out, _ = run_here(capsys, "spec", "--csv", str(csv), "--label", "y", "--embedding-dim", "3")
    assert code == 0
    assert out == json.dumps(draft_spec(read_csv(csv), "y", 3), indent=1) + "\n"
    assert out.startswith('{\n "columns": [\n  {\n')
    target = tmp_path / "spec.json"
    assert run_here(capsys, "spec", "--csv", str(csv), "--label", "y", "--embedding-dim", "3", "--out",
                    str(target)) == (0, "", "")
    assert target.read_text(encoding="utf-8") == out


def test_spec_samples_rows_from_the_top_and_reads_the_encoding(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    csv.write_text("x\n1\n2\nabc\n")
    kinds = {}
    for rows in ("2", "3"):
        code, out, _ = run_here(capsys, "spec", "--csv", str(csv), "--rows", rows)
        assert code == 0
        kinds[rows] = json.loads(out)["columns"][0]["kind"]
    assert kinds == {"2": "numeric", "3": "categorical"}  # "abc" is the third row
    latin = tiny_csv(tmp_path / "latin.csv", encoding="latin-1")
    code, _, stderr = run_here(capsys, "spec", "--csv", str(latin))
    assert code == 1 and stderr.startswith("error: ")
    code, out, _ = run_here(capsys, "spec", "--csv", str(latin), "--encoding", "latin-1")
    assert code == 0 and json.loads(out)["columns"][0]["name"] == "color"


def test_predict_writes_a_probability_column_with_six_decimals(tiny_model, tmp_path, capsys):
    from wdnumpy.csvfiles import read_csv
    path, model, spec = tiny_model
    csv = tiny_csv(tmp_path / "rows.csv")
    expected = model.predict_proba(spec.transform(read_csv(csv)))
    code, out, _ = run_here(capsys, "predict", "--model", str(path), "--csv", str(csv))
    assert code == 0
    lines = out.split("\n")
    assert lines[0] == "probability" and lines[-1] == "" and len(lines) == 2 + len(expected)
    assert all(re.fullmatch(r"0\.\d{6}", line) for line in lines[1:-1])
    np.testing.assert_allclose([float(x) for x in lines[1:-1]], expected, atol=5e-7)
    assert len(set(lines[1:-1])) > 1
    target = tmp_path / "p.csv"
    assert run_here(capsys, "predict", "--model", str(path), "--csv", str(csv), "--out", str(target)) == (0, "", "")
    assert target.read_text() == out


def test_predict_and_explain_read_the_encoding(tiny_model, tmp_path, capsys):
    path, _, _ = tiny_model
    latin = tiny_csv(tmp_path / "latin.csv", encoding="latin-1")
    for command in (["predict"], ["explain", "--row", "3"]):
        code, _, stderr = run_here(capsys, *command, "--model", str(path), "--csv", str(latin))
        assert code == 1 and stderr.startswith("error: ") and "Traceback" not in stderr
        code, out, _ = run_here(capsys, *command, "--model", str(path), "--csv", str(latin), "--encoding", "latin-1")
        assert code == 0 and out


def test_explain_prints_the_librarys_explanation_of_the_row(tiny_model, tmp_path, capsys):
    from wdnumpy.csvfiles import read_csv
    from wdnumpy.explain import explain
    path, model, spec = tiny_model
    csv = tiny_csv(tmp_path / "rows.csv")
    for row in (0, 3):
        code, out, _ = run_here(capsys, "explain", "--model", str(path), "--csv", str(csv), "--row", str(row))
        assert code == 0 and out == f"{explain(model, spec, read_csv(csv), row)}\n"
    assert "color=grün" in out


def test_a_model_saved_without_its_spec_cannot_read_rows(tiny_model, tmp_path, capsys):
    from wdnumpy.io import save_model
    _, model, _ = tiny_model
    bare = tmp_path / "bare.npz"
    save_model(bare, model)
    csv = tiny_csv(tmp_path / "rows.csv")
    for command in (["predict"], ["explain", "--row", "0"]):
        code, out, stderr = run_here(capsys, *command, "--model", str(bare), "--csv", str(csv))
        assert code == 1 and out == ""
        assert stderr == f"error: {bare}: the model was saved without a feature spec, so raw CSV rows cannot " \
                         "be read\n"


def test_predict_checks_out_before_reading_the_model(tmp_path, capsys):
    target = tmp_path / "no" / "p.csv"
    code, _, stderr = run_here(capsys, "predict", "--model", str(tmp_path / "none.npz"), "--csv", "x.csv",
                               "--out", str(target))
    assert code == 1 and stderr == f"error: --out {target}: the directory {target.parent} does not exist\n"


def test_write_output_names_out_when_the_file_cannot_be_written(tmp_path, capsys):
    """write_output: "-" is standard output, a path a file; a path that became unusable after the check
    (here: never checked) is named as --out."""
    from wdnumpy.cli import write_output
    write_output("-", "a\nb\n")
    assert capsys.readouterr().out == "a\nb\n"
    write_output(str(tmp_path / "o.txt"), "ü\n")
    assert (tmp_path / "o.txt").read_bytes() == "ü\n".encode("utf-8")
    with pytest.raises(ValueError, match=r"^--out .*: is a directory; give a file name$"):
        write_output(str(tmp_path), "x")


def test_the_null_device_that_replaces_a_closed_pipe_takes_writes(tmp_path, monkeypatch):
    """After a reader went away, standard output is the null device opened for writing: late output (the
    interpreter's final flush, a library's print) is swallowed, not an error."""
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["spec", "--csv", str(adult_rows(tmp_path, n=3))]) == 0
    replaced = sys.stdout
    try:
        assert replaced.write("late output\n") == len("late output\n")
        replaced.flush()
    finally:
        replaced.close()


# -- experiment: what reaches the paper's experiment and what it prints (the experiment is stubbed) ----------

@pytest.fixture
def stub_experiment(monkeypatch):
    """Stub the A/B experiment, the daily retraining, the request and the latency table (and their
    formatting), recording each call; the experiment itself is pinned in test_simulate, test_retraining and
    test_serving."""
    from wdnumpy import retraining, serving, simulate
    seen = {}
    world, spec, model = object(), object(), object()
    ab = {"table": {"wide": {"auc": 0.75, "installs_per_user": (1.0, 0.9, 1.1)}}, "world": world,
          "models": {"wide": object(), "wide_deep": model}, "spec": spec}
    daily = {"days": [{"day": 1, "gate": "promoted", "auc": np.float32(0.5)}]}
    latencies = [{"batch": 1000, "threads": 1, "p50_ms": 1.5}]
    columns = {"app": ["a"]}

    def record(name, value):
        def call(*args, **kwargs):
            seen[name] = (args, kwargs)
            return value
        return call

    monkeypatch.setattr(simulate, "ab_experiment", record("ab", ab))
    monkeypatch.setattr(simulate, "format_ab_table", lambda table: "AB TABLE" if table is ab["table"] else "?")
    monkeypatch.setattr(retraining, "daily_retraining", record("daily", daily))
    monkeypatch.setattr(retraining, "format_daily_table", lambda days: "DAILY TABLE" if days is daily["days"] else "?")
    monkeypatch.setattr(serving, "request_columns", record("request", columns))
    monkeypatch.setattr(serving, "latency_table", record("latency", latencies))
    monkeypatch.setattr(serving, "format_latency_table",
                        lambda rows: "LATENCY TABLE" if rows is latencies else "?")
    return seen, dict(ab=ab, daily=daily, world=world, spec=spec, model=model, columns=columns,
                      latencies=latencies)


EXPERIMENT_TABLES = (
    "A/B experiment (Table 1): 12,345 users, 5 queries each, top 4 of 100 candidates; 95% intervals by the "
    "normal approximation over users\nAB TABLE\n"
    "\nDaily retraining (§4.2), 3 epochs a day from scratch (s) and warm-started (w); steps to reach the lowest "
    "held-out log loss both reach\nDAILY TABLE\n"
    "\nServing one request of 1,000 candidates (Table 2)\nLATENCY TABLE\n")


def test_experiment_options_reach_every_part_of_it(stub_experiment, capsys):
    seen, made = stub_experiment
    assert run_here(capsys, "experiment", "--days", "4", "--users", "12345", "--seed", "7", "--requests", "9") \
        == (0, EXPERIMENT_TABLES, "")
    (setup, seed), kwargs = seen["ab"]
    assert setup.users == 12_345 and seed == 7 and kwargs == {}
    args, kwargs = seen["daily"]
    assert args == (setup, 4, 7) and kwargs == {"start": made["ab"], "bad_day": 4}  # the last day's is bad
    assert seen["request"] == ((made["world"],), {"user": 0, "n": 1000, "seed": 7})  # one seeded request
    assert seen["latency"] == ((made["model"], made["spec"], made["columns"]), {"requests": 9})


def test_experiment_defaults(stub_experiment, capsys):
    seen, _ = stub_experiment
    code, out, _ = run_here(capsys, "experiment")
    assert code == 0 and out.startswith("A/B experiment (Table 1): 5,000 users,")
    (setup, seed), _ = seen["ab"]
    assert (setup.users, seed) == (5000, 0)
    assert seen["daily"][0][1:] == (3, 0) and seen["daily"][1]["bad_day"] == 3
    assert seen["request"][1]["seed"] == 0 and seen["latency"][1] == {"requests": 200}


def test_experiment_json_puts_the_tables_on_stderr_and_one_json_line_on_stdout(stub_experiment, capsys):
    import os
    code, out, err = run_here(capsys, "experiment", "--users", "12345", "--json")
    assert code == 0 and err == EXPERIMENT_TABLES
    assert out.count("\n") == 1 and json.loads(out) == {
        "ab": {"wide": {"auc": 0.75, "installs_per_user": [1.0, 0.9, 1.1]}},  # intervals as lists
        "daily": [{"day": 1, "gate": "promoted", "auc": 0.5}],  # NumPy numbers as plain numbers
        "serving": [{"batch": 1000, "threads": 1, "p50_ms": 1.5}],
        "cpu_count": os.cpu_count()}
