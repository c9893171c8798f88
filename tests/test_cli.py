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


def test_a_reader_that_goes_away_is_not_an_error(tmp_path, monkeypatch):
    """`... | head -1`: writing to a closed pipe exits 0, and standard output then goes to the null device so
    that the interpreter's final flush stays quiet."""
    import os

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError

        def flush(self):
            raise BrokenPipeError

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
