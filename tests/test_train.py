"""Training loop, ensemble, warm start and explain on small real and generated data."""
import numpy as np
import pytest

from wdnumpy.datasets import app_store_spec, make_app_store
from wdnumpy.ensemble import Ensemble
from wdnumpy.explain import explain
from wdnumpy.metrics import roc_auc
from wdnumpy.model import WideDeep
from wdnumpy.optim import SGD, Adam
from wdnumpy.train import make_model, train
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
    ensemble = make_model("ensemble", spec, hidden=(8,), seed=0)
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
