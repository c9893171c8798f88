"""Ensemble combination rules: each rule's formula, stacking, saving and loading, explain, bad input."""
import json

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize

from wdnumpy import io
from wdnumpy.batch import Batch
from wdnumpy.datasets import app_store_spec, make_app_store
from wdnumpy.ensemble import COMBINE, DEFAULT_COMBINE, Ensemble, fit_logistic
from wdnumpy.explain import explain
from wdnumpy.losses import sigmoid
from wdnumpy.model import WideDeep
from wdnumpy.train import make_model, train

WIDE_DIM = 20


def synthetic_batch(n, seed, truth=None):
    """n rows with three active wide features and two numbers; with ``truth`` = (members, (a, b, c)),
    labels drawn from σ(a·z_w + b·z_d + c) of those members' logits."""
    rng = np.random.default_rng(seed)
    rows, cols = np.repeat(np.arange(n), 3), rng.integers(0, WIDE_DIM, 3 * n)
    wide = sp.csr_matrix((np.ones(3 * n), (rows, cols)), shape=(n, WIDE_DIM))
    batch = Batch(wide=wide, continuous=rng.standard_normal((n, 2)), labels=np.zeros(n))
    if truth is not None:
        (wide_member, deep_member), (a, b, c) = truth
        z = a * wide_member.forward(batch) + b * deep_member.forward(batch) + c
        batch.labels = (rng.random(n) < sigmoid(z)).astype(float)
    return batch


def members(seed=0):
    """A wide member with random weights and a deep member that is linear in the two numbers
    (no hidden layer), so their logits are known functions of the batch."""
    rng = np.random.default_rng(seed)
    wide = WideDeep(wide_dim=WIDE_DIM, mode="wide", seed=seed)
    wide.params["wide.w"][:] = rng.normal(0, 0.5, WIDE_DIM)
    wide.params["bias"][:] = -0.4
    deep = WideDeep(n_continuous=2, hidden=(), mode="deep", seed=seed + 1)
    deep.params["deep.w_out"][:] = np.array([[1.2], [-0.7]])
    deep.params["bias"][:] = 0.25
    return wide, deep


def test_each_rule_combines_the_members_logits_by_its_formula():
    wide, deep = members()
    batch = synthetic_batch(50, seed=1)
    zw, zd = wide.forward(batch), deep.forward(batch)
    expected = {"sum": zw + zd, "mean_logit": (zw + zd) / 2,
                "proba": np.log((sigmoid(zw) + sigmoid(zd)) / 2) - np.log(1 - (sigmoid(zw) + sigmoid(zd)) / 2)}
    for rule, z in expected.items():
        ensemble = Ensemble(wide, deep, combine=rule)
        np.testing.assert_allclose(ensemble.forward(batch), z, rtol=1e-12, atol=1e-12, err_msg=rule)
        np.testing.assert_allclose(ensemble.predict_proba(batch), sigmoid(z), rtol=1e-12, err_msg=rule)
    stacked = Ensemble(wide, deep, combine="stacked", stacking=(0.3, 1.7, -0.2))
    np.testing.assert_allclose(stacked.forward(batch), 0.3 * zw + 1.7 * zd - 0.2, rtol=1e-12)
    # the member logits are each member's own forward pass, bias included
    parts = stacked.member_logits(batch)
    np.testing.assert_array_equal(parts["wide"], zw)
    np.testing.assert_array_equal(parts["deep"], zd)


def test_logit_is_the_old_name_of_sum_and_the_default_averages_logits():
    wide, deep = members()
    assert Ensemble(wide, deep, combine="logit").combine == "sum"
    assert DEFAULT_COMBINE == "mean_logit" and Ensemble(wide, deep).combine == "mean_logit"
    assert Ensemble(wide, deep).logit_weights() == (0.5, 0.5, 0.0)
    assert Ensemble(wide, deep, combine="sum").logit_weights() == (1.0, 1.0, 0.0)


def test_logistic_fit_is_the_exact_minimum_and_agrees_with_scipy():
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.standard_normal((2000, 2)), np.ones(2000)])
    y = (rng.random(2000) < sigmoid(X @ np.array([1.5, -0.5, 0.3]))).astype(float)
    theta = fit_logistic(X, y, l2=0.0)
    gradient = X.T @ (sigmoid(X @ theta) - y) / len(y)
    assert np.max(np.abs(gradient)) < 1e-10  # Newton's method converged to the stationary point

    def loss(t):
        z = X @ t
        return np.mean(np.logaddexp(0, z) - y * z)

    reference = minimize(loss, np.zeros(3), method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(theta, reference, atol=1e-5)


@pytest.mark.parametrize("n, positives", [(5, 1), (10, 1)])
def test_logistic_fit_of_an_intercept_alone_is_exact(n, positives):
    """fit_logistic returns 'the θ minimising the mean log loss', 'exact to about 1e-10' (fit_stacking): an
    intercept alone fits log(k / (n − k)). (A first trial step of twice Newton's stalls 1e-7 to 1e-6 away here.)"""
    y = (np.arange(n) < positives).astype(float)
    theta = fit_logistic(np.ones((n, 1)), y, l2=0.0)
    assert abs(theta[0] - np.log(positives / (n - positives))) < 1e-10


def test_logistic_fit_stays_finite_on_separable_rows():
    X = np.column_stack([np.array([-2.0, -1.0, 1.0, 2.0]), np.ones(4)])
    theta = fit_logistic(X, np.array([0.0, 0.0, 1.0, 1.0]))
    assert np.all(np.isfinite(theta)) and theta[0] > 5  # large, as separable data asks, but finite


def test_stacking_recovers_the_coefficients_that_generated_the_labels():
    wide, deep = members()
    truth = (0.6, 1.4, -0.5)
    batch = synthetic_batch(60_000, seed=2, truth=((wide, deep), truth))
    ensemble = Ensemble(wide, deep)
    coefficients = ensemble.fit_stacking(batch)
    assert ensemble.combine == "stacked"
    np.testing.assert_allclose(coefficients, truth, atol=0.05)  # about 3 standard errors at this size
    np.testing.assert_allclose(ensemble.logit_weights(), coefficients)
    # the stacked fit is at least as good as any fixed rule on the rows it was fitted on
    y = batch.labels
    stacked_loss = np.mean(np.logaddexp(0, ensemble.forward(batch)) - y * ensemble.forward(batch))
    for rule in ("sum", "mean_logit"):
        z = Ensemble(wide, deep, combine=rule).forward(batch)
        assert stacked_loss <= np.mean(np.logaddexp(0, z) - y * z) + 1e-12


def test_stacked_rule_without_coefficients_says_to_fit_them():
    wide, deep = members()
    ensemble = Ensemble(wide, deep, combine="stacked")
    with pytest.raises(ValueError, match="fit_stacking"):
        ensemble.forward(synthetic_batch(5, seed=0))
    with pytest.raises(ValueError, match="labelled"):
        ensemble.fit_stacking(Batch(wide=sp.csr_matrix((3, WIDE_DIM)), continuous=np.zeros((3, 2))))


@pytest.mark.parametrize("combine, stacking, message", [
    ("average", None, "combine must be one of"),
    ("Sum", None, "combine must be one of"),
    ("", None, "combine must be one of"),
    ("mean_logit", (1.0, 1.0, 0.0), "only go with combine='stacked'"),
    ("stacked", (1.0, 1.0), "three finite numbers"),
    ("stacked", (1.0, np.nan, 0.0), "three finite numbers"),
    ("stacked", (1.0, None, 0.0), "three finite numbers"),  # a missing coefficient (null in a file) is no number
])
def test_bad_rules_and_coefficients_raise_clear_errors(combine, stacking, message):
    wide, deep = members()
    with pytest.raises(ValueError, match=message):
        Ensemble(wide, deep, combine=combine, stacking=stacking)


def test_probability_averaging_has_no_additive_terms():
    wide, deep = members()
    with pytest.raises(ValueError, match="not affine"):
        Ensemble(wide, deep, combine="proba").logit_weights()
    assert set(COMBINE) == {"sum", "mean_logit", "proba", "stacked"}


# -- on a small app store: save and load, explain --------------------------------------------------------------

@pytest.fixture(scope="module")
def store():
    data = make_app_store(n_train=3000, n_test=400, n_users=300, n_apps=30, n_niche=10, seed=1)
    spec = app_store_spec(embedding_dim=4, cross_buckets=1024).fit(data.train)
    batch = spec.transform(data.train, data.train_labels)
    ensemble = make_model("ensemble", spec, hidden=(8,), seed=0)
    train(ensemble, batch, "adam", epochs=1, batch_size=512)
    return data, spec, batch, ensemble


def with_rule(ensemble, rule, batch):
    copy = Ensemble(ensemble.members["wide"], ensemble.members["deep"], combine=rule)
    if rule == "stacked":
        copy.fit_stacking(batch)
    return copy


@pytest.mark.parametrize("rule", COMBINE)
def test_every_rule_survives_saving_and_loading(tmp_path, store, rule):
    data, spec, batch, ensemble = store
    model = with_rule(ensemble, rule, batch)
    loaded, loaded_spec, _ = io.load_model(io.save_model(tmp_path / "e.npz", model, spec))
    assert loaded.combine == rule
    if rule == "stacked":
        np.testing.assert_array_equal(loaded.stacking, model.stacking)  # exact through JSON
    else:
        assert loaded.stacking is None
    test = spec.transform(data.test)
    np.testing.assert_array_equal(loaded.predict_proba(loaded_spec.transform(data.test)), model.predict_proba(test))


def rewrite_meta(path, change):
    """Rewrite a saved file's __meta__ record with ``change(meta)`` applied."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(arrays["__meta__"].tobytes())
    change(meta)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize("old", ["logit", None])
def test_files_from_before_the_rules_had_names_load_as_summed_logits(tmp_path, store, old):
    data, spec, batch, ensemble = store
    path = io.save_model(tmp_path / "old.npz", with_rule(ensemble, "sum", batch), spec)

    def as_old(meta):  # what save_model wrote before: combine "logit" (or nothing), no stacking key
        meta["combine"] = old
        del meta["stacking"]

    rewrite_meta(path, as_old)
    loaded, _, _ = io.load_model(path)
    assert loaded.combine == "sum" and loaded.stacking is None
    test = spec.transform(data.test)
    parts = ensemble.member_logits(test)
    np.testing.assert_allclose(loaded.forward(test), parts["wide"] + parts["deep"], rtol=1e-12)


def test_a_file_with_an_unknown_rule_or_bad_coefficients_names_the_file(tmp_path, store):
    _, spec, batch, ensemble = store
    for name, change in (("rule", lambda m: m.update(combine="median")),
                         ("coefficients", lambda m: m.update(combine="stacked", stacking=[1.0, 2.0]))):
        path = io.save_model(tmp_path / f"{name}.npz", with_rule(ensemble, "sum", batch), spec)
        rewrite_meta(path, change)
        with pytest.raises(ValueError, match=f"{name}.npz: cannot load model"):
            io.load_model(path)


@pytest.mark.parametrize("rule", ["sum", "mean_logit", "stacked"])
def test_explain_scales_each_members_terms_by_its_weight_in_the_rule(store, rule):
    data, spec, batch, ensemble = store
    model = with_rule(ensemble, rule, batch)
    a, b, c = model.logit_weights()
    wide, deep = model.members["wide"], model.members["deep"]
    for row in (0, 5):
        e = explain(model, spec, data.test, row)
        one = spec.transform({k: v[row:row + 1] for k, v in data.test.items()})
        assert e.logit == pytest.approx(float(model.forward(one)[0]), abs=1e-12)
        assert e.total == pytest.approx(e.logit, abs=1e-9)
        assert e.deep == pytest.approx(b * float(deep.trace(one).deep_logit[0]), abs=1e-12)
        assert e.bias == pytest.approx(a * wide.params["bias"][0] + b * deep.params["bias"][0] + c, abs=1e-12)
        assert sum(t for _, t in e.wide) == pytest.approx(a * float(wide.trace(one).wide_logit[0]), abs=1e-9)


def test_explain_refuses_averaged_probabilities_clearly(store):
    data, spec, batch, ensemble = store
    with pytest.raises(ValueError, match="proba.*not affine"):
        explain(with_rule(ensemble, "proba", batch), spec, data.test, 0)


def test_logistic_fit_with_a_ridge_minimises_the_documented_objective():
    # l2/2 · ‖θ‖² added to the mean log loss: at the minimum X'(σ(Xθ) − y)/N + l2·θ = 0, and θ is shrunk
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.standard_normal((300, 2)), np.ones(300)])
    y = (rng.random(300) < sigmoid(X @ np.array([2.0, -1.0, 0.5]))).astype(float)
    l2 = 0.3
    theta = fit_logistic(X, y, l2=l2)
    gradient = X.T @ (sigmoid(X @ theta) - y) / len(y) + l2 * theta
    assert np.max(np.abs(gradient)) < 1e-9

    def objective(t):
        z = X @ t
        return np.mean(np.logaddexp(0, z) - y * z) + 0.5 * l2 * t @ t

    reference = minimize(objective, np.zeros(3), method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(theta, reference, atol=1e-5)
    assert np.linalg.norm(theta) < np.linalg.norm(fit_logistic(X, y, l2=0.0))


@pytest.mark.parametrize("modes", [("wide_deep", "deep"), ("wide", "wide_deep"), ("deep", "wide")])
def test_an_ensemble_refuses_members_of_the_wrong_mode_and_names_them(modes):
    wide_mode, deep_mode = modes
    wide = WideDeep(wide_dim=WIDE_DIM, n_continuous=2, hidden=(), mode=wide_mode)
    deep = WideDeep(wide_dim=WIDE_DIM, n_continuous=2, hidden=(), mode=deep_mode)
    with pytest.raises(ValueError, match=f"'{wide_mode}' and '{deep_mode}'"):
        Ensemble(wide, deep)


def test_an_ensemble_has_the_model_interface_dtype_and_batch_check():
    wide = WideDeep(wide_dim=WIDE_DIM, mode="wide", dtype=np.float32)
    deep = WideDeep(n_continuous=2, hidden=(), mode="deep", dtype=np.float32)
    ensemble = Ensemble(wide, deep)
    assert ensemble.dtype == np.float32
    assert ensemble.check_batch(synthetic_batch(7, seed=0)) == 7
    too_narrow = Batch(wide=sp.csr_matrix((3, WIDE_DIM - 1)), continuous=np.zeros((3, 2)))
    with pytest.raises(ValueError):
        ensemble.check_batch(too_narrow)
    no_numbers = Batch(wide=sp.csr_matrix((3, WIDE_DIM)), continuous=np.zeros((3, 1)))
    with pytest.raises(ValueError):
        ensemble.check_batch(no_numbers)  # the deep member's check counts too


def test_averaged_probabilities_keep_a_finite_logit_at_extreme_member_logits():
    wide, deep = members()
    ensemble = Ensemble(wide, deep, combine="proba")
    for z in (-800.0, -50.0, 50.0, 800.0):  # σ underflows to 0 or rounds to 1 in float64
        combined = ensemble.combine_logits(np.array([z]), np.array([z]))
        assert np.isfinite(combined).all() and np.sign(combined[0]) == np.sign(z), z
    # while not extreme, it is exactly the logit of the mean probability
    mid = ensemble.combine_logits(np.array([2.0]), np.array([-1.0]))
    mean = (sigmoid(2.0) + sigmoid(-1.0)) / 2
    assert mid[0] == pytest.approx(np.log(mean / (1 - mean)), rel=1e-12)
