"""The whole model: gradient checks in every mode, joint training, interface, bad input."""
import numpy as np
import pytest
import scipy.sparse as sp

from conftest import FIELDS, WIDE_DIM, make_batch, make_model
from wdnumpy import Batch, EmbeddingField, WideDeep
from wdnumpy.gradcheck import check_model
from wdnumpy.losses import sigmoid


def min_distance_to_relu_kink(model, batch):
    model.forward(batch)
    pre = [c_affine[0] @ model.params[f"deep.W{i}"] + model.params[f"deep.b{i}"]
           for i, (c_affine, _) in enumerate(model._cache["mlp"], start=1)]
    return min(np.abs(h).min() for h in pre)


@pytest.mark.parametrize("mode", ["wide", "deep", "wide_deep"])
@pytest.mark.parametrize("seed", [0, 1])
def test_model_gradients_match_finite_differences(mode, seed):
    model, batch = make_model(mode, seed=seed), make_batch(seed)
    if model.uses_deep:
        # h = 1e-5 must not push a hidden unit across the ReLU kink, or the check is meaningless
        assert min_distance_to_relu_kink(model, batch) > 1e-3
    report = check_model(model, batch)
    assert set(r.name for r in report.rows) == set(model.params)
    assert report.passed, report


def test_model_without_hidden_layers_or_continuous_features():
    model = WideDeep(wide_dim=WIDE_DIM, fields=FIELDS, n_continuous=0, hidden=(), seed=3)
    batch = make_batch(2)
    batch.continuous = None
    report = check_model(model, batch)
    assert report.passed, report


def test_params_and_grads_share_keys_and_shapes(batch):
    model = make_model()
    assert list(model.params) == list(model.grads)
    assert {"bias", "wide.w", "deep.embedding.country", "deep.embedding.installed", "deep.embedding.genres", "deep.W1", "deep.b1",
            "deep.W2", "deep.b2", "deep.w_out"} == set(model.params)
    for name, value in model.grads.items():  # zeros before any backward
        assert value.shape == model.params[name].shape and not value.any()
    model.loss(batch)
    for name in model.params:
        assert model.grads[name].shape == model.params[name].shape
        assert model.grads[name].dtype == model.params[name].dtype
    row_grad = model.grads.row_grad("deep.embedding.country")
    assert row_grad.rows.tolist() == [0, 1, 2, 4]  # the ids present in the batch
    assert model.grads.row_grad("deep.W1") is None
    assert model.n_params == sum(p.size for p in model.params.values())


def test_modes_hold_only_their_parameters():
    assert set(make_model("wide").params) == {"bias", "wide.w"}
    assert not any(n.startswith("wide") for n in make_model("deep").params)


def test_seeded_initialisation_and_float32():
    a, b, c = (WideDeep(WIDE_DIM, FIELDS, 2, seed=s) for s in (5, 5, 6))
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert not np.array_equal(a.params["deep.W1"], c.params["deep.W1"])
    model = make_model(dtype=np.float32)
    assert all(p.dtype == np.float32 for p in model.params.values())
    batch = make_batch()
    assert model.forward(batch).dtype == np.float32
    model.loss(batch)
    assert all(model.grads[n].dtype == np.float32 for n in model.params)


def test_predict_proba_is_sigmoid_of_sum_of_parts(batch):
    model = make_model()
    z, parts = model.forward(batch, return_parts=True)
    np.testing.assert_allclose(z, parts["wide"] + parts["deep"] + parts["bias"], rtol=1e-14)
    p = model.predict_proba(batch)
    np.testing.assert_allclose(p, sigmoid(z))
    assert p.shape == (len(batch),) and np.all((p > 0) & (p < 1))


def test_predict_needs_no_labels(batch):
    batch.labels = batch.weights = None
    assert make_model().predict_proba(batch).shape == (8,)
    with pytest.raises(ValueError, match="labels"):
        make_model().loss(batch)


def test_joint_training_couples_the_parts(batch):
    """Under joint training the wide gradient is (p − y)ᵀX with p from *both* logits, so it changes
    when only the deep part changes; a wide model trained on its own never sees the deep part."""
    joint = make_model("wide_deep")
    joint.loss(batch)
    wide_grad_before = joint.grads["wide.w"].copy()
    joint.params["deep.w_out"] *= -3.0  # touch only the deep part
    joint.loss(batch)
    assert np.abs(joint.grads["wide.w"] - wide_grad_before).max() > 1e-3

    # the joint wide gradient is exactly Xᵀ(σ(wide + deep + b) − y) weighted as in the loss
    z, parts = joint.forward(batch, return_parts=True)
    s = batch.weights / batch.weights.sum()
    np.testing.assert_allclose(joint.grads["wide.w"], batch.wide.T @ (s * (sigmoid(z) - batch.labels)),
                               rtol=1e-12, atol=1e-15)

    # separately trained: the wide model's gradient uses its own logit only
    wide_only = make_model("wide")
    wide_only.params["wide.w"][:] = joint.params["wide.w"]
    wide_only.params["bias"][:] = joint.params["bias"]
    wide_only.loss(batch)
    separate = wide_only.grads["wide.w"].copy()
    expected = batch.wide.T @ (s * (sigmoid(parts["wide"] + parts["bias"]) - batch.labels))
    np.testing.assert_allclose(separate, expected, rtol=1e-12, atol=1e-15)
    assert np.abs(separate - joint.grads["wide.w"]).max() > 1e-3


# -- bad input ---------------------------------------------------------------

def test_bad_batches_raise_clear_value_errors():
    model = make_model()

    def expect(message, **changes):
        batch = make_batch()
        for key, value in changes.items():
            if key.startswith("field_"):
                batch.categorical[key[6:]] = value
            else:
                setattr(batch, key, value)
        with pytest.raises(ValueError, match=message):
            model.loss(batch)

    expect(r"has 12 columns but the wide part has 11", wide=sp.csr_matrix((8, 12)))
    expect(r"wide.*None", wide=None)
    expect(r"must be a scipy.sparse", wide=np.zeros((8, 11)))
    expect(r"ids must lie in \[0, 5\); row 2 has 5", field_country=np.array([0, 1, 5, 1, 0, 0, 2, 1]))
    expect(r"row 0 has -1", field_country=np.array([-1, 1, 1, 1, 0, 0, 2, 1]))
    expect(r"ids must be integers", field_country=np.zeros(8))
    expect(r"bag matrix has 9 columns, expected the vocabulary size 7", field_installed=sp.csr_matrix((8, 9)))
    expect(r"multivalent", field_installed=np.zeros(8, dtype=int))
    expect(r"labels must be 0 or 1; row 3 has 2", labels=np.array([0, 1, 0, 2, 1, 0, 0, 1]))
    expect(r"NaN or infinite values, the first at row 1, column 0",
           continuous=np.array([[0, 0], [np.nan, 0]] + [[0, 0]] * 6))
    expect(r"shape \(N, 2\)", continuous=np.zeros((8, 3)))
    expect(r"different numbers of rows", labels=np.zeros(7))
    expect(r"weights", weights=-np.ones(8))

    batch = make_batch()
    del batch.categorical["genres"]
    with pytest.raises(ValueError, match=r"2 categorical fields .* expects 3"):
        model.loss(batch)
    batch = make_batch()
    batch.categorical["extra"] = np.zeros(8, dtype=int)
    with pytest.raises(ValueError, match=r"4 categorical fields"):
        model.loss(batch)
    with pytest.raises(ValueError, match="Batch"):
        model.forward({"wide": None})


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="mode"):
        WideDeep(3, mode="both")
    with pytest.raises(ValueError, match="wide_dim"):
        WideDeep(0, FIELDS, 2, mode="wide")
    with pytest.raises(ValueError, match="distinct"):
        WideDeep(3, [EmbeddingField("a", 3, 2), EmbeddingField("a", 4, 2)])
    with pytest.raises(ValueError, match="vocab_size"):
        EmbeddingField("a", 0, 2)
    with pytest.raises(ValueError, match="pooling"):
        EmbeddingField("a", 3, 2, multivalent=True, pooling="max")
    with pytest.raises(ValueError, match="hidden"):
        WideDeep(3, FIELDS, hidden=(4, 0))
    with pytest.raises(ValueError, match="dtype"):
        WideDeep(3, FIELDS, dtype=np.int32)


def test_other_sparse_formats_are_accepted(batch):
    model = make_model()
    reference = model.forward(batch)
    batch.wide = batch.wide.tocoo()
    batch.categorical["installed"] = batch.categorical["installed"].tocsc()
    np.testing.assert_allclose(model.forward(batch), reference, rtol=1e-14)


def test_batch_take_slices_and_index_arrays_agree(batch):
    for rows in (slice(2, 6), slice(0, 8), slice(5, 5), slice(6, 100)):
        indices = np.arange(8)[rows]
        by_slice, by_index = batch.take(rows), batch.take(indices)
        assert len(by_slice) == len(indices)
        assert (by_slice.wide != by_index.wide).nnz == 0 and by_slice.wide.shape == by_index.wide.shape
        assert (by_slice.categorical["installed"] != by_index.categorical["installed"]).nnz == 0
        np.testing.assert_array_equal(by_slice.categorical["country"], by_index.categorical["country"])
        np.testing.assert_array_equal(by_slice.labels, by_index.labels)
