"""The whole model: gradient checks in every mode, joint training, interface, bad input."""
import re

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import WIDE_DIM, make_batch, make_fields, make_model
from wdnumpy import Batch, EmbeddingField, WideDeep
from wdnumpy import layers
from wdnumpy.gradcheck import check_layer, check_model
from wdnumpy.layers import RowGrad
from wdnumpy.losses import sigmoid
from wdnumpy.tower import Affine, Dropout, build_tower, tower_backward, tower_forward


def min_distance_to_relu_kink(model, batch):
    layers = model.trace(batch).layers
    return min(np.abs(layers[f"h{i}"]).min() for i in range(1, len(model.hidden) + 1))


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
    model = WideDeep(wide_dim=WIDE_DIM, fields=make_fields(), n_continuous=0, hidden=(), seed=3)
    batch = make_batch(2)
    batch.continuous = None
    report = check_model(model, batch)
    assert report.passed, report


def test_loss_returns_a_plain_dict_of_grads_keyed_like_params(batch):
    model = make_model()
    assert {"bias", "wide.w", "deep.embedding.country", "deep.embedding.installed", "deep.embedding.genres",
            "deep.W1", "deep.b1", "deep.W2", "deep.b2", "deep.w_out"} == set(model.params)
    loss, grads = model.loss(batch)
    assert isinstance(loss, float) and type(grads) is dict
    assert list(grads) == list(model.params)
    for name, grad in grads.items():
        dense = grad.to_dense() if isinstance(grad, RowGrad) else grad
        assert dense.shape == model.params[name].shape and dense.dtype == model.params[name].dtype
    sparse = {n for n, g in grads.items() if isinstance(g, RowGrad)}
    assert sparse == {"wide.w", "deep.embedding.country", "deep.embedding.installed", "deep.embedding.genres"}
    assert grads["deep.embedding.country"].rows.tolist() == [0, 1, 2, 4]  # the ids present in the batch
    assert model.n_params == sum(p.size for p in model.params.values())
    assert model.loss(batch, backward=False) == (loss, None)


def test_modes_hold_only_their_parameters():
    assert set(make_model("wide").params) == {"bias", "wide.w"}
    assert not any(n.startswith("wide") for n in make_model("deep").params)


def test_seeded_initialisation_and_float32():
    a, b, c = (WideDeep(WIDE_DIM, make_fields(), 2, seed=s) for s in (5, 5, 6))
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert not np.array_equal(a.params["deep.W1"], c.params["deep.W1"])
    model = make_model(dtype=np.float32)
    assert all(p.dtype == np.float32 for p in model.params.values())
    batch = make_batch()
    assert model.forward(batch).dtype == np.float32
    _, grads = model.loss(batch)
    assert all((g.values if isinstance(g, RowGrad) else g).dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize("mode", ["wide", "deep", "wide_deep"])
def test_a_float32_model_computes_in_float32_in_every_mode(mode):
    """dtype float32: the model's logits, probabilities, traced parts and gradients stay float32 in every mode,
    also when one part is missing (its logit is a zero of the model's dtype, not a float64 zero)."""
    model, batch = make_model(mode, dtype=np.float32), make_batch()
    assert model.forward(batch).dtype == np.float32 and model.predict_proba(batch).dtype == np.float32
    trace = model.trace(batch)
    assert {trace.logit.dtype, trace.probability.dtype, trace.wide_logit.dtype, trace.deep_logit.dtype} == {
        np.dtype(np.float32)}
    _, grads = model.loss(batch)
    assert {(g.values if isinstance(g, RowGrad) else g).dtype for g in grads.values()} == {np.dtype(np.float32)}


def test_a_float32_wide_models_gradients_are_float32_for_a_float64_dz(batch):
    """backward casts the gradients of the bias and of ``wide.w`` to the model's dtype: a float32 model given a
    float64 ∂L/∂z (say, computed by hand from float64 labels) still gets float32 gradients of those parameters,
    with the values of the float32 dz's."""
    model = make_model("wide", dtype=np.float32)
    z, cache = model._forward(batch, False, True)
    dz = (sigmoid(z.astype(np.float64)) - batch.labels) / len(batch)
    grads = model.backward(dz, cache)
    assert grads["bias"].dtype == np.float32 and grads["wide.w"].values.dtype == np.float32
    expected = model.backward(dz.astype(np.float32), cache)
    np.testing.assert_allclose(grads["bias"], expected["bias"], rtol=1e-6)


def test_forward_with_check_false_skips_the_batch_check(batch):
    """forward(check=False) "skips check_batch": a batch check_batch refuses (here for its labels, which forward
    does not read) is scored as it is, with the logits of the same batch with valid labels."""
    model = make_model()
    expected = model.forward(batch)
    batch.labels = np.full(len(batch), 2.0)
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        model.forward(batch)
    np.testing.assert_array_equal(model.forward(batch, check=False), expected)


def test_predict_proba_is_sigmoid_of_sum_of_parts(batch):
    model = make_model()
    trace = model.trace(batch)
    z = model.forward(batch)
    np.testing.assert_array_equal(trace.logit, z)
    np.testing.assert_allclose(z, trace.wide_logit + trace.deep_logit + trace.bias, rtol=1e-14)
    np.testing.assert_allclose(trace.wide_logit, batch.wide @ model.params["wide.w"], rtol=1e-14)
    np.testing.assert_allclose(trace.deep_logit, trace.last_hidden @ model.params["deep.w_out"][:, 0], rtol=1e-14)
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
    wide_grad_before = joint.loss(batch)[1]["wide.w"].to_dense()
    joint.params["deep.w_out"] *= -3.0  # touch only the deep part
    joint_wide_grad = joint.loss(batch)[1]["wide.w"].to_dense()
    assert np.abs(joint_wide_grad - wide_grad_before).max() > 1e-3

    # the joint wide gradient is exactly Xᵀ(σ(wide + deep + b) − y) weighted as in the loss
    trace = joint.trace(batch)
    s = batch.weights / batch.weights.sum()
    np.testing.assert_allclose(joint_wide_grad, batch.wide.T @ (s * (sigmoid(trace.logit) - batch.labels)),
                               rtol=1e-12, atol=1e-15)

    # separately trained: the wide model's gradient uses its own logit only
    wide_only = make_model("wide")
    wide_only.params["wide.w"][:] = joint.params["wide.w"]
    wide_only.params["bias"][:] = joint.params["bias"]
    separate = wide_only.loss(batch)[1]["wide.w"].to_dense()
    expected = batch.wide.T @ (s * (sigmoid(trace.wide_logit + trace.bias) - batch.labels))
    np.testing.assert_allclose(separate, expected, rtol=1e-12, atol=1e-15)
    assert np.abs(separate - joint_wide_grad).max() > 1e-3


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


@pytest.mark.parametrize("bad", [-1.0, 0.5, 2.0, np.nan])
def test_every_label_other_than_0_and_1_is_refused(bad):
    # Batch: labels (N,) in {0, 1}; validate says "labels must be 0 or 1" and names the row
    labels = np.array([0, 1, 0, 1, 1, 0, 0, 1], dtype=float)
    labels[5] = bad
    batch = make_batch()
    batch.labels = labels
    with pytest.raises(ValueError, match=r"labels must be 0 or 1; row 5 has"):
        batch.validate(WIDE_DIM, make_fields(), 2)
    with pytest.raises(ValueError, match=r"labels must be 0 or 1; row 5 has"):
        make_model().loss(batch)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="mode"):
        WideDeep(3, mode="both")
    with pytest.raises(ValueError, match="wide_dim"):
        WideDeep(0, make_fields(), 2, mode="wide")
    with pytest.raises(ValueError, match="distinct"):
        WideDeep(3, [EmbeddingField("a", 3, 2), EmbeddingField("a", 4, 2)])
    with pytest.raises(ValueError, match="vocab_size"):
        EmbeddingField("a", 0, 2)
    with pytest.raises(ValueError, match="pooling"):
        EmbeddingField("a", 3, 2, multivalent=True, pooling="max")
    with pytest.raises(ValueError, match="hidden"):
        WideDeep(3, make_fields(), hidden=(4, 0))
    with pytest.raises(ValueError, match="dtype"):
        WideDeep(3, make_fields(), dtype=np.int32)


def test_other_sparse_formats_are_converted_where_the_batch_is_made(batch):
    model = make_model()
    reference = model.forward(batch)
    categorical = dict(batch.categorical, installed=batch.categorical["installed"].tocsc(),
                       country=batch.categorical["country"].tolist())
    converted = Batch(batch.wide.tocoo(), categorical, batch.continuous.tolist(), batch.labels.tolist())
    assert converted.wide.format == "csr" and converted.categorical["installed"].format == "csr"
    np.testing.assert_allclose(model.forward(converted), reference, rtol=1e-14)
    # validation only checks: a batch changed after it was made is refused, not converted
    converted.wide = converted.wide.tocoo()
    with pytest.raises(ValueError, match="CSR"):
        model.forward(converted)
    assert converted.wide.format == "coo"


def test_batch_take_slices_and_index_arrays_agree(batch):
    for rows in (slice(2, 6), slice(0, 8), slice(5, 5), slice(6, 100)):
        indices = np.arange(8)[rows]
        by_slice, by_index = batch.take(rows), batch.take(indices)
        assert len(by_slice) == len(indices)
        assert (by_slice.wide != by_index.wide).nnz == 0 and by_slice.wide.shape == by_index.wide.shape
        assert (by_slice.categorical["installed"] != by_index.categorical["installed"]).nnz == 0
        np.testing.assert_array_equal(by_slice.categorical["country"], by_index.categorical["country"])
        np.testing.assert_array_equal(by_slice.labels, by_index.labels)


# -- the tower: dropout, L2, trace ---------------------------------------------

def test_dropout_layer_gradient_with_a_fixed_mask():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((6, 5))
    keep = rng.random((6, 5)) >= 0.4
    report = check_layer(lambda x: layers.dropout_forward(x, 0.4, keep=keep), layers.dropout_backward,
                         {"x": x}, "x")
    assert report.passed, report
    out, _ = layers.dropout_forward(x, 0.4, keep=keep)
    np.testing.assert_allclose(out, x * keep / 0.6)


def test_dropout_layer_takes_p_in_0_inclusive_to_1_exclusive():
    """Dropout's documented range is [0, 1): 0 is allowed (and drops nothing), 1 is refused by name."""
    x = np.arange(6.0).reshape(2, 3)
    out, _ = Dropout(0.0, "d").forward(x, {}, training=True, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(out, x)
    for p in (1, 1.5, -0.1):
        with pytest.raises(ValueError, match=rf"dropout must lie in \[0, 1\), got {p}"):
            Dropout(p, "d")


def test_build_tower_has_no_dropout_by_default_and_names_each_layers_output():
    """build_tower(n_hidden, dropout=0.0): per hidden layer h<l> (Affine on deep.W<l>, deep.b<l>) and a<l> (ReLU),
    then dropout<l> only when dropout is on, and last the output deep_logit on deep.w_out (no bias)."""
    plain = build_tower(2)
    assert [(type(layer).__name__, layer.name) for layer in plain] == [
        ("Affine", "h1"), ("ReLU", "a1"), ("Affine", "h2"), ("ReLU", "a2"), ("Affine", "deep_logit")]
    assert [layer.param_names for layer in plain] == [("deep.W1", "deep.b1"), (), ("deep.W2", "deep.b2"), (),
                                                      ("deep.w_out",)]
    assert [layer.name for layer in build_tower(2, 0.0)] == [layer.name for layer in plain]
    dropped = build_tower(2, dropout=0.25)
    assert [layer.name for layer in dropped] == ["h1", "a1", "dropout1", "h2", "a2", "dropout2", "deep_logit"]
    assert [layer.p for layer in dropped if isinstance(layer, Dropout)] == [0.25, 0.25]
    assert [layer.name for layer in build_tower(0)] == ["deep_logit"]


def test_a_dropout_layer_is_the_identity_unless_told_it_is_training():
    """Dropout.forward(training=False) by default: "the identity in evaluation", no generator needed."""
    x = np.arange(1.0, 13.0).reshape(3, 4)
    out, _ = Dropout(0.5, "d").forward(x, {})
    np.testing.assert_array_equal(out, x)
    trained, _ = Dropout(0.5, "d").forward(x, {}, training=True, rng=np.random.default_rng(0))
    assert set(np.unique(trained / x)) == {0.0, 2.0}  # training drops units and scales the rest by 1/(1-p)


def test_tower_forward_is_in_evaluation_mode_by_default():
    """tower_forward(training=False) by default: dropout is the identity and needs no generator."""
    model = WideDeep(WIDE_DIM, make_fields(), 2, hidden=(6, 4), seed=1, dropout=0.5)
    x = np.random.default_rng(0).standard_normal((5, model.deep_input_dim))
    out, _ = tower_forward(model.tower, x, model.params)
    expected, _ = tower_forward(model.tower, x, model.params, training=False)
    np.testing.assert_array_equal(out, expected)


def test_an_affine_layer_shows_its_name_and_parameter_names():
    """repr of a tower layer lists its parameter names, comma-separated (no bias for the output layer)."""
    assert repr(Affine("deep.W1", "deep.b1", "h1")) == "Affine(h1: deep.W1, deep.b1)"
    assert repr(Affine("deep.w_out", None, "deep_logit")) == "Affine(deep_logit: deep.w_out)"


def test_model_with_dropout_and_l2_passes_the_gradient_check(batch):
    model = WideDeep(WIDE_DIM, make_fields(), 2, hidden=(6, 4), seed=1, dropout=0.3, l2=0.7)
    assert [type(layer).__name__ for layer in model.tower] == ["Affine", "ReLU", "Dropout"] * 2 + ["Affine"]
    report = check_model(model, batch, dropout_seed=5)
    assert report.passed, report


def test_l2_adds_half_the_squared_deep_weights_to_the_loss(batch):
    plain = make_model()
    penalised = make_model()
    penalised.l2 = 0.5
    weights = ("deep.W1", "deep.W2", "deep.w_out")
    assert penalised.l2_names == weights
    penalty = 0.25 * sum(np.sum(plain.params[n] ** 2) for n in weights)
    assert penalised.loss(batch)[0] == pytest.approx(plain.loss(batch)[0] + penalty, rel=1e-12)
    g_plain, g_pen = plain.loss(batch)[1], penalised.loss(batch)[1]
    for name in weights:
        np.testing.assert_allclose(g_pen[name], g_plain[name] + 0.5 * plain.params[name], rtol=1e-12)
    np.testing.assert_array_equal(g_pen["deep.b1"], g_plain["deep.b1"])  # biases are not penalised


def test_dropout_is_the_identity_in_evaluation_and_seeded_in_training(batch):
    model = WideDeep(WIDE_DIM, make_fields(), 2, hidden=(6, 4), seed=1, dropout=0.5)
    no_dropout = WideDeep(WIDE_DIM, make_fields(), 2, hidden=(6, 4), seed=1)
    np.testing.assert_array_equal(model.forward(batch), no_dropout.forward(batch))
    np.testing.assert_array_equal(model.predict_proba(batch), no_dropout.predict_proba(batch))
    trained = model.trace(batch, training=True)
    assert np.mean(trained.layers["dropout1"] == 0) > np.mean(trained.layers["a1"] == 0)  # units were dropped
    again = WideDeep(WIDE_DIM, make_fields(), 2, hidden=(6, 4), seed=1, dropout=0.5)
    np.testing.assert_array_equal(again.loss(batch)[0], WideDeep(WIDE_DIM, make_fields(), 2, hidden=(6, 4), seed=1,
                                                                  dropout=0.5).loss(batch)[0])
    first, second = model.loss(batch)[0], model.loss(batch)[0]
    assert first != second  # new masks at every training step
    assert model.loss(batch, dropout_seed=3)[0] == model.loss(batch, dropout_seed=3)[0]
    with pytest.raises(ValueError, match="dropout"):
        WideDeep(WIDE_DIM, make_fields(), 2, dropout=1.0)
    with pytest.raises(ValueError, match="l2"):
        WideDeep(WIDE_DIM, make_fields(), 2, l2=-1.0)


def test_trace_names_every_intermediate_result(batch):
    model = make_model()
    trace = model.trace(batch)
    assert list(trace.layers) == ["h1", "a1", "h2", "a2", "deep_logit"]
    assert set(trace.embeddings) == {"country", "installed", "genres"}
    np.testing.assert_array_equal(trace.embeddings["country"],
                                  model.params["deep.embedding.country"][batch.categorical["country"]])
    assert trace.deep_input.shape == (8, model.deep_input_dim)
    np.testing.assert_allclose(trace.layers["h1"], trace.deep_input @ model.params["deep.W1"] + model.params["deep.b1"])
    np.testing.assert_array_equal(trace.layers["a1"], np.maximum(trace.layers["h1"], 0))
    assert trace.last_hidden is trace.layers["a2"]
    np.testing.assert_allclose(trace.probability, model.predict_proba(batch))
    wide = make_model("wide").trace(batch)
    assert wide.deep_input is None and wide.last_hidden is None and not wide.deep_logit.any()
    no_hidden = WideDeep(WIDE_DIM, make_fields(), 2, hidden=(), seed=0).trace(batch)
    assert no_hidden.last_hidden is no_hidden.deep_input


def test_repr_is_a_parameter_table():
    text = repr(make_model())
    assert "deep.W1" in text and f"({make_model().deep_input_dim}, 6)" in text and f"{make_model().n_params:,}" in text


def shared_table_model_and_batch(seed=0, dtype=np.float64):
    """Single-valued fields of widths 3, 3, 2 around a bag: tables (a, b) and (c) are shared blocks."""
    fields = [EmbeddingField("a", 4, 3), EmbeddingField("b", 6, 3), EmbeddingField("c", 5, 2),
              EmbeddingField("bag", 7, 2, multivalent=True), EmbeddingField("d", 3, 2)]
    rng = np.random.default_rng(seed)
    n = 12
    categorical = {f.name: rng.integers(0, f.vocab_size, n) for f in fields if not f.multivalent}
    categorical["bag"] = sp.csr_matrix(rng.poisson(0.5, (n, 7)).astype(float))
    batch = Batch(wide=sp.random(n, WIDE_DIM, density=0.3, format="csr", random_state=seed),
                  categorical=categorical, continuous=rng.standard_normal((n, 2)), labels=rng.integers(0, 2, n))
    return WideDeep(WIDE_DIM, fields, 2, hidden=(6,), seed=seed, dtype=dtype), batch


def test_consecutive_single_valued_fields_of_one_width_share_a_table_of_views():
    model, batch = shared_table_model_and_batch()
    tables = [b for b in model.blocks if not isinstance(b, EmbeddingField)]
    assert [[f.name for f in t.fields] for t in tables] == [["a", "b"], ["c"], ["d"]]
    ab = tables[0]
    assert ab.table.shape == (10, 3)
    assert model.params["deep.embedding.a"].base is ab.table and model.params["deep.embedding.b"].base is ab.table
    np.testing.assert_array_equal(ab.table[4:], model.params["deep.embedding.b"])
    # the deep input is still each field's rows side by side, in field order
    trace = model.trace(batch)
    np.testing.assert_array_equal(trace.embeddings["b"], model.params["deep.embedding.b"][batch.categorical["b"]])
    np.testing.assert_array_equal(trace.deep_input[:, 3:6], trace.embeddings["b"])
    # writing through a named parameter changes the predictions
    before = model.predict_proba(batch)
    model.params["deep.embedding.b"][...] += 1.0
    assert not np.allclose(model.predict_proba(batch), before)
    # the dense parameters are views of one flat buffer
    dense = [model.params[n] for n in ("bias", "deep.W1", "deep.b1", "deep.w_out")]
    assert all(p.base is dense[0].base for p in dense) and dense[0].base.ndim == 1


def test_trace_shows_each_shared_table_fields_own_embedding_rows():
    """trace's ``embeddings``: each field's (N, K) embedding of the batch, also for fields whose tables are blocks
    of one shared table (the first field of a block as much as the last); side by side, in field order, with the
    continuous inputs they are the deep input."""
    model, batch = shared_table_model_and_batch(seed=2)
    trace = model.trace(batch)
    for f in model.fields:
        if not f.multivalent:
            np.testing.assert_array_equal(trace.embeddings[f.name],
                                          model.params[f"deep.embedding.{f.name}"][batch.categorical[f.name]],
                                          err_msg=f.name)
    np.testing.assert_array_equal(np.hstack([trace.embeddings[f.name] for f in model.fields] + [batch.continuous]),
                                  trace.deep_input)


def test_shared_tables_pass_the_gradient_check_and_match_per_field_backwards():
    model, batch = shared_table_model_and_batch(seed=1)
    report = check_model(model, batch)
    assert report.passed, report
    z, cache = model._forward(batch, training=False, check=True)
    dz = np.random.default_rng(2).standard_normal(z.shape)
    grads = model.backward(dz, cache)
    da, _ = tower_backward(model.tower, dz[:, None], cache.tower)
    start = 0
    for f, field_cache in zip(model.fields, cache.fields):  # the per-field route of the exercises
        backward = layers.bag_embedding_backward if f.multivalent else layers.embedding_backward
        expected = backward(da[:, start:start + f.dim], field_cache)
        start += f.dim
        got = grads[f"deep.embedding.{f.name}"]
        np.testing.assert_array_equal(got.rows, expected.rows)
        np.testing.assert_array_equal(got.values, expected.values)  # bit for bit: the same sums in the same order
        assert got.shape == expected.shape == model.params[f"deep.embedding.{f.name}"].shape


def test_replacing_a_shared_table_view_is_refused_with_the_way_to_assign():
    model, batch = shared_table_model_and_batch()
    model.params["deep.embedding.a"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"assign into the parameter.*\[\.\.\.\] = values"):
        model.forward(batch)


def test_a_copied_model_shares_its_own_buffers_and_predicts_the_same():
    import copy
    import pickle
    model, batch = shared_table_model_and_batch()
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        np.testing.assert_array_equal(twin.predict_proba(batch), model.predict_proba(batch))
        twin.params["deep.embedding.a"][...] = 0.0  # its own table, not the original's
        assert not np.array_equal(twin.predict_proba(batch), model.predict_proba(batch))
        assert twin.params["deep.embedding.a"].base is not model.params["deep.embedding.a"].base


def test_the_towers_gradients_are_those_of_its_parameters_only():
    """The output layer is an Affine without bias: the tower's gradients name exactly the layers' parameters."""
    model, batch = make_model(), make_batch()
    z, cache = model._forward(batch, training=False, check=True)
    _, grads = tower_backward(model.tower, np.ones((len(z), 1)), cache.tower)
    names = {n for layer in model.tower for n in getattr(layer, "param_names", ())}
    assert set(grads) == names and "deep.w_out" in names and None not in grads


def test_bag_ids_out_of_range_are_named_as_integers():
    from wdnumpy import bags_from_lists
    with pytest.raises(ValueError, match=r"bag ids must lie in \[0, 3\), got values from -1 to 4$"):
        bags_from_lists([[0, -1], [], [4]], 3)


def test_bag_ids_are_refused_below_0_or_at_the_vocabulary_size():
    """bags_from_lists promises ids in [0, V): a negative id alone is refused, and V itself is out."""
    from wdnumpy import bags_from_lists
    with pytest.raises(ValueError, match=r"bag ids must lie in \[0, 3\), got values from -1 to 2$"):
        bags_from_lists([[0, -1], [2]], 3)
    with pytest.raises(ValueError, match=r"bag ids must lie in \[0, 3\), got values from 0 to 3$"):
        bags_from_lists([[0], [3]], 3)
    assert bags_from_lists([[0], [2]], 3).shape == (2, 3)


def test_a_single_valued_field_refuses_ids_that_are_not_one_dimensional():
    """A single-valued field takes ids of shape (N,): a column (N, 1) is refused naming field and shape."""
    batch = make_batch()
    batch.categorical["country"] = batch.categorical["country"][:, None]
    with pytest.raises(ValueError, match=r"field 'country' is single-valued: expected ids of shape \(N,\), "
                                         r"got \(8, 1\)"):
        make_model().forward(batch)


def test_batch_checks_name_what_is_wrong_and_allow_what_is_documented():
    model = make_model()
    zero_count = make_batch()
    bags = zero_count.categorical["installed"].copy()
    bags.data[0] = 0.0  # an explicit zero count is non-negative: allowed
    zero_count.categorical["installed"] = bags
    model.forward(zero_count)
    nan_wide = make_batch()
    nan_wide.wide.data[0] = np.nan
    with pytest.raises(ValueError, match="batch.wide contains NaN or infinite entries"):
        model.forward(nan_wide)
    short = make_batch()
    short.continuous = short.continuous[:-1]
    with pytest.raises(ValueError, match="different numbers of rows: .*'batch.continuous': 7"):
        model.forward(short)
    assert EmbeddingField("flag", vocab_size=2, dim=1).dim == 1  # a width of 1 is allowed


def test_a_batch_turns_lists_into_arrays():
    batch = Batch(wide=None, categorical={"country": [0, 1]}, continuous=[[0.5], [1.5]], labels=[0, 1],
                  weights=[1.0, 2.0])
    for part in (batch.categorical["country"], batch.continuous, batch.labels, batch.weights):
        assert isinstance(part, np.ndarray)
    assert batch.continuous.shape == (2, 1) and batch.labels.tolist() == [0, 1]


def test_a_field_left_out_of_a_per_column_id_dropout_gets_rate_0():
    fields = (EmbeddingField("user", vocab_size=5, dim=2, oov_id=0),
              EmbeddingField("app", vocab_size=4, dim=2, oov_id=0))
    model = WideDeep(fields=fields, hidden=(3,), mode="deep", id_dropout={"user": 0.25})
    assert model.id_dropout_rate(fields[0]) == 0.25 and model.id_dropout_rate(fields[1]) == 0.0


# -- the constructor's documented defaults, checks and messages; repr; id dropout and the dense backward -------

def test_constructor_defaults_are_the_documented_ones():
    """wide_dim 0 (a deep model needs none), no continuous inputs, hidden (100, 50), wide & deep, float64,
    seed 0, no dropout, no L2, no id dropout."""
    field = EmbeddingField("c", 4, 2)
    assert WideDeep(fields=[field], mode="deep").config() == {
        "wide_dim": 0, "fields": [{"name": "c", "vocab_size": 4, "dim": 2, "multivalent": False, "pooling": "sum",
                                   "oov_id": None}],
        "n_continuous": 0, "hidden": [100, 50], "mode": "deep", "dtype": "float64", "seed": 0, "dropout": 0.0,
        "l2": 0.0, "id_dropout": 0.0}
    default = WideDeep(wide_dim=2, fields=[field])
    assert default.mode == "wide_deep" and default.dtype == np.float64 and default.hidden == (100, 50)
    seeded = WideDeep(wide_dim=2, fields=[field], seed=0)
    for name, value in default.params.items():
        np.testing.assert_array_equal(value, seeded.params[name], err_msg=name)
    with pytest.raises(ValueError, match=r"^mode 'wide_deep' uses the wide part, so wide_dim must be >= 1, got 0$"):
        WideDeep(fields=[field])


def test_the_smallest_allowed_values_are_allowed():
    """hidden widths >= 1, wide_dim >= 1, n_continuous >= 1 alone for a deep part, dropout and l2 from 0."""
    model = WideDeep(wide_dim=1, n_continuous=1, hidden=(1, 1), dropout=0.0, l2=0.0, seed=0)
    assert [p.shape for p in model.params.values()] == [(1,), (1,), (1, 1), (1,), (1, 1), (1,), (1, 1)]
    assert WideDeep(n_continuous=1, hidden=(), mode="deep").deep_input_dim == 1
    assert WideDeep(wide_dim=2, mode="wide", dropout=0.999, l2=1e300).dropout == 0.999


@pytest.mark.parametrize("kwargs, message", [
    (dict(wide_dim=3, mode="both"), r"mode must be one of \('wide', 'deep', 'wide_deep'\), got 'both'"),
    (dict(wide_dim=3, dtype=np.int32), "dtype must be float32 or float64, got int32"),
    (dict(wide_dim=3, fields=[EmbeddingField("a", 3, 2), EmbeddingField("a", 4, 2)]),
     r"field names must be distinct, got \['a', 'a'\]"),
    (dict(wide_dim=3, n_continuous=1, hidden=(4, 0)), r"hidden widths must be >= 1, got \(4, 0\)"),
    (dict(wide_dim=0, n_continuous=2, mode="wide"), "mode 'wide' uses the wide part, so wide_dim must be >= 1, got 0"),
    (dict(wide_dim=3, n_continuous=0), "mode 'wide_deep' uses the deep part, which needs fields or n_continuous >= 1"),
    (dict(n_continuous=0, mode="deep"), "mode 'deep' uses the deep part, which needs fields or n_continuous >= 1"),
    (dict(wide_dim=3, mode="wide", dropout=1.0), r"dropout must lie in \[0, 1\), got 1.0"),
    (dict(wide_dim=3, mode="wide", dropout=-0.1), r"dropout must lie in \[0, 1\), got -0.1"),
    (dict(wide_dim=3, mode="wide", l2=-1e-9), "l2 must be a finite number >= 0, got -1e-09"),
    (dict(wide_dim=3, mode="wide", l2=float("inf")), "l2 must be a finite number >= 0, got inf"),
    (dict(wide_dim=3, mode="wide", l2=float("nan")), "l2 must be a finite number >= 0, got nan"),
    (dict(fields=[EmbeddingField("a", 3, 2, oov_id=0)], mode="deep", id_dropout=1.0),
     r"id_dropout must be a rate in \[0, 1\) or a dict of such rates keyed by field names \['a'\], got 1.0"),
    (dict(fields=[EmbeddingField("a", 3, 2, oov_id=0)], mode="deep", id_dropout=-0.5), "got -0.5$"),
    (dict(fields=[EmbeddingField("a", 3, 2, oov_id=0)], mode="deep", id_dropout={"b": 0.1}),
     r"keyed by field names \['a'\], got \{'b': 0.1\}$"),
    (dict(fields=[EmbeddingField("a", 3, 2, oov_id=0)], mode="deep", id_dropout={"a": 1.5}), r"got \{'a': 1.5\}$"),
    (dict(fields=[EmbeddingField("a", 3, 2, oov_id=0)], mode="deep", id_dropout={"": 0.1}), r"got \{'': 0.1\}$"),
])
def test_bad_constructor_arguments_are_named_with_the_value_given(kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}" if message.startswith(("mode", "dtype", "field", "hidden",
                                                                              "dropout", "l2", "id_")) else message):
        WideDeep(**kwargs)


def test_id_dropout_takes_rates_from_0_and_dicts_of_fields():
    fields = [EmbeddingField("a", 3, 2, oov_id=0), EmbeddingField("b", 3, 2, oov_id=0)]
    assert WideDeep(fields=fields, mode="deep", id_dropout={"a": 0.0, "b": 0.999}).id_dropout == {"a": 0.0, "b": 0.999}
    assert WideDeep(fields=fields, mode="deep", id_dropout=0).id_dropout == 0.0


def test_repr_is_a_table_of_every_parameter_its_shape_and_count():
    model = WideDeep(wide_dim=3, fields=[EmbeddingField("c", 500, 2)], n_continuous=1, hidden=(2,), dropout=0.25,
                     l2=0.5, id_dropout={"c": 0.1})
    assert repr(model).split("\n") == [
        "WideDeep(mode='wide_deep', hidden=(2,), dtype=float64, dropout=0.25, l2=0.5, id_dropout={'c': 0.1})",
        "  parameter         shape                count",
        "  bias              (1,)                     1",
        "  wide.w            (3,)                     3",
        "  deep.embedding.c  (500, 2)             1,000",
        "  deep.W1           (3, 2)                   6",
        "  deep.b1           (2,)                     2",
        "  deep.w_out        (2, 1)                   2",
        "  total                                  1,014"]


def test_a_shared_table_shows_its_fields_and_width():
    model, _ = shared_table_model_and_batch()
    assert [repr(b) for b in model.blocks if not isinstance(b, EmbeddingField)] == [
        "SharedTable(a, b; K=3)", "SharedTable(c; K=2)", "SharedTable(d; K=2)"]


def test_id_dropout_replaces_ids_of_single_valued_and_bag_fields_in_training_only():
    """WideDeep's id_dropout: in training, each id (each entry of a bag) becomes the OOV id with the rate; the OOV
    row starts at zero, so a dropped single id embeds as zeros and a bag entirely dropped pools to zeros.
    Predictions and evaluation-mode traces never drop."""
    fields = [EmbeddingField("c", 6, 2, oov_id=0), EmbeddingField("bag", 6, 2, multivalent=True, oov_id=0)]
    n = 400
    rng = np.random.default_rng(0)
    batch = Batch(wide=None, categorical={"c": rng.integers(1, 6, n),
                                          "bag": sp.csr_matrix(np.eye(6)[rng.integers(1, 6, n)])},
                  continuous=None, labels=rng.integers(0, 2, n))
    model = WideDeep(fields=fields, hidden=(3,), mode="deep", id_dropout=0.5, seed=0)

    def zero_rows(trace):
        return {name: float(np.mean(~trace.embeddings[name].any(axis=1))) for name in ("c", "bag")}

    training = zero_rows(model.trace(batch, training=True))
    assert all(0.4 < share < 0.6 for share in training.values()), training
    assert zero_rows(model.trace(batch)) == {"c": 0.0, "bag": 0.0}
    before = model.predict_proba(batch)
    model.loss(batch)
    np.testing.assert_array_equal(model.predict_proba(batch), before)


def test_trace_checks_the_batch_like_forward():
    """trace is "one forward pass": a batch that does not fit the model is refused the same way."""
    model = make_model()
    batch = make_batch()
    batch.continuous = batch.continuous[:, :1]
    with pytest.raises(ValueError) as expected:
        model.forward(batch)
    with pytest.raises(ValueError, match=f"^{re.escape(str(expected.value))}$"):
        model.trace(batch)


def test_a_dense_embedding_gradient_is_cut_into_each_fields_block(monkeypatch):
    """An embedding_backward that gives a dense (ΣV, K) gradient (as an exercise's may) still gets each field of a
    shared table its own block: the same numbers as the sparse route, as a dense array."""
    model, batch = shared_table_model_and_batch(seed=3)
    z, cache = model._forward(batch, training=False, check=True)
    dz = np.random.default_rng(4).standard_normal(z.shape)
    sparse = model.backward(dz, cache)
    real = layers.embedding_backward
    monkeypatch.setattr(layers, "embedding_backward", lambda dout, c: real(dout, c).to_dense())
    dense = model.backward(dz, cache)
    assert list(dense) == list(sparse)
    for f in model.fields:
        name = f"deep.embedding.{f.name}"
        if f.multivalent:
            assert isinstance(dense[name], RowGrad)
            continue
        assert isinstance(dense[name], np.ndarray) and dense[name].shape == (f.vocab_size, f.dim), name
        np.testing.assert_array_equal(dense[name], sparse[name].to_dense(), err_msg=name)


def test_config_gives_the_constructor_arguments_back():
    """config() is "the constructor arguments, as plain JSON-able values": the fields as dicts, which the
    constructor takes as well as EmbeddingFields; WideDeep(**config) is the same model."""
    import json
    model = WideDeep(3, [EmbeddingField("c", 4, 2, oov_id=0), EmbeddingField("bag", 5, 3, multivalent=True)], 1,
                     hidden=(2,), seed=7, dtype=np.float32, dropout=0.5, l2=0.25, id_dropout={"c": 0.5})
    config = json.loads(json.dumps(model.config()))
    assert all(isinstance(f, dict) for f in config["fields"])
    again = WideDeep(**config)
    assert again.fields == model.fields and all(isinstance(f, EmbeddingField) for f in again.fields)
    assert again.config() == model.config() and repr(again) == repr(model)
    for name, value in model.params.items():
        np.testing.assert_array_equal(again.params[name], value, err_msg=name)


# -- forward's switches: training and check (mutmut survivors showed them unpinned) ------------------------------

def test_forward_in_training_mode_drops_as_training_does():
    """forward(training=True) "switches dropout on": units and ids are dropped, drawn from the model's seeded
    generators exactly as trace(training=True) draws them for a twin model; the default is evaluation mode."""
    fields = (EmbeddingField("country", 5, 3, oov_id=0),) + make_fields()[1:]

    def twin():
        return WideDeep(WIDE_DIM, fields, 2, hidden=(6, 4), seed=1, dropout=0.5, id_dropout=0.5)

    batch = make_batch(0)
    model = twin()
    evaluation = model.forward(batch)
    np.testing.assert_array_equal(model.forward(batch, training=False), evaluation)
    trained = model.forward(batch, training=True)
    assert not np.allclose(trained, evaluation)
    np.testing.assert_array_equal(trained, twin().trace(batch, training=True).logit)


def test_forward_with_check_false_skips_the_batch_check():
    """check=False skips check_batch: a batch the check refuses (labels of 2, which the logits never read) is
    refused by forward() and computed by forward(check=False), the same logits as with right labels."""
    model, batch = make_model(), make_batch(1)
    expected = model.forward(batch)
    batch.labels = np.full(len(batch.labels), 2.0)
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        model.forward(batch)
    np.testing.assert_array_equal(model.forward(batch, check=False), expected)


def test_a_dropout_seed_fixes_the_ids_that_id_dropout_replaces():
    """loss(dropout_seed=) draws "the ids id dropout replaces" from a generator seeded by it too: repeated calls
    drop the same ids (the same loss and gradients), while without a seed each call draws anew; so the gradient
    check of a model with id dropout passes."""
    fields = (EmbeddingField("country", 5, 3, oov_id=0),) + make_fields()[1:]
    model = WideDeep(WIDE_DIM, fields, 2, hidden=(6, 4), seed=1, id_dropout=0.5)
    batch = make_batch(0)
    first, again = model.loss(batch, dropout_seed=3), model.loss(batch, dropout_seed=3)
    assert first[0] == again[0]
    for name in model.params:
        a, b = (g[1][name].to_dense() if isinstance(g[1][name], RowGrad) else g[1][name] for g in (first, again))
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert len({model.loss(batch)[0] for _ in range(4)}) > 1  # the model's own generator: new ids each call
    assert check_model(model, batch, dropout_seed=3).passed
