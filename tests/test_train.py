"""Training loop, ensemble, warm start and explain on small real and generated data."""
import io
import math
import sys
import time
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import make_batch, make_model as small_model
from wdnumpy import Batch, EmbeddingField
from wdnumpy.datasets import app_store_spec, make_app_store
from wdnumpy.ensemble import Ensemble
from wdnumpy.explain import explain
from wdnumpy.losses import sigmoid
from wdnumpy.metrics import evaluate, roc_auc
from wdnumpy.model import WideDeep
from wdnumpy.optim import SGD, Adam
from wdnumpy.train import STEPS_PER_BLOCK, EarlyStopping, TrainingDiverged, make_model, train
from wdnumpy.warmstart import warm_start


@pytest.fixture(scope="module")
def store():
    data = make_app_store(n_train=6000, n_test=3000, n_users=800, n_apps=40, n_niche=30, seed=5)
    spec = app_store_spec(embedding_dim=4, cross_buckets=4096).fit(data.train)
    return data, spec, spec.transform(data.train, data.train_labels), spec.transform(data.test, data.test_labels)


def test_training_lowers_the_loss_and_learns(store):
    data, spec, train_batch, test_batch = store
    model = make_model("wide_deep", spec, hidden=(16,), seed=0)
    history = train(model, train_batch, "adam", epochs=4, batch_size=128, valid=test_batch, seed=0)
    losses = history.column("train_loss")
    assert losses[-1] < losses[0]
    assert len(history.epochs) == 4 and history.seconds_per_epoch > 0
    assert roc_auc(data.test_labels, model.predict_proba(test_batch)) > 0.6
    assert {"valid_auc", "valid_logloss", "valid_accuracy"} <= set(history.epochs[0])


def test_same_seed_gives_bit_identical_weights(store):
    _, spec, train_batch, _ = store
    runs = []
    for seed in (3, 3, 4):
        model = make_model("wide_deep", spec, hidden=(8,), seed=0)
        train(model, train_batch, "paper", epochs=2, batch_size=256, seed=seed)
        runs.append(model.params)
    for name in runs[0]:
        assert np.array_equal(runs[0][name], runs[1][name]), name
    assert not np.array_equal(runs[0]["deep.W1"], runs[2]["deep.W1"])  # another shuffling seed


def test_early_stopping_restores_the_best_epoch(store):
    _, spec, train_batch, test_batch = store
    model = make_model("deep", spec, hidden=(32,), seed=0)
    # a learning rate far too high makes validation loss worse after the first epochs
    history = train(model, train_batch, SGD(3.0, momentum=0.9), epochs=8, batch_size=64, valid=test_batch,
                    patience=2, metric="logloss")
    best = history.best_epoch
    assert len(history.epochs) < 8 or best == int(np.argmin(history.column("valid_logloss"))) + 1
    restored, _ = model.loss(test_batch, backward=False)
    assert restored == pytest.approx(history.epochs[best - 1]["valid_logloss"], rel=1e-6)


def test_ensemble_trains_members_on_their_own_losses(store):
    data, spec, train_batch, test_batch = store
    ensemble = make_model("ensemble", spec, hidden=(8,), seed=0, combine="sum")
    histories = train(ensemble, train_batch, "adam", epochs=2, batch_size=256, seed=0)
    assert set(histories) == {"wide", "deep"}
    # each member equals a model of its mode trained alone with the same seed and optimizer
    alone = WideDeep(**spec.model_kwargs(), hidden=(8,), mode="wide", seed=0)
    train(alone, train_batch, "adam", epochs=2, batch_size=256, seed=0)
    np.testing.assert_array_equal(alone.params["wide.w"], ensemble.members["wide"].params["wide.w"])
    parts = ensemble.member_logits(test_batch)
    np.testing.assert_allclose(ensemble.forward(test_batch), parts["wide"] + parts["deep"])
    averaged = Ensemble(ensemble.members["wide"], ensemble.members["deep"], combine="proba")
    p = (1 / (1 + np.exp(-parts["wide"])) + 1 / (1 + np.exp(-parts["deep"]))) / 2
    np.testing.assert_allclose(averaged.predict_proba(test_batch), p, rtol=1e-9)
    assert ensemble.n_params == sum(m.n_params for m in ensemble.members.values())
    with pytest.raises(ValueError, match="wide-only and a deep-only"):
        Ensemble(ensemble.members["deep"], ensemble.members["wide"])


def test_explain_terms_sum_to_the_logit(store):
    data, spec, train_batch, _ = store
    for kind in ("wide_deep", "wide", "deep", "ensemble"):
        model = make_model(kind, spec, hidden=(8,), seed=0)
        train(model, train_batch, "adam", epochs=1, batch_size=512)
        for row in (0, 7):
            e = explain(model, spec, data.test, row)
            assert e.total == pytest.approx(e.logit, abs=1e-9)
            one = spec.transform({k: v[row:row + 1] for k, v in data.test.items()})
            assert e.logit == pytest.approx(float(model.forward(one)[0]), abs=1e-12)
            if kind != "deep":
                n_installed = len(data.test["installed"][row].split("|"))
                crosses = [n for n, _ in e.wide if " × " in n]
                assert len(crosses) == n_installed  # installed=i × impression=j for each installed app
                assert all(n.startswith("installed=") and "impression=app" in n for n in crosses)
    assert "deep part logit" in str(e) and "P(Y=1)" in str(e)
    with pytest.raises(ValueError, match="row"):
        explain(model, spec, data.test, 10 ** 6)


def test_explain_shows_memorized_niche_pair(store):
    """A niche pair seen in training gets a large wide weight of the right sign."""
    data, spec, train_batch, _ = store
    model = make_model("wide", spec, seed=0)
    train(model, train_batch, Adam(0.05), epochs=6, batch_size=128)
    pairs = {(f"app{i}", f"app{j}"): effect for (i, j), effect in zip(data.niche_pairs.tolist(), data.niche_effects)}
    rows = np.flatnonzero(data.test_slice == "seen")
    agree = []
    for row in rows[:40]:
        for name, weight in explain(model, spec, data.test, row).wide:
            for part in name.split(" | "):
                if " × " in part:
                    a, b = part.split(" × ")
                    key = (a.removeprefix("installed="), b.removeprefix("impression="))
                    if key in pairs and abs(weight) > 0.5:
                        agree.append(np.sign(weight) == np.sign(pairs[key]))
    assert len(agree) >= 5 and np.mean(agree) > 0.8


def test_warm_start_copies_by_value_and_keeps_new_entries_fresh(store):
    data, spec, train_batch, _ = store
    old = make_model("wide_deep", spec, hidden=(8,), seed=0)
    train(old, train_batch, "adam", epochs=1, batch_size=512)
    # a new spec fitted on data where one impression value is renamed: that id must stay fresh
    renamed = dict(data.train)
    renamed["impression"] = np.where(data.train["impression"] == "app3", "app_new", data.train["impression"])
    new_spec = app_store_spec(embedding_dim=4, cross_buckets=4096).fit(renamed)
    new = make_model("wide_deep", new_spec, hidden=(8,), seed=99)
    fresh = new.params["deep.embedding.impression"].copy()
    report = warm_start(new, new_spec, old, spec)
    old_col, new_col = spec.columns["impression"], new_spec.columns["impression"]
    for value in ("app0", "app17"):
        i_new, i_old = new_col.vocabulary.index(value) + 1, old_col.vocabulary.index(value) + 1
        np.testing.assert_array_equal(new.params["deep.embedding.impression"][i_new],
                                      old.params["deep.embedding.impression"][i_old])
    i_fresh = new_col.vocabulary.index("app_new") + 1
    np.testing.assert_array_equal(new.params["deep.embedding.impression"][i_fresh], fresh[i_fresh])
    # the hashed cross block is copied whole
    block = slice(0, 4096)
    np.testing.assert_array_equal(new.params["wide.w"][block], old.params["wide.w"][block])
    assert report["deep.embedding.impression"] == len(new_col.vocabulary)  # all but app_new, plus id 0
    assert not np.array_equal(new.params["deep.W1"], old.params["deep.W1"])  # the MLP is not copied
    warm_start(new, new_spec, old, spec, include_mlp=True)
    np.testing.assert_array_equal(new.params["deep.W1"], old.params["deep.W1"])


def test_bad_training_arguments(store):
    _, spec, train_batch, test_batch = store
    model = make_model("wide", spec)
    with pytest.raises(ValueError, match="epochs"):
        train(model, train_batch, epochs=0)
    with pytest.raises(ValueError, match="validation set"):
        train(model, train_batch, patience=2)
    with pytest.raises(ValueError, match="metric"):
        train(model, train_batch, metric="f1")
    with pytest.raises(ValueError, match="model kind"):
        make_model("linear", spec)
    unlabelled = test_batch.take(np.arange(10))
    unlabelled.labels = None
    with pytest.raises(ValueError, match="labels"):
        train(model, unlabelled)


# -- the training loop on small synthetic data: what train() promises, step by step ------------------------

TOY_WIDE, TOY_VOCAB = 30, 12
def toy_fields():
    return (EmbeddingField("c", TOY_VOCAB, 3),)


def toy_batch(n, seed):
    """n rows: three binary wide features, one categorical id, two numbers; labels drawn from a fixed
    logistic model (the same for every seed), so that train and valid sets come from one distribution."""
    rng = np.random.default_rng(seed)
    rows, cols = np.repeat(np.arange(n), 3), rng.integers(0, TOY_WIDE, 3 * n)
    wide = sp.csr_matrix((np.ones(3 * n), (rows, cols)), shape=(n, TOY_WIDE))
    wide.sum_duplicates()
    wide.data[:] = 1.0
    ids, continuous = rng.integers(0, TOY_VOCAB, n), rng.standard_normal((n, 2))
    truth = np.random.default_rng(99)
    z = wide @ truth.standard_normal(TOY_WIDE) + truth.standard_normal(TOY_VOCAB)[ids] + continuous[:, 0]
    labels = (rng.random(n) < sigmoid(z)).astype(float)
    return Batch(wide=wide, categorical={"c": ids}, continuous=continuous, labels=labels)


def toy_model(mode="wide_deep", seed=0):
    return WideDeep(wide_dim=TOY_WIDE, fields=toy_fields(), n_continuous=2, hidden=(6,), mode=mode, seed=seed)


class RowSpy(WideDeep):
    """A wide-only model over one-hot row ids (wide_dim = N) that records which rows each call of
    ``loss`` saw, and the loss it returned."""

    def __init__(self, n):
        super().__init__(wide_dim=n, mode="wide")
        self.calls = []

    def loss(self, batch, *args, **kwargs):
        value, grads = super().loss(batch, *args, **kwargs)
        self.calls.append((batch.wide.indices.copy(), value))
        return value, grads


def one_hot_rows(n, seed):
    labels = np.random.default_rng(seed).integers(0, 2, n).astype(float)
    return Batch(wide=sp.identity(n, format="csr"), labels=labels)


def test_each_epoch_visits_every_row_once_including_the_last_partial_batch_of_each_block():
    batch_size, epochs = 5, 2
    n = 2 * batch_size * STEPS_PER_BLOCK + 83  # three blocks; 83 = 16 full steps and a partial one of 3
    assert n % batch_size and n > batch_size * STEPS_PER_BLOCK
    model, optimizer = RowSpy(n), SGD(0.1)
    history = train(model, one_hot_rows(n, 0), optimizer, epochs=epochs, batch_size=batch_size, seed=0)
    steps = math.ceil(n / batch_size)
    assert len(model.calls) == optimizer.steps == epochs * steps
    assert all(len(rows) <= batch_size for rows, _ in model.calls)
    orders = []
    for epoch in range(epochs):
        calls = model.calls[epoch * steps:(epoch + 1) * steps]
        order = np.concatenate([rows for rows, _ in calls])
        np.testing.assert_array_equal(np.sort(order), np.arange(n))  # every row exactly once
        # the epoch's train_loss is the mean over its examples of each step's mean loss
        mean = sum(loss * len(rows) for rows, loss in calls) / n
        assert history.epochs[epoch]["train_loss"] == pytest.approx(mean, rel=1e-12)
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1])  # shuffled anew each epoch
    assert not np.array_equal(orders[0], np.arange(n))
    assert [e["epoch"] for e in history.epochs] == [1, 2] and history.best_epoch is None


def test_the_seed_fixes_the_order_of_the_rows():
    n = 97
    orders = []
    for seed in (5, 5, 6):
        model = RowSpy(n)
        train(model, one_hot_rows(n, 0), SGD(0.1), epochs=1, batch_size=10, seed=seed)
        orders.append(np.concatenate([rows for rows, _ in model.calls]))
    np.testing.assert_array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[0], orders[2])


def test_history_records_every_epoch_and_scores_the_model_of_that_epoch():
    train_batch, valid = toy_batch(300, 1), toy_batch(200, 2)
    model = toy_model()
    history = train(model, train_batch, Adam(0.01), epochs=3, batch_size=32, valid=valid, seed=0)
    assert [e["epoch"] for e in history.epochs] == [1, 2, 3]
    assert all(e["seconds"] > 0 for e in history.epochs)
    last = evaluate(valid.labels, model.predict_proba(valid))  # no early stopping: the last epoch's model
    for key, value in last.items():
        assert history.epochs[-1][f"valid_{key}"] == pytest.approx(value, rel=1e-12)
    assert history.best_epoch == int(np.argmax(history.column("valid_auc"))) + 1


# -- early stopping ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("metric, scores, patience, best, stops_at", [
    # higher is better: 2 improves, 3 and 4 do not; patience 2 stops right after epoch 4
    ("auc", [0.5, 0.6, 0.55, 0.58, 0.9], 2, 2, 4),
    ("accuracy", [0.5, 0.6, 0.55, 0.58, 0.9], 2, 2, 4),
    # lower is better: the mirror image
    ("logloss", [0.5, 0.4, 0.45, 0.41, 0.1], 2, 2, 4),
    # a non-improving epoch followed by a better one starts the wait anew
    ("auc", [0.5, 0.4, 0.7, 0.6, 0.65, 0.9], 2, 3, 5),
    ("logloss", [0.5, 0.6, 0.3, 0.4, 0.35, 0.1], 2, 3, 5),
    # an equal score is not better
    ("auc", [0.5, 0.5, 0.5], 2, 1, 3),
    ("logloss", [0.5, 0.5, 0.5], 2, 1, 3),
    ("logloss", [0.5, 0.6], 1, 1, 2),
    ("auc", [0.5, 0.6, 0.7, 0.8], 1, 4, None),
])
def test_early_stopping_stops_after_exactly_patience_epochs_without_improvement(metric, scores, patience, best,
                                                                                 stops_at):
    stopper = EarlyStopping(metric, patience)
    stopped = None
    for epoch, score in enumerate(scores, start=1):
        improved, stop = stopper.update(epoch, score)
        assert improved == (epoch == 1 or (max(scores[:epoch - 1]) < score if metric != "logloss"
                                           else min(scores[:epoch - 1]) > score))
        if stop:
            stopped = epoch
            break
    assert stopped == stops_at
    assert stopper.best_epoch == best and stopper.best == scores[best - 1]


def test_early_stopping_without_patience_never_stops_but_keeps_the_best():
    stopper = EarlyStopping("logloss", None)
    results = [stopper.update(e, s) for e, s in enumerate([0.5, 0.9, 0.3, 0.8, 0.8, 0.7], start=1)]
    assert [stop for _, stop in results] == [False] * 6
    assert [improved for improved, _ in results] == [True, False, True, False, False, False]
    assert stopper.best_epoch == 3
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping("auc", 0)


class EpochRecorder:
    """Wraps an optimizer and keeps a copy of the parameters at the end of each epoch."""

    def __init__(self, inner, params, steps_per_epoch):
        self.inner, self.params, self.steps_per_epoch = inner, params, steps_per_epoch
        self.steps, self.after_epoch = 0, []

    def step(self, params, grads):
        self.inner.step(params, grads)
        self.steps += 1
        if self.steps % self.steps_per_epoch == 0:
            self.after_epoch.append({k: v.copy() for k, v in params.items()})


@pytest.mark.parametrize("metric, pick", [("auc", np.argmax), ("logloss", np.argmin)])
def test_early_stopping_in_train_restores_exactly_the_best_epoch(metric, pick):
    train_batch, valid = toy_batch(300, 5), toy_batch(300, 6)
    model = toy_model()
    # momentum and a large rate make the validation score go up and down from epoch to epoch
    recorder = EpochRecorder(SGD(1.0, momentum=0.9), model.params, math.ceil(300 / 10))
    history = train(model, train_batch, recorder, epochs=12, batch_size=10, valid=valid, patience=2, metric=metric)
    scores = history.column(f"valid_{metric}")
    best = int(pick(scores)) + 1
    assert 1 < best < len(history.epochs) < 12  # the case is worth testing: it stopped early, after a better epoch
    assert history.best_epoch == best
    assert len(history.epochs) == best + 2  # stopped right after two epochs without improvement
    assert len(recorder.after_epoch) == len(history.epochs)
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, recorder.after_epoch[best - 1][name], err_msg=name)
    assert model.params is recorder.params  # restored in place, into the arrays the optimizer updates


def test_without_patience_the_last_epoch_is_kept():
    train_batch, valid = toy_batch(300, 5), toy_batch(300, 6)
    model = toy_model()
    recorder = EpochRecorder(SGD(1.0, momentum=0.9), model.params, math.ceil(300 / 10))
    history = train(model, train_batch, recorder, epochs=6, batch_size=10, valid=valid, metric="logloss")
    assert len(history.epochs) == 6
    assert history.best_epoch == int(np.argmin(history.column("valid_logloss"))) + 1 != 6
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, recorder.after_epoch[-1][name], err_msg=name)


# -- ensembles: members share nothing -----------------------------------------------------------------------

def toy_ensemble(combine="logit"):
    return Ensemble(toy_model("wide", seed=0), toy_model("deep", seed=1), combine=combine)


def test_ensemble_members_share_no_parameter_arrays(store):
    _, spec, _, _ = store
    for ensemble in (toy_ensemble(), make_model("ensemble", spec, hidden=(4,), seed=0)):
        wide, deep = ensemble.members["wide"].params, ensemble.members["deep"].params
        for a in wide.values():
            for b in deep.values():
                assert not np.shares_memory(a, b)
    # training one member leaves the other as it was
    ensemble = toy_ensemble()
    before = {k: v.copy() for k, v in ensemble.members["deep"].params.items()}
    train(ensemble.members["wide"], toy_batch(100, 3), Adam(0.01), epochs=1, batch_size=16)
    for name, value in ensemble.members["deep"].params.items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


@pytest.mark.parametrize("make_optimizer_object", [lambda: Adam(0.01), lambda: SGD(0.1, momentum=0.9)])
def test_one_optimizer_object_for_an_ensemble_gives_each_member_its_own_state(make_optimizer_object):
    data = toy_batch(200, 4)
    ensemble = toy_ensemble()
    train(ensemble, data, make_optimizer_object(), epochs=2, batch_size=16, seed=3)
    for name, alone in (("wide", toy_model("wide", seed=0)), ("deep", toy_model("deep", seed=1))):
        train(alone, data, make_optimizer_object(), epochs=2, batch_size=16, seed=3)
        for param, value in alone.params.items():
            np.testing.assert_array_equal(ensemble.members[name].params[param], value, err_msg=f"{name} {param}")


# -- example weights: validated, and a weighted mean ---------------------------------------------------------

@pytest.mark.parametrize("weights", [
    np.array([1.0, -0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),  # negative
    np.array([1.0, np.nan, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),  # NaN
    np.array([1.0, np.inf, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),  # infinite
    np.ones(7),  # one short
    np.ones(9),  # one too many
    np.zeros(8),  # nothing to average over
    np.ones((8, 1)),  # 2-D
    np.array(["1"] * 8),  # not numbers
])
def test_bad_example_weights_raise_a_value_error_naming_the_weights(weights):
    batch = make_batch()
    batch.weights = weights
    with pytest.raises(ValueError, match="weights"):
        small_model().loss(batch)


def test_equal_weights_give_the_unweighted_loss_and_a_zero_weight_removes_a_row():
    model, batch = small_model(), make_batch()
    batch.weights = None
    plain_loss, plain_grads = model.loss(batch, dropout_seed=0)
    for value in (1.0, 0.37, 3.0):
        batch.weights = np.full(len(batch), value)
        loss, grads = model.loss(batch, dropout_seed=0)
        assert loss == pytest.approx(plain_loss, rel=1e-15, abs=0)  # the same mean, up to the last bit
        for name, grad in grads.items():
            dense = grad.to_dense() if hasattr(grad, "to_dense") else grad
            plain = plain_grads[name].to_dense() if hasattr(plain_grads[name], "to_dense") else plain_grads[name]
            np.testing.assert_allclose(dense, plain, rtol=1e-13, atol=1e-16, err_msg=name)
    # a row of weight 0 changes nothing: the same as the batch without it (no dropout, so rows are independent)
    weights = np.random.default_rng(0).random(len(batch)) + 0.5
    weights[3] = 0.0
    batch.weights = weights
    loss, grads = model.loss(batch, training=False)
    rest = batch.take(np.flatnonzero(weights > 0))
    rest_loss, rest_grads = model.loss(rest, training=False)
    assert loss == pytest.approx(rest_loss, rel=1e-13)
    for name, grad in grads.items():
        dense = grad.to_dense() if hasattr(grad, "to_dense") else grad
        other = rest_grads[name].to_dense() if hasattr(rest_grads[name], "to_dense") else rest_grads[name]
        np.testing.assert_allclose(dense, other, rtol=1e-12, atol=1e-15, err_msg=name)


def test_a_mini_batch_whose_rows_all_weigh_zero_is_skipped_not_reported_as_divergence():
    """Weights may be 0 as long as some are not (validate); a mini-batch of only zero weights has nothing to
    learn and a 0/0 mean loss: training takes no step on it and goes on (it used to stop with a bogus
    'training diverged ... the loss is nan')."""
    batch = make_batch()
    batch.weights = np.array([0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0])
    optimizer = Counting()
    history = train(small_model("wide"), batch, optimizer, epochs=3, batch_size=2, seed=0)
    assert optimizer.steps == 3  # one mini-batch of four holds the weighted row, in each of three epochs
    assert all(math.isfinite(record["train_loss"]) for record in history.epochs)
    model = small_model("wide")
    train(model, batch, SGD(0.1), epochs=3, batch_size=2, seed=0)
    assert all(np.all(np.isfinite(value)) for value in model.params.values())


# -- defaults, arguments and what verbose training reports ---------------------------------------------------

class Counting:
    """An optimizer that counts its steps and, if ``corrupt`` is a step number, makes the bias infinite at that
    step through an overflowing and an invalid operation (as a diverging update would); otherwise changes nothing."""

    def __init__(self, corrupt=None):
        self.steps, self.corrupt = 0, corrupt

    def step(self, params, grads):
        self.steps += 1
        if self.steps == self.corrupt:
            params["bias"][...] = np.array([1e308]) * 10.0  # overflow: inf
            params["bias"][...] = params["bias"] - params["bias"]  # invalid: inf − inf = nan


def test_train_defaults_ten_epochs_seed_zero_and_says_nothing(capsys):
    data, logs = toy_batch(40, 1), []
    history = train(toy_model(), data, Counting(), log=logs.append)
    assert len(history.epochs) == 10 and logs == []
    assert capsys.readouterr() == ("", "")
    weights = []
    for kwargs in ({}, {"seed": 0}, {"seed": 1}):
        model = toy_model()
        train(model, data, SGD(0.5), epochs=1, batch_size=4, **kwargs)
        weights.append(model.params["wide.w"].copy())
    np.testing.assert_array_equal(weights[0], weights[1])
    assert not np.array_equal(weights[0], weights[2])


def test_make_model_defaults_to_seed_zero_and_an_ensembles_deep_member_follows_the_seed(store):
    _, spec, _, _ = store
    default, zero = make_model("deep", spec, hidden=(4,)), make_model("deep", spec, hidden=(4,), seed=0)
    for name, value in default.params.items():
        np.testing.assert_array_equal(value, zero.params[name], err_msg=name)
    a, b, c = (make_model("ensemble", spec, hidden=(4,), seed=s).members["deep"].params for s in (1, 1, 2))
    np.testing.assert_array_equal(a["deep.W1"], b["deep.W1"])
    assert not np.array_equal(a["deep.W1"], c["deep.W1"])


def test_a_batch_of_one_is_allowed():
    optimizer = Counting()
    train(toy_model(), toy_batch(5, 1), optimizer, epochs=2, batch_size=1)
    assert optimizer.steps == 10


def test_argument_errors_say_what_is_wrong():
    data, valid = toy_batch(20, 1), toy_batch(20, 2)
    with pytest.raises(ValueError, match="not both"):
        train(toy_model(), data, Counting(), valid=valid, validation=0.2)
    unlabelled = toy_batch(20, 3)
    unlabelled.labels = None
    with pytest.raises(ValueError, match="validation batches need labels"):
        train(toy_model(), data, Counting(), valid=unlabelled)
    with pytest.raises(ValueError, match="validation batches need labels"):
        train(toy_model(), unlabelled, Counting(), valid=valid)


def test_a_held_out_fraction_is_drawn_with_the_seed():
    from wdnumpy.splits import split_rows
    data = toy_batch(80, 1)
    history = train(toy_model(), data, SGD(0.1), epochs=1, batch_size=8, validation=0.25, seed=3)
    train_rows, valid_rows = split_rows(len(data), 0.25, seed=3)
    same = train(toy_model(), data.take(train_rows), SGD(0.1), epochs=1, batch_size=8, valid=data.take(valid_rows),
                 seed=3)
    assert history.epochs[0]["valid_logloss"] == same.epochs[0]["valid_logloss"]
    assert history.epochs[0]["train_loss"] == same.epochs[0]["train_loss"]


def test_an_ensemble_passes_validation_patience_and_reporting_on_to_each_member(capsys):
    logs = []
    # a frozen model never improves: with patience 1 each member stops after its second epoch, keeping the first
    histories = train(toy_ensemble(), toy_batch(40, 1), Counting(), epochs=5, batch_size=8, valid=toy_batch(40, 2),
                      patience=1, verbose=True, log=logs.append)
    assert set(histories) == {"wide", "deep"}
    for history in histories.values():
        assert len(history.epochs) == 2 and history.best_epoch == 1
        assert "valid_auc" in history.epochs[0]
    assert capsys.readouterr().out == ""  # everything went through log
    assert [line for line in logs if "member" in line] == ["-- ensemble member: wide", "-- ensemble member: deep"]
    assert sum(line.startswith("epoch ") for line in logs) == 4
    stops = [line for line in logs if line.startswith("early stop")]
    assert len(stops) == 2 and all("keeping epoch 1" in line and "auc" in line for line in stops)


def test_verbose_reports_each_epochs_record_as_key_value_pairs():
    logs = []
    start = time.perf_counter()
    history = train(toy_model(), toy_batch(40, 1), SGD(0.1), epochs=2, batch_size=8, valid=toy_batch(40, 2),
                    verbose=True, log=logs.append)
    elapsed = time.perf_counter() - start
    assert len(logs) == 2
    for line, record in zip(logs, history.epochs):
        shown = dict(pair.split(" ") for pair in line.split("  "))
        assert list(shown) == list(record)
        assert shown["epoch"] == str(record["epoch"])
        for key, value in record.items():
            assert float(shown[key]) == pytest.approx(value, abs=5e-5), key
            if isinstance(value, float):  # a readable line: every measure with four decimals
                assert shown[key] == f"{value:.4f}", key
        assert 0 < record["seconds"] < elapsed


class Terminal(io.StringIO):
    """A stderr that says it is a terminal and keeps what had been written at each flush."""

    def __init__(self):
        super().__init__()
        self.flushed = []

    def isatty(self):
        return True

    def flush(self):
        self.flushed.append(self.getvalue())


def test_a_long_epoch_shows_a_progress_counter_on_a_terminal_and_clears_it(monkeypatch, capsys):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    n = 200  # 200 steps of one example: a long epoch; the rows are gathered 64 steps at a time
    train(RowSpy(n), one_hot_rows(n, 0), Counting(), epochs=1, batch_size=1, verbose=True, log=lambda line: None)
    written = terminal.getvalue()
    assert "\n" not in written and capsys.readouterr().out == ""
    parts = written.split("\r")
    assert parts[0] == "" and parts[-1] == ""  # each counter starts at the line's start; the line ends cleared
    counters, blank = parts[1:-2], parts[-2]
    assert counters == [f"  epoch 1: {p:3d}%" for p in (32, 64, 96, 100)]
    assert blank.strip() == "" and len(blank) >= max(map(len, counters))
    # each counter was visible (flushed) as soon as it was written, and so was the clearing
    for i in range(1, len(counters) + 1):
        assert "\r".join(parts[:i + 1]) in terminal.flushed
    assert terminal.flushed[-1] == written


def test_no_progress_counter_unless_verbose_long_and_on_a_terminal(monkeypatch):
    for verbose, n, batch_size in ((False, 200, 1), (True, 60, 4), (True, 199, 1)):
        terminal = Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        train(RowSpy(n), one_hot_rows(n, 0), Counting(), epochs=1, batch_size=batch_size, verbose=verbose,
              log=lambda line: None)
        assert terminal.getvalue() == "", (verbose, n, batch_size)


def test_divergence_is_reported_with_its_epoch_and_step_and_no_numpy_warnings():
    data = toy_batch(40, 1)  # 4 steps of 10 per epoch
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # broken at the 6th step: the loss of the 7th (epoch 2, step 3) is not finite
        with pytest.raises(TrainingDiverged, match=r"epoch 2, step 3: the loss .*try a smaller learning rate"):
            train(toy_model(), data, Counting(corrupt=6), epochs=3, batch_size=10)
        # broken at the last step of epoch 1: caught at the end of the epoch, naming the parameter
        with pytest.raises(TrainingDiverged, match=r"epoch 1, step 4: parameters \['bias'\] are no longer finite"):
            train(toy_model(), data, Counting(corrupt=4), epochs=3, batch_size=10)


def test_early_stopping_defaults_to_auc_where_higher_is_better():
    stopper = EarlyStopping()
    assert stopper.update(1, 0.6) == (True, False)
    assert stopper.update(2, 0.7) == (True, False)
    assert stopper.update(3, 0.65) == (False, False)
    assert stopper.best_epoch == 2


def test_wide_in_dtype_converts_the_wide_part_to_the_models_dtype_only_where_there_is_one():
    """train's helper: the rows' wide matrix in the model's dtype (the same matrix), and nothing else changed;
    rows without a wide part, or a model without one, are left as they are."""
    from wdnumpy.train import wide_in_dtype
    model = small_model(dtype=np.float32)
    rows = make_batch()
    dense = rows.wide.toarray()
    converted = wide_in_dtype(rows, model)
    assert converted is rows and rows.wide.dtype == np.float32 and rows.wide.format == "csr"
    np.testing.assert_array_equal(rows.wide.toarray(), dense.astype(np.float32))
    assert rows.continuous.dtype == np.float64  # only the wide part
    no_wide = Batch(labels=np.zeros(2))
    assert wide_in_dtype(no_wide, model) is no_wide and no_wide.wide is None
    deep_only = small_model(mode="deep", dtype=np.float32)
    untouched = make_batch()
    assert wide_in_dtype(untouched, deep_only).wide.dtype == np.float64
