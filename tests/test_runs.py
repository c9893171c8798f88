"""runs.py, in this process (the command line's tests run it in a new process, which a mutation tool does not
see): train_and_evaluate's documented defaults and result, train_csv's split, log, dtype, early stopping and
result. Everything trains on a few hundred rows for one epoch."""
import gzip
from pathlib import Path

import numpy as np
import pytest

from wdnumpy import datasets, runs
from wdnumpy.features import Categorical, FeatureSpec, Numeric
from wdnumpy.metrics import evaluate
from wdnumpy.splits import split
from wdnumpy.train import make_model, train

ROOT = Path(__file__).resolve().parent.parent
N_ROWS = 300


@pytest.fixture(scope="module")
def adult_dir(tmp_path_factory):
    """The first rows of each Adult file, in a data directory of their own (loading them takes milliseconds)."""
    folder = tmp_path_factory.mktemp("adult")
    for part in ("train", "test"):
        with gzip.open(ROOT / "data" / f"adult.{part}.csv.gz", "rt") as f:
            lines = [next(f) for _ in range(N_ROWS + 1)]
        with gzip.open(folder / f"adult.{part}.csv.gz", "wt") as f:
            f.write("".join(lines))
    return folder


@pytest.fixture
def small_adult(adult_dir, monkeypatch):
    monkeypatch.setattr(runs, "load_adult", lambda split="train", data_dir=None: datasets.load_adult(split, adult_dir))
    return adult_dir


def test_train_and_evaluate_defaults_are_the_documented_ones(small_adult):
    """data adult, seed 0, no dropout, no l2: the defaults of the signature give the same model as spelling them."""
    model, _, result = runs.train_and_evaluate(epochs=1, hidden=(4,), batch_size=64)
    spelled, _, spelled_result = runs.train_and_evaluate("adult", "wide_deep", epochs=1, batch_size=64, seed=0,
                                                         optimizer="paper", hidden=(4,), embedding_dim=8,
                                                         dropout=0.0, l2=0.0, id_dropout=0.0)
    assert result["data"] == "adult" and result["seed"] == 0
    for name in model.params:
        np.testing.assert_array_equal(model.params[name], spelled.params[name], err_msg=name)
    assert model.dropout == 0 and model.l2 == 0
    assert result["auc"] == spelled_result["auc"]


def test_train_and_evaluate_reports_the_documented_result(small_adult):
    model, _, result = runs.train_and_evaluate(epochs=1, hidden=(4,), batch_size=64, optimizer="adam", seed=3)
    for key in ("data", "model", "auc", "accuracy", "logloss", "seconds_per_epoch", "epochs", "params"):
        assert key in result, key
    assert result["params"] == model.n_params and result["optimizer"] == "adam" and result["seed"] == 3
    assert result["model"] == "wide_deep" and result["epochs"] == 1


def test_train_and_evaluate_uses_cross_buckets(small_adult):
    _, spec, _ = runs.train_and_evaluate(epochs=1, hidden=(4,), cross_buckets=7, model="wide")
    crosses = [c for c in spec.columns.values() if c.kind == "crossed"]
    assert crosses and all(c.buckets == 7 for c in crosses)


def test_train_and_evaluate_sends_every_line_to_log(small_adult, capsys):
    lines = []
    runs.train_and_evaluate(epochs=1, hidden=(4,), batch_size=64, log=lines.append)
    assert capsys.readouterr().out == ""
    assert any("training rows" in line for line in lines) and any("epoch 1" in line for line in lines)


# -- train_csv on a small file --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ratings_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 200
    color = rng.choice(["red", "green", "blue"], n)
    x = rng.standard_normal(n)
    label = (rng.random(n) < np.where(color == "red", 0.8, 0.2)).astype(int)
    path = tmp_path_factory.mktemp("csv") / "ratings.csv"
    path.write_text("color,x,timestamp,liked\n" + "".join(f"{c},{v:.4f},{i},{y}\n" for i, (c, v, y)
                                                          in enumerate(zip(color, x, label))))
    return path


def small_spec():
    return FeatureSpec([Categorical("color"), Numeric("x")], wide=["color"], embeddings={"color": 2},
                       continuous=["x"])


def test_train_csv_result_and_split_with_the_seed(ratings_csv):
    model, spec, result = runs.train_csv(ratings_csv, small_spec(), label="liked", split_by=("random", None, 0.25),
                                         epochs=1, hidden=(4,), batch_size=32, seed=5, optimizer="adam")
    assert result["data"] == str(ratings_csv) and result["optimizer"] == "adam" and result["seed"] == 5
    assert result["train_rows"] == 150 and result["test_rows"] == 50 and result["params"] == model.n_params
    # the test rows are split(..., "random", fraction 0.25, seed 5)'s, scored by the documented metrics
    from wdnumpy.csvfiles import load_csv
    columns, labels = load_csv(ratings_csv, "liked")
    _, _, test_columns, test_labels = split(columns, labels, "random", None, 0.25, 5)
    expected = evaluate(test_labels, model.predict_proba(spec.transform(test_columns)))
    for key, value in expected.items():
        assert result[key] == value, key


def test_train_csv_time_split_keeps_the_latest_rows_for_testing(ratings_csv):
    model, spec, result = runs.train_csv(ratings_csv, small_spec(), label="liked",
                                         split_by=("time", "timestamp", 0.1), epochs=1, hidden=(4,))
    assert result["train_rows"] == 180 and result["test_rows"] == 20


def test_train_csv_dtype_log_and_early_stopping(ratings_csv, capsys):
    lines = []
    model, _, result = runs.train_csv(ratings_csv, small_spec(), label="liked", epochs=30, hidden=(4,),
                                      batch_size=32, dtype=np.float32, validation=0.3, patience=1, log=lines.append,
                                      optimizer="sgd", lr=1e-6)
    assert all(v.dtype == np.float32 for v in model.params.values())
    assert capsys.readouterr().out == "" and any("epoch 1" in line for line in lines)
    # a learning rate this small does not improve the validation AUC for long: patience 1 stops the run early
    assert result["epochs"] < 30 and result["best_epoch"]["wide_deep"] >= 1


def relabelled_halves(ratings_csv, folder, positive: str, negative: str):
    """The ratings CSV with its 0/1 labels written as ``positive``/``negative``, cut into a training
    file of its first 150 rows and a test file of the other 50: (train path, test path)."""
    header, *rows = ratings_csv.read_text().splitlines()
    rows = [row.rsplit(",", 1)[0] + "," + (positive if row.endswith(",1") else negative) for row in rows]
    train_path, test_path = folder / "train.csv", folder / "test.csv"
    train_path.write_text("\n".join([header] + rows[:150]) + "\n")
    test_path.write_text("\n".join([header] + rows[150:]) + "\n")
    return train_path, test_path


def test_train_csv_scores_a_test_file_labelled_by_positive_and_logs_its_rows(ratings_csv, tmp_path):
    """train_csv's test rows can be ``test_csv`` (read like ``csv``, with the same ``positive``), and the log says
    how many there are; found unpinned by mutmut survivors."""
    train_path, test_path = relabelled_halves(ratings_csv, tmp_path, "yes", "no")
    lines = []
    model, spec, result = runs.train_csv(train_path, small_spec(), label="liked", positive="yes", test_csv=test_path,
                                         epochs=1, hidden=(4,), batch_size=32, log=lines.append)
    assert result["train_rows"] == 150 and result["test_rows"] == 50
    from wdnumpy.csvfiles import load_csv
    test_columns, test_labels = load_csv(ratings_csv, "liked")
    test_columns = {k: v[150:] for k, v in test_columns.items()}
    expected = evaluate(test_labels[150:], model.predict_proba(spec.transform(test_columns)))
    for key, value in expected.items():
        assert result[key] == value, key
    assert any("150 training rows, 50 test rows" in line for line in lines)


def test_train_csv_same_seed_gives_identical_weights(ratings_csv):
    """The seed seeds the shuffling too (train's "the same seed gives bit-identical weights"): two runs with
    several batches an epoch end with the same weights."""
    def weights():
        model, _, _ = runs.train_csv(ratings_csv, small_spec(), label="liked", epochs=2, hidden=(4,), batch_size=16,
                                     seed=3, optimizer="adam")
        return model.params

    first, second = weights(), weights()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def test_train_csv_defaults_and_result_and_settings_reaching_the_model(ratings_csv, tmp_path):
    """The signature's defaults (10 epochs, no l2, wide_deep) and the model settings given (id_dropout) reach
    the model; ``threshold`` labels the training and the test file alike."""
    model, _, result = runs.train_csv(ratings_csv, small_spec(), label="liked", hidden=(2,), batch_size=200,
                                      optimizer="adam", id_dropout=0.25)
    assert result["model"] == "wide_deep" and result["epochs"] == 10 and model.l2 == 0.0
    assert model.id_dropout_rate(model.fields[0]) == 0.25
    train_path, test_path = relabelled_halves(ratings_csv, tmp_path, "7.5", "2.5")
    model, spec, result = runs.train_csv(train_path, small_spec(), label="liked", threshold=5.0, test_csv=test_path,
                                         epochs=1, hidden=(2,))
    from wdnumpy.csvfiles import load_csv
    columns, labels = load_csv(ratings_csv, "liked")
    assert result["test_rows"] == 50 and result["train_rows"] == 150
    expected = evaluate(labels[150:], model.predict_proba(spec.transform({k: v[150:] for k, v in columns.items()})))
    assert result["auc"] == expected["auc"]


# -- the app store: load_data's spec settings and the per-slice scores ----------------------------------------

@pytest.fixture
def small_store(monkeypatch):
    """runs' app store made small (1,000 rows each side, every test slice holding both labels)."""
    def make(seed=0):
        return datasets.make_app_store(n_train=1000, n_test=1000, n_users=100, n_apps=30, n_niche=10,
                                       held_out_fraction=0.5, seed=seed)
    monkeypatch.setattr(runs, "make_app_store", make)
    return make(0)


def test_load_data_gives_the_app_store_spec_the_embedding_width_and_cross_buckets(small_store):
    spec, train_columns, train_labels, test_columns, test_labels, store = runs.load_data("app_store", 3, 64)
    assert spec.to_dict() == datasets.app_store_spec(embedding_dim=3, cross_buckets=64).to_dict()
    assert spec.embeddings["installed"] == 3 and spec.columns["installed_x_impression"].buckets == 64
    np.testing.assert_array_equal(train_labels, small_store.train_labels)
    np.testing.assert_array_equal(test_labels, store.test_labels)
    assert train_columns.keys() == small_store.train.keys() and test_columns is store.test
    # the defaults: 8-wide embeddings and the spec's own number of buckets
    spec, *_ = runs.load_data("app_store")
    assert spec.embeddings["installed"] == 8 and spec.to_dict() == datasets.app_store_spec().to_dict()
    with pytest.raises(ValueError, match=r"^unknown data set 'census'; choose one of \('adult', 'app_store'\)$"):
        runs.load_data("census")


def test_train_and_evaluate_scores_each_app_store_slice_against_its_bayes_auc(small_store):
    """On the app store the result adds the Bayes-optimal AUC and, for each test slice (seen, unseen, none),
    the model's AUC on that slice's rows and the Bayes-optimal AUC there."""
    from wdnumpy.metrics import roc_auc
    model, spec, result = runs.train_and_evaluate("app_store", epochs=1, hidden=(4,), embedding_dim=2,
                                                  cross_buckets=64, batch_size=128, optimizer="adam")
    probability = model.predict_proba(spec.transform(small_store.test))
    labels = small_store.test_labels
    assert result["auc"] == roc_auc(labels, probability)
    assert result["bayes_auc"] == roc_auc(labels, small_store.test_prob)
    for part in ("seen", "unseen", "none"):
        rows = small_store.test_slice == part
        assert 0 < rows.sum() < len(rows)
        assert result[f"auc_{part}"] == roc_auc(labels[rows], probability[rows]), part
        assert result[f"bayes_auc_{part}"] == roc_auc(labels[rows], small_store.test_prob[rows]), part


def test_train_and_evaluate_stops_early_with_patience(small_adult):
    """validation and patience reach the training: a learning rate too small to improve the validation AUC
    stops a 30-epoch run after patience + 1 epochs."""
    lines = []
    runs.train_and_evaluate(epochs=30, hidden=(2,), batch_size=300, optimizer="sgd", lr=1e-9, validation=0.3,
                            patience=1, log=lines.append)
    epochs_run = [line for line in lines if line.lstrip().startswith("epoch")]
    assert 2 <= len(epochs_run) < 30, lines


# -- train_csv trains as it is told ------------------------------------------------------------------------------

def test_train_csv_trains_with_the_optimizer_epochs_batch_size_and_seed_given(ratings_csv):
    """train_csv is make_model + train on the fitted spec's batch: the same optimizer, epochs, batch size, seed
    and learning rate by hand give the same weights."""
    from wdnumpy.csvfiles import load_csv
    settings = dict(epochs=3, batch_size=50, seed=4, lr=0.05)
    model, spec, result = runs.train_csv(ratings_csv, small_spec(), label="liked", hidden=(3,), optimizer="sgd",
                                         **settings)
    assert result["epochs"] == 3 and result["optimizer"] == "sgd"
    columns, labels = load_csv(ratings_csv, "liked")
    by_hand_spec = small_spec().fit(columns)
    by_hand = make_model("wide_deep", by_hand_spec, hidden=(3,), seed=4)
    train(by_hand, by_hand_spec.transform(columns, labels), "sgd", **settings)
    for name, value in by_hand.params.items():
        np.testing.assert_array_equal(model.params[name], value, err_msg=name)


def test_train_csv_logs_no_test_rows_as_0(ratings_csv):
    lines = []
    model, _, result = runs.train_csv(ratings_csv, small_spec(), label="liked", epochs=1, hidden=(2,), log=lines.append)
    assert "test_rows" not in result and "auc" not in result
    assert lines[0] == f"wide_deep on {ratings_csv}: 200 training rows, 0 test rows, {model.n_params} parameters"


# -- the signatures' remaining defaults and settings (mutmut survivors showed them unpinned) ---------------------

def test_train_and_evaluate_trains_10_epochs_of_256_rows_by_default(small_adult):
    """train_and_evaluate's defaults: 10 epochs of batches of 256 rows (300 training rows: one batch of 256 and
    one of 44, not 257 and 43), the same weights as spelling them."""
    model, _, result = runs.train_and_evaluate(hidden=(2,), optimizer="adam")
    spelled, _, _ = runs.train_and_evaluate(hidden=(2,), optimizer="adam", epochs=10, batch_size=256)
    assert result["epochs"] == 10
    for name in model.params:
        np.testing.assert_array_equal(model.params[name], spelled.params[name], err_msg=name)


@pytest.fixture(scope="module")
def latin1_csvs(tmp_path_factory):
    """300 rows of a colour (with non-ASCII names), a number and a 0/1 label: a training file of 240 rows and a
    test file of 60 in Latin-1 (a test file read as UTF-8 fails on its first 'grün'), and all 300 in UTF-8."""
    rng = np.random.default_rng(1)
    color = rng.choice(["rot", "grün", "weiß"], 300)
    label = (rng.random(300) < np.where(color == "rot", 0.8, 0.3)).astype(int)
    header, rows = "color,x,liked\n", [f"{c},{v:.3f},{y}\n" for c, v, y in zip(color, rng.standard_normal(300), label)]
    folder = tmp_path_factory.mktemp("latin1")
    paths = folder / "train.csv", folder / "test.csv", folder / "all_utf8.csv"
    paths[0].write_text(header + "".join(rows[:240]), encoding="latin-1")
    paths[1].write_text(header + "".join(rows[240:]), encoding="latin-1")
    paths[2].write_text(header + "".join(rows), encoding="utf-8")
    return paths


def test_train_csv_defaults_are_seed_0_batches_of_256_and_the_paper_optimizer(latin1_csvs):
    """train_csv's defaults beyond those pinned above: seed 0, batches of 256 rows (of 300 rows: one batch of 256
    and one of 44, not 257 and 43), the paper optimizer: the same weights as make_model + train with them
    spelled."""
    from wdnumpy.csvfiles import load_csv
    path = latin1_csvs[2]
    model, spec, result = runs.train_csv(path, small_spec(), label="liked", epochs=2, hidden=(2,))
    assert result["optimizer"] == "paper" and result["seed"] == 0 and result["train_rows"] == 300
    columns, labels = load_csv(path, "liked")
    by_hand_spec = small_spec().fit(columns)
    by_hand = make_model("wide_deep", by_hand_spec, hidden=(2,), seed=0)
    train(by_hand, by_hand_spec.transform(columns, labels), "paper", epochs=2, batch_size=256, seed=0)
    for name, value in by_hand.params.items():
        np.testing.assert_array_equal(model.params[name], value, err_msg=name)


def test_train_csv_reads_the_test_file_in_the_encoding_given(latin1_csvs):
    """``encoding`` is how both the training file and ``test_csv`` are read."""
    from wdnumpy.csvfiles import load_csv
    train_path, test_path, _ = latin1_csvs
    model, spec, result = runs.train_csv(train_path, small_spec(), label="liked", test_csv=test_path,
                                         encoding="latin-1", epochs=1, hidden=(2,))
    assert result["train_rows"] == 240 and result["test_rows"] == 60
    test_columns, test_labels = load_csv(test_path, "liked", encoding="latin-1")
    assert "grün" in test_columns["color"]
    expected = evaluate(test_labels, model.predict_proba(spec.transform(test_columns)))
    assert result["auc"] == expected["auc"] and result["logloss"] == expected["logloss"]


def test_train_csv_takes_a_spec_file_as_well_as_a_feature_spec(ratings_csv, tmp_path):
    """``spec`` is "a spec file (or FeatureSpec)": a saved spec file trains the same model as the spec itself."""
    from wdnumpy.specfiles import save_spec
    path = save_spec(tmp_path / "spec.json", small_spec())
    settings = dict(label="liked", epochs=1, hidden=(2,), batch_size=64, optimizer="adam")
    from_file, file_spec, _ = runs.train_csv(ratings_csv, str(path), **settings)
    from_spec, fitted_spec, _ = runs.train_csv(ratings_csv, small_spec(), **settings)
    assert isinstance(file_spec, FeatureSpec) and file_spec.to_dict() == fitted_spec.to_dict()
    for name, value in from_spec.params.items():
        np.testing.assert_array_equal(from_file.params[name], value, err_msg=name)


def test_train_csv_trains_an_ensemble_and_reports_each_members_best_epoch(ratings_csv):
    """model="ensemble": train gives one history per member, and the result's best_epoch names each of them."""
    model, _, result = runs.train_csv(ratings_csv, small_spec(), label="liked", model="ensemble", epochs=2,
                                      hidden=(2,), optimizer="adam", validation=0.25)
    assert set(result["best_epoch"]) == set(model.members) and result["epochs"] == 2
    assert result["params"] == model.n_params


def test_train_csv_gives_the_model_its_dropout_and_l2(ratings_csv):
    """dropout and l2 reach the model train_csv builds (as id_dropout does, pinned above)."""
    model, _, _ = runs.train_csv(ratings_csv, small_spec(), label="liked", epochs=1, hidden=(2,), dropout=0.25,
                                 l2=0.5)
    assert model.dropout == 0.25 and model.l2 == 0.5


def test_train_csv_refuses_a_split_and_a_test_file_together(ratings_csv):
    """A split and a test file both name the test rows: train_csv refuses the pair, saying so."""
    with pytest.raises(ValueError, match="^give a split or a test file, not both$"):
        runs.train_csv(ratings_csv, small_spec(), label="liked", split_by=("random", None, 0.25),
                       test_csv=ratings_csv, epochs=1, hidden=(2,))
