"""The exercise checkers and the switch.

- each checker fails an unfinished TODO ("not implemented yet") and passes its solution;
- each checker fails planted usual mistakes and names them with their specific hint;
- no return value, however wrong its type or shape, makes a checker raise;
- ``use(...)`` switches the library's functions and restores them after the block and after an
  exception; with the solutions switched in, Wide & Deep trains on Adult to the library's AUC.
"""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import wdnumpy.features as features_package
from wdnumpy import layers, losses, optim
from wdnumpy.exercises import CHECKERS, SWITCHABLE, solutions, use
from wdnumpy.features import Tokens, combine_keys, numeric, tokens
from wdnumpy.layers import RowGrad
from wdnumpy.model import WideDeep

# ---------------------------------------------------------------------------
# Planted mistakes: name → [(student function, mistake key, phrase of its hint)]
# ---------------------------------------------------------------------------


def _rows_of(X):
    return np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))


def wide_fancy_index(dy, cache):
    dw = np.zeros_like(cache.w)
    dw[cache.X.indices] += cache.X.data * dy[_rows_of(cache.X)]  # repeats: one contribution survives
    return dw


def wide_rowgrad_not_summed(dy, cache):
    X = cache.X
    return RowGrad(X.indices.astype(np.int64), X.data * dy[_rows_of(X)], cache.w.shape)


def wide_values_ignored(dy, cache):
    X = cache.X
    return np.asarray((X != 0).astype(float).T @ dy)


def wide_missing_transpose(dy, cache):
    return cache.X @ dy


def wide_extra_mean(dy, cache):
    return cache.X.T @ dy / dy.shape[0]


def wide_matrix_sum(dy, cache):
    return cache.X.multiply(dy[:, None]).sum(axis=0)  # a (1, D) numpy.matrix


def wide_sparse(dy, cache):
    return cache.X.T @ sp.csr_matrix(dy[:, None])  # (D, 1) sparse


def wide_scales_dy_in_place(dy, cache):
    dy *= 2.0
    return cache.X.T @ dy / 2.0


def embedding_fancy_index(dout, cache):
    dE = np.zeros(cache.table_shape)
    dE[cache.ids] += dout
    return dE


def embedding_per_example(dout, cache):
    return dout.copy()  # one row per example instead of one per id


def embedding_averaged(dout, cache):
    dE = np.zeros(cache.table_shape)
    np.add.at(dE, cache.ids, dout)
    counts = np.maximum(np.bincount(cache.ids, minlength=cache.table_shape[0]), 1)
    return dE / counts[:, None]


def embedding_clears_dout(dout, cache):
    dE = np.zeros(cache.table_shape)
    np.add.at(dE, cache.ids, dout)
    dout[:] = 0.0
    return dE


def bag_fancy_index(dout, cache):
    bags = cache.bags
    rows = _rows_of(bags)
    scale = np.ones(bags.shape[0]) if cache.scale is None else cache.scale
    dE = np.zeros(cache.table_shape)
    dE[bags.indices] += dout[rows] * (bags.data * scale[rows])[:, None]
    return dE


def bag_counts_ignored(dout, cache):
    bags = cache.bags
    rows = _rows_of(bags)
    scale = np.ones(bags.shape[0]) if cache.scale is None else cache.scale
    dE = np.zeros(cache.table_shape)
    np.add.at(dE, bags.indices, dout[rows] * scale[rows][:, None])
    return dE


def bag_scale_ignored(dout, cache):
    return np.asarray(cache.bags.T @ dout)


def bag_sparse(dout, cache):
    scale = 1.0 if cache.scale is None else cache.scale[:, None]
    return cache.bags.T @ sp.csr_matrix(dout * scale)


def affine_dx_missing_transpose(dout, cache):
    return dout @ cache.W, cache.x.T @ dout, dout.sum(axis=0) if cache.has_bias else None


def affine_db_wrong_axis(dout, cache):
    return dout @ cache.W.T, cache.x.T @ dout, dout.sum(axis=1) if cache.has_bias else None


def affine_db_mean(dout, cache):
    return dout @ cache.W.T, cache.x.T @ dout, dout.mean(axis=0) if cache.has_bias else None


def affine_db_always(dout, cache):
    return dout @ cache.W.T, cache.x.T @ dout, dout.sum(axis=0)


def affine_dW_transposed(dout, cache):
    return dout @ cache.W.T, dout.T @ cache.x, dout.sum(axis=0) if cache.has_bias else None


def relu_masks_dout(dout, cache):
    dx = dout  # the classic: dx is dout itself
    dx[~cache.positive] = 0.0
    return dx


def relu_inverted(dout, cache):
    return dout * ~cache.positive


def relu_of_dout(dout, cache):
    return np.maximum(dout, 0.0)


def loss_sum(z, y, weights=None):
    per = np.logaddexp(0.0, z) - y * z
    return float(per.sum() if weights is None else (weights * per).sum() / weights.sum() * z.size), (z, y, weights)


def loss_overflow(z, y, weights=None):
    per = np.log(1.0 + np.exp(z)) - y * z
    return float(per.mean() if weights is None else (weights * per).sum() / weights.sum()), (z, y, weights)


def loss_weights_ignored(z, y, weights=None):
    return float((np.logaddexp(0.0, z) - y * z).mean()), (z, y, weights)


def loss_clips_in_place(z, y, weights=None):
    np.clip(z, -500, 500, out=z)  # the caller's logits of ±1e4 become ±500
    return solutions.sigmoid_cross_entropy_forward(z, y, weights)


def loss_dict_cache(z, y, weights=None):
    loss, _ = solutions.sigmoid_cross_entropy_forward(z, y, weights)
    return loss, {"z": z, "y": y}


def dz_missing_mean(cache):
    z, y, weights = cache
    p = 1 / (1 + np.exp(-np.clip(z, -500, 500)))
    return (p - y) if weights is None else (p - y) * weights / weights.sum() * z.size


def dz_overflow(cache):
    z, y, weights = cache
    error = np.exp(z) / (1 + np.exp(z)) - y
    return error / z.size if weights is None else error * weights / weights.sum()


def dz_weights_over_n(cache):
    z, y, weights = cache
    error = solutions._sigmoid(z) - y
    return error / z.size if weights is None else error * weights / z.size


def dz_sign(cache):
    return -solutions.sigmoid_cross_entropy_backward(cache)


def ftrl_in_place(w, z, n, g, alpha, beta, l1, l2):
    sigma = (np.sqrt(n + g * g) - np.sqrt(n)) / alpha
    z += g - sigma * w
    n += g * g
    w[...] = np.where(np.abs(z) <= l1, 0.0, -(z - np.sign(z) * l1) / ((beta + np.sqrt(n)) / alpha + l2))
    return w, z, n


def ftrl_same_array(w, z, n, g, alpha, beta, l1, l2):
    new_w, new_z, new_n = solutions.ftrl_update(w, z, n, g, alpha, beta, l1, l2)
    return new_w, new_w, new_n  # w and z are one array


def ftrl_new_n_in_sigma(w, z, n, g, alpha, beta, l1, l2):
    n = n + g * g
    sigma = (np.sqrt(n) - np.sqrt(n)) / alpha
    z = z + g - sigma * w
    shrunk = np.sign(z) * np.maximum(np.abs(z) - l1, 0.0)
    return -shrunk / ((beta + np.sqrt(n)) / alpha + l2), z, n


def ftrl_no_l1_zero(w, z, n, g, alpha, beta, l1, l2):
    n_new = n + g * g
    z = z + g - (np.sqrt(n_new) - np.sqrt(n)) / alpha * w
    return -(z - np.sign(z) * l1) / ((beta + np.sqrt(n_new)) / alpha + l2), z, n_new


def _keys_by_loops(a, b, b_first=False, swap=False):
    """The crosses' keys row by row, with a's or b's token first and the keys combined either way."""
    keys = []
    for n in range(a.indptr.size - 1):
        ia, ib = range(a.indptr[n], a.indptr[n + 1]), range(b.indptr[n], b.indptr[n + 1])
        for i, j in ([(i, j) for j in ib for i in ia] if b_first else [(i, j) for i in ia for j in ib]):
            first, second = (b.keys[j:j + 1], a.keys[i:i + 1]) if swap else (a.keys[i:i + 1], b.keys[j:j + 1])
            keys.append(combine_keys(first, second)[0])
    return np.array(keys, dtype=np.uint64)


def cross_b_first(a, b):
    right = solutions.cross_tokens(a, b)
    return Tokens(right.indptr, right.ids, _keys_by_loops(a, b, b_first=True))


def cross_swapped_keys(a, b):
    right = solutions.cross_tokens(a, b)
    return Tokens(right.indptr, right.ids, _keys_by_loops(a, b, swap=True))


def cross_from_ids(a, b):
    keyed = solutions.cross_tokens(Tokens(a.indptr, a.ids, a.ids.astype(np.uint64)),
                                   Tokens(b.indptr, b.ids, b.ids.astype(np.uint64)))
    return keyed


def cross_sum_counts(a, b):
    result = solutions.cross_tokens(a, b)
    counts = np.diff(a.indptr) + np.diff(b.indptr)
    return Tokens(np.concatenate([[0], np.cumsum(counts)]), result.ids, result.keys)


def quantile_left(x, boundaries, n_quantiles):
    return np.searchsorted(boundaries, x, side="left") / (n_quantiles - 1)


def quantile_over_n(x, boundaries, n_quantiles):
    return np.searchsorted(boundaries, x, side="right") / n_quantiles


def quantile_integer(x, boundaries, n_quantiles):
    return np.searchsorted(boundaries, x, side="right") // (n_quantiles - 1)


def quantile_one_too_high(x, boundaries, n_quantiles):
    return (np.searchsorted(boundaries, x, side="right") + 1) / (n_quantiles - 1)


def _backward_with(self, dz, cache, wide_share=1.0, deep_share=1.0, field_start_zero=False, forward_order=False,
                   bias=None):
    grads = {"bias": np.array([dz.sum()]) if bias is None else bias(dz)}
    if self.uses_wide:
        grads["wide.w"] = layers.sparse_linear_backward(dz * wide_share, cache.wide)
    if self.uses_deep:
        d = (dz * deep_share)[:, None]
        pairs = zip(self.tower, cache.tower) if forward_order else zip(reversed(self.tower), reversed(cache.tower))
        for layer, layer_cache in pairs:
            d, layer_grads = layer.backward(d, layer_cache)
            grads.update(layer_grads)
        start = 0
        for f, field_cache in zip(self.fields, cache.fields):
            piece = d[:, :f.dim] if field_start_zero else d[:, start:start + f.dim]
            start += f.dim
            backward = layers.bag_embedding_backward if f.multivalent else layers.embedding_backward
            grads[f"deep.embedding.{f.name}"] = backward(piece, field_cache)
    return grads


def backward_split(self, dz, cache):
    return _backward_with(self, dz, cache, wide_share=0.5, deep_share=0.5)


def backward_fields_from_zero(self, dz, cache):
    return _backward_with(self, dz, cache, field_start_zero=True)


def backward_forward_order(self, dz, cache):
    return _backward_with(self, dz, cache, forward_order=True)


def backward_bias_mean(self, dz, cache):
    return _backward_with(self, dz, cache, bias=lambda dz: np.array([dz.mean()]))


def backward_ignores_mode(self, dz, cache):
    grads = {"bias": np.array([dz.sum()]), "wide.w": layers.sparse_linear_backward(dz, cache.wide)}
    d = dz[:, None]
    for layer, layer_cache in zip(reversed(self.tower), reversed(cache.tower)):
        d, layer_grads = layer.backward(d, layer_cache)
        grads.update(layer_grads)
    return grads


MISTAKES = {
    "sparse_linear_backward": [
        (wide_fancy_index, "repeats_dropped", "fancy indexing keeps only one of several equal indices"),
        (wide_rowgrad_not_summed, "repeats_dropped", "a RowGrad holds each touched row once"),
        (wide_values_ignored, "values_ignored", "the values stored in X were ignored"),
        (wide_missing_transpose, "missing_transpose", "missing transpose"),
        (wide_extra_mean, "extra_mean", "times too small (divided by N"),
        (wide_matrix_sum, "matrix_return", "is a numpy.matrix of shape (1, 6)"),
        (wide_sparse, "sparse_return", "is a scipy.sparse"),
        (wide_scales_dy_in_place, "in_place", "dy was changed in place"),
    ],
    "embedding_backward": [
        (embedding_fancy_index, "repeats_dropped", "id 3 occurs in three rows"),
        (embedding_per_example, "wrong_shape", "dE has shape (6, 3); expected (5, 3)"),
        (embedding_averaged, "repeats_averaged", "the rows of a repeated id were averaged"),
        (embedding_clears_dout, "in_place", "dout was changed in place"),
    ],
    "bag_embedding_backward": [
        (bag_fancy_index, "repeats_dropped", "ids repeated across bags dropped"),
        (bag_counts_ignored, "counts_ignored", "an id's count inside a bag was ignored"),
        (bag_scale_ignored, "scale_ignored", "mean pooling's factor was ignored"),
        (bag_sparse, "sparse_return", "is a scipy.sparse"),
    ],
    "affine_backward": [
        (affine_dx_missing_transpose, "missing_transpose", "missing transpose in dx"),
        (affine_db_wrong_axis, "wrong_shape", "db has shape (5,); expected (3,)"),
        (affine_db_wrong_axis, "wrong_axis", "db was summed over the wrong axis"),
        (affine_db_mean, "averaged", "db is 5 times too small"),
        (affine_db_always, "db_without_bias", "db must be None"),
        (affine_dW_transposed, "transposed_result", "dW is the transpose of the expected gradient"),
    ],
    "relu_backward": [
        (relu_masks_dout, "in_place", "dout was changed in place"),
        (relu_masks_dout, "aliased", "shares memory with the input dout"),
        (relu_inverted, "mask_inverted", "the mask is inverted"),
        (relu_of_dout, "relu_of_dout", "dx is the ReLU of dout"),
    ],
    "sigmoid_cross_entropy_forward": [
        (loss_sum, "missing_mean", "the loss is the mean over the batch"),
        (loss_overflow, "overflow", "an exponential overflowed"),
        (loss_weights_ignored, "weights_ignored", "the weights were ignored"),
        (loss_clips_in_place, "in_place", "z was changed in place"),
        (loss_dict_cache, "cache_format", "the cache must be the tuple (z, y, weights)"),
    ],
    "sigmoid_cross_entropy_backward": [
        (dz_missing_mean, "missing_mean", "its gradient keeps that 1/N"),
        (dz_overflow, "overflow", "an exponential overflowed"),
        (dz_weights_over_n, "weights_over_n", "normalised by the total weight, not by the number of examples"),
        (dz_sign, "sign", "dz has the opposite sign"),
    ],
    "ftrl_update": [
        (ftrl_in_place, "in_place", "z was changed in place"),
        (ftrl_same_array, "aliased", "the returned w and z are the same memory"),
        (ftrl_new_n_in_sigma, "new_n_in_sigma", "σ was computed from the updated n"),
        (ftrl_no_l1_zero, "no_l1", "weights whose |z| ≤ λ₁ must be exactly 0"),
    ],
    "cross_tokens": [
        (cross_b_first, "pair_order", "ordered by a's token first"),
        (cross_swapped_keys, "key_order", "combine_keys is order-dependent"),
        (cross_from_ids, "ids_not_keys", "keyed from the tokens' ids"),
        (cross_sum_counts, "row_counts", "the number of crosses per row is wrong"),
    ],
    "quantile_normalize": [
        (quantile_left, "boundary_side", "values exactly on a boundary were put in the quantile below it"),
        (quantile_over_n, "denominator", "the outputs do not span [0, 1]"),
        (quantile_integer, "integer_output", "the outputs are integers"),
        (quantile_one_too_high, "off_by_one", "every value is one quantile too high"),
    ],
    "backward": [
        (backward_split, "dz_split", "each part gets the whole dz"),
        (backward_fields_from_zero, "field_columns", "read from the wrong columns"),
        (backward_forward_order, "raised", "the tower is undone last layer first"),
        (backward_bias_mean, "bias_averaged", "the bias's gradient is 6 times too small"),
        (backward_ignores_mode, "raised", "this model has mode 'deep'"),
    ],
}


def _stub(*args, **kwargs):
    raise NotImplementedError


def test_every_switchable_function_has_a_checker_a_solution_and_planted_mistakes():
    assert list(CHECKERS) == list(SWITCHABLE) == list(solutions.ALL)
    assert len(CHECKERS) == 11
    for name in CHECKERS:
        assert len({key for _, key, _ in MISTAKES[name]}) >= 2, name


@pytest.mark.parametrize("name", list(CHECKERS))
def test_the_untouched_stub_is_not_implemented_yet_and_gets_no_formula(name, capsys):
    result = CHECKERS[name](_stub)
    printed = capsys.readouterr().out
    assert not result.passed and result.mistakes == ("not_implemented",)
    assert "FAIL — not implemented yet" in printed
    assert len(printed.strip().splitlines()) == 1  # one line: no hint, no expected values, no formula


@pytest.mark.parametrize("name", list(CHECKERS))
def test_the_solution_passes(name, capsys):
    result = CHECKERS[name](getattr(solutions, name))
    printed = capsys.readouterr().out
    assert result.passed and result.mistakes == () and printed.rstrip().endswith("=> PASS")
    assert result.error <= 1e-7


@pytest.mark.parametrize("case", [(name, i) for name, cases in MISTAKES.items() for i in range(len(cases))],
                         ids=lambda c: f"{c[0]}-{MISTAKES[c[0]][c[1]][0].__name__}")
def test_a_planted_mistake_fails_with_its_hint(case, capsys):
    name, i = case
    student, key, phrase = MISTAKES[name][i]
    result = CHECKERS[name](student)
    printed = capsys.readouterr().out
    assert not result.passed
    assert key in result.mistakes, result.message
    assert phrase in result.message and phrase in printed
    assert "FAIL" in printed


def test_a_wrong_value_shows_expected_against_actual(capsys):
    result = CHECKERS["sparse_linear_backward"](wide_fancy_index)
    capsys.readouterr()
    lines = result.message.splitlines()
    expected = next(line for line in lines if "expected dw:" in line)
    actual = next(line for line in lines if "actual   dw:" in line)
    assert expected.split(":")[1] != actual.split(":")[1]


class Unreadable:
    def __array__(self, *args, **kwargs):
        raise RuntimeError("cannot be an array")


def weird_returns():
    """Return values of every wrong type and shape a student's function might produce."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # np.matrix
        matrix = np.matrix([[1.0]])
    return [None, "text", 3, 2.5, [1.0, 2.0], (1, 2, 3), (None, None, None), {}, np.zeros(0), np.zeros((2, 2, 2)),
            np.array(["a"]), np.full(6, np.nan), np.ones(6, complex), np.array([object()] * 3),
            sp.eye(3, format="csr"), matrix, RowGrad(np.array([0.5]), np.ones(1), (6,)),
            RowGrad(np.array([99]), np.ones(1), (6,)), Unreadable(), (Unreadable(), Unreadable(), Unreadable()),
            (np.zeros(3), "x", None), iter([1]), (float("nan"), None),
            Tokens(np.zeros(2, dtype=np.int64), np.zeros(0), np.zeros(0))]


@pytest.mark.parametrize("name", list(CHECKERS))
def test_no_return_value_makes_a_checker_raise(name, capsys):
    for value in weird_returns():
        assert not CHECKERS[name](lambda *args, value=value: value).passed
    assert not CHECKERS[name](42).passed  # not even a function
    assert not CHECKERS[name](lambda *args: {}[0]).passed  # a KeyError inside the student's code
    capsys.readouterr()


def test_no_gradient_value_makes_the_backward_checker_raise(capsys):
    from wdnumpy.exercises import tiny_model
    names = list(tiny_model().params)
    for value in weird_returns():
        assert not CHECKERS["backward"](lambda self, dz, cache, value=value: {k: value for k in names}).passed
    capsys.readouterr()


def test_wrong_shapes_are_reported_with_the_shapes(capsys):
    result = CHECKERS["relu_backward"](lambda dout, cache: dout[:, :2] if dout.ndim == 2 else dout)
    capsys.readouterr()
    assert "wrong_shape" in result.mistakes
    assert "dx has shape (4, 2); expected (4, 5)" in result.message
    assert "relative error inf" not in result.message


# ---------------------------------------------------------------------------
# The switch
# ---------------------------------------------------------------------------

def current():
    """Every attribute the switch can change, by (owner, attribute)."""
    return {
        "layers": {n: getattr(layers, n) for n in ("sparse_linear_backward", "embedding_backward",
                                                   "bag_embedding_backward", "affine_backward", "relu_backward")},
        "losses": {n: getattr(losses, n) for n in ("sigmoid_cross_entropy_forward", "sigmoid_cross_entropy_backward")},
        "optim": optim.ftrl_update,
        "tokens": tokens.cross_tokens, "features.cross_tokens": features_package.cross_tokens,
        "numeric": numeric.quantile_normalize, "features.quantile_normalize": features_package.quantile_normalize,
        "backward": WideDeep.__dict__["backward"],
    }


def test_use_switches_every_name_and_restores_it_on_exit():
    before = current()
    with use(**solutions.functions()) as calls:
        inside = current()
        assert layers.sparse_linear_backward.__wrapped__ is solutions.sparse_linear_backward
        assert optim.ftrl_update.__wrapped__ is solutions.ftrl_update
        assert tokens.cross_tokens.__wrapped__ is solutions.cross_tokens
        assert numeric.quantile_normalize.__wrapped__ is solutions.quantile_normalize
        assert WideDeep.backward.__wrapped__ is solutions.backward
        assert set(calls) == set(SWITCHABLE) and not any(calls.values())
    assert current() == before
    assert all(inside["layers"][n] is not before["layers"][n] for n in before["layers"])


def test_use_restores_everything_after_an_exception():
    before = current()
    with pytest.raises(ZeroDivisionError):
        with use(**solutions.functions()):
            1 / 0
    assert current() == before


def test_use_rejects_unknown_names_and_non_functions_before_switching_anything():
    before = current()
    with pytest.raises(ValueError, match="switchable names are sparse_linear_backward, embedding_backward"):
        with use(sparse_linear_backward=solutions.sparse_linear_backward, sparse_linear_forward=print):
            pass
    with pytest.raises(ValueError, match="needs functions"):
        with use(relu_backward=3):
            pass
    assert current() == before


def test_none_keeps_the_library_function_and_nothing_switched_is_bit_identical():
    from wdnumpy.exercises import tiny_batch, tiny_model
    model, batch = tiny_model(dropout=0.25), tiny_batch()
    loss, grads = model.loss(batch, dropout_seed=3)
    with use(relu_backward=None) as calls:
        assert layers.relu_backward is current()["layers"]["relu_backward"]
        again, grads_again = model.loss(batch, dropout_seed=3)
    assert dict(calls) == {} and again == loss
    for name, grad in grads.items():
        dense = grad.to_dense() if hasattr(grad, "to_dense") else grad
        other = grads_again[name].to_dense() if hasattr(grads_again[name], "to_dense") else grads_again[name]
        assert np.array_equal(dense, other)


def test_the_library_looks_each_function_up_at_call_time():
    """A model step, an optimizer step and a spec transform each reach the switched-in function."""
    from wdnumpy.datasets import adult_spec, load_adult
    from wdnumpy.exercises import tiny_batch, tiny_model
    from wdnumpy.optim import make_optimizer

    columns, labels = load_adult("train")
    columns = {k: v[:300] for k, v in columns.items()}
    with use(**solutions.functions()) as calls:
        spec = adult_spec().fit(columns)
        spec.transform(columns, labels[:300])
        model = tiny_model(dropout=0.25)
        loss, grads = model.loss(tiny_batch())
        make_optimizer("paper").step(model.params, grads)
    assert all(count > 0 for count in calls.values()), calls


def test_the_checkers_compare_with_the_library_even_inside_use(capsys):
    """Expected values come from the library's own functions, so a wrong function switched in
    does not make a wrong answer pass."""
    with use(sparse_linear_backward=wide_fancy_index, embedding_backward=embedding_fancy_index,
             backward=backward_split):
        assert not CHECKERS["sparse_linear_backward"](wide_fancy_index).passed
        assert not CHECKERS["embedding_backward"](embedding_fancy_index).passed
        assert not CHECKERS["backward"](backward_split).passed
        assert CHECKERS["backward"](solutions.backward).passed
    capsys.readouterr()


# ---------------------------------------------------------------------------
# Wide & Deep on Adult with every solution switched in
# ---------------------------------------------------------------------------

def test_wide_deep_trains_on_adult_with_the_solutions_to_the_library_auc():
    from wdnumpy.datasets import adult_spec, load_adult
    from wdnumpy.metrics import roc_auc
    from wdnumpy.train import make_model, train

    train_columns, train_labels = load_adult("train")
    test_columns, test_labels = load_adult("test")

    def test_auc():
        spec = adult_spec().fit(train_columns)
        model = make_model("wide_deep", spec, seed=0)
        train(model, spec.transform(train_columns, train_labels), optimizer="paper", epochs=2, seed=0)
        return roc_auc(test_labels, model.predict_proba(spec.transform(test_columns)))

    library_auc = test_auc()
    with use(**solutions.functions()) as calls:
        solutions_auc = test_auc()
    assert library_auc > 0.89  # two epochs are enough to learn something
    assert abs(solutions_auc - library_auc) <= 0.002
    steps = 2 * -(-len(train_labels) // 256)
    assert calls["backward"] == calls["ftrl_update"] == calls["sigmoid_cross_entropy_backward"] == steps
    assert calls["cross_tokens"] > 0 and calls["quantile_normalize"] > 0
    assert [name for name, count in calls.items() if count == 0] == ["bag_embedding_backward"]  # Adult has no bags


# ---------------------------------------------------------------------------
# Reading a student's functions from the notebooks
# ---------------------------------------------------------------------------

def test_your_functions_switches_in_only_what_passes(tmp_path, capsys):
    """A notebook whose TODO holds a solution is used; an untouched one, and a wrong one, are not."""
    import inspect
    import shutil
    from pathlib import Path

    import nbformat

    from wdnumpy.exercises import your_functions

    folder = Path(__file__).resolve().parent.parent / "notebooks" / "exercises"
    for path in folder.glob("0*.ipynb"):
        shutil.copy(path, tmp_path / path.name)

    def fill(stem, source):
        notebook = nbformat.read(tmp_path / f"{stem}.ipynb", as_version=4)
        [cell] = [c for c in notebook.cells if "TODO: your code starts here" in c.source]
        cell.source = "# TODO: your code starts here\n" + source
        nbformat.write(notebook, tmp_path / f"{stem}.ipynb")

    fill("01_wide_backward", inspect.getsource(solutions.sparse_linear_backward))
    fill("05_ftrl_update", inspect.getsource(ftrl_new_n_in_sigma).replace("ftrl_new_n_in_sigma", "ftrl_update"))
    mine = your_functions(tmp_path, backward=solutions.backward)
    printed = capsys.readouterr().out
    assert set(mine) == {"sparse_linear_backward", "backward"}
    assert "ftrl_update" in printed and "its checker fails (new_n_in_sigma)" in printed
    assert "2 of 11 functions are yours" in printed
