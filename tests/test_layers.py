"""Every layer's backward against finite differences, and the classic backward bugs."""
import numpy as np
import pytest
import scipy.sparse as sp

from wdnumpy import bags_from_lists, layers
from wdnumpy.gradcheck import check_layer

BOUND = 1e-7


def weighted_csr():
    """(5, 6) CSR with weighted entries and column 2 in every row."""
    rows = np.array([0, 0, 1, 1, 2, 3, 3, 3, 4, 4])
    cols = np.array([2, 5, 2, 0, 2, 2, 1, 4, 2, 5])
    vals = np.array([1.0, 1.0, 0.5, 1.0, 2.0, 1.0, 1.0, 3.0, 1.0, 0.25])
    return sp.csr_matrix((vals, (rows, cols)), shape=(5, 6))


def test_sparse_linear_gradient(rng):
    report = check_layer(layers.sparse_linear_forward, layers.sparse_linear_backward,
                         {"X": weighted_csr(), "w": rng.standard_normal(6)}, wrt="w")
    assert report.passed, report


def test_sparse_linear_returns_touched_rows_only(rng):
    X = weighted_csr()
    dy = rng.standard_normal(5)
    _, cache = layers.sparse_linear_forward(X, np.zeros(6))
    g = layers.sparse_linear_backward(dy, cache)
    assert g.rows.tolist() == [0, 1, 2, 4, 5]  # column 3 is never active
    np.testing.assert_allclose(g.to_dense(), X.T @ dy, rtol=1e-14)


def test_embedding_gradient_with_repeated_ids(rng):
    report = check_layer(layers.embedding_forward, layers.embedding_backward,
                         {"ids": np.array([3, 0, 3, 3, 1]), "E": rng.standard_normal((4, 2))}, wrt="E")
    assert report.passed, report


@pytest.mark.parametrize("pooling", ["sum", "mean"])
def test_bag_embedding_gradient(pooling, rng):
    bags = bags_from_lists([[1, 1, 2], [], [0, 2, 2, 2], [1]], 4)  # repeats in and across bags, an empty bag
    report = check_layer(layers.bag_embedding_forward, layers.bag_embedding_backward,
                         {"bags": bags, "E": rng.standard_normal((4, 3)), "pooling": pooling}, wrt="E")
    assert report.passed, report


def test_bag_embedding_weighted_entries_gradient(rng):
    bags = sp.csr_matrix(np.array([[0.5, 0, 2.0], [0, 1.5, 0.5]]))
    report = check_layer(layers.bag_embedding_forward, layers.bag_embedding_backward,
                         {"bags": bags, "E": rng.standard_normal((3, 2)), "pooling": "mean"}, wrt="E")
    assert report.passed, report


def test_bag_pooling_values():
    E = np.arange(8.0).reshape(4, 2)
    bags = bags_from_lists([[1, 1, 3], []], 4)
    out_sum, _ = layers.bag_embedding_forward(bags, E, "sum")
    out_mean, _ = layers.bag_embedding_forward(bags, E, "mean")
    np.testing.assert_array_equal(out_sum, [[2 * 2 + 6, 2 * 3 + 7], [0, 0]])
    np.testing.assert_allclose(out_mean, [[10 / 3, 13 / 3], [0, 0]])
    with pytest.raises(ValueError, match="pooling"):
        layers.bag_embedding_forward(bags, E, "max")


def test_single_id_equals_one_element_bag(rng):
    E = rng.standard_normal((5, 3))
    ids = np.array([4, 0, 4, 2])
    gathered, c1 = layers.embedding_forward(ids, E)
    pooled, c2 = layers.bag_embedding_forward(bags_from_lists([[i] for i in ids], 5), E)
    np.testing.assert_allclose(gathered, pooled)
    dout = rng.standard_normal((4, 3))
    np.testing.assert_allclose(layers.embedding_backward(dout, c1).to_dense(),
                               layers.bag_embedding_backward(dout, c2).to_dense())


def test_affine_gradient(rng):
    report = check_layer(layers.affine_forward, layers.affine_backward,
                         {"x": rng.standard_normal((5, 4)), "W": rng.standard_normal((4, 3)),
                          "b": rng.standard_normal(3)}, wrt=("x", "W", "b"))
    assert report.passed, report


def test_affine_without_bias_gradient(rng):
    def backward(dout, cache):
        dx, dW, db = layers.affine_backward(dout, cache)
        assert db is None
        return dx, dW

    report = check_layer(layers.affine_forward, backward,
                         {"x": rng.standard_normal((5, 4)), "W": rng.standard_normal((4, 1)), "b": None},
                         wrt=("x", "W"))
    assert report.passed, report


def test_relu_at_exactly_zero_passes_no_gradient():
    """relu_forward's cache is the mask ``x > 0`` and relu_backward gives ``dout · [x > 0]``: 0 at x = 0."""
    x = np.array([[-1.0, 0.0, 2.0]])
    out, cache = layers.relu_forward(x)
    np.testing.assert_array_equal(out, [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(cache.positive, [[False, False, True]])
    np.testing.assert_array_equal(layers.relu_backward(np.ones_like(x), cache), [[0.0, 0.0, 1.0]])


def test_relu_gradient_away_from_kink(rng):
    x = rng.standard_normal((6, 5))
    x = np.where(np.abs(x) < 0.1, 0.5, x)  # centered differences across the kink at 0 are not defined
    report = check_layer(layers.relu_forward, layers.relu_backward, {"x": x}, wrt="x")
    assert report.passed, report


def test_sum_by_index_adds_repeats_that_fancy_index_drops():
    index = np.array([2, 0, 2, 2, 5])
    values = np.array([1.0, 10.0, 100.0, 1000.0, 3.0])
    naive = np.zeros(6)
    naive[index] += values  # the classic bug: only one of the three 2s survives
    rows, sums = layers.sum_by_index(index, values)
    assert rows.tolist() == [0, 2, 5]
    assert sums.tolist() == [10.0, 1101.0, 3.0]
    assert naive[2] != 1101.0
    matrix_values = np.stack([values, -values], axis=1)
    rows2, sums2 = layers.sum_by_index(index, matrix_values)
    reference = np.zeros((6, 2))
    np.add.at(reference, index, matrix_values)
    np.testing.assert_array_equal(reference[rows2], sums2)


def test_sum_by_index_sums_each_group_in_its_original_order():
    # the same numbers as a stable argsort and np.add.reduceat, bit for bit (the training results depend on it)
    rng = np.random.default_rng(3)
    spread = rng.standard_normal((500, 4)) * 10.0 ** rng.integers(-8, 8, (500, 1))  # rounding depends on the order
    for size, values in [(40, rng.standard_normal(3000)), (7, spread)]:
        index = rng.integers(0, size, values.shape[0]).astype(np.int32)
        order = np.argsort(index, kind="stable")
        starts = np.flatnonzero(np.concatenate(([True], np.diff(index[order]) != 0)))
        rows, sums = layers.sum_by_index(index, values)
        np.testing.assert_array_equal(rows, index[order][starts])
        assert rows.dtype == np.int64
        np.testing.assert_array_equal(sums, np.add.reduceat(values[order], starts, axis=0))


@pytest.mark.parametrize("bits", [8, 16, 17, 32, 40, 62])
def test_sum_by_index_sorts_every_16_bit_digit_of_large_indices(bits):
    # the sort goes 16 bits at a time: indices that agree in their low digits and differ only in a high
    # one must still be grouped and ordered, for tables of up to 2⁶² rows, given or not given the size
    rng = np.random.default_rng(bits)
    high = rng.integers(0, 2 ** bits, 200, dtype=np.int64) >> max(bits - 6, 0) << max(bits - 6, 0)
    each_bit = np.int64(1) << np.arange(bits, dtype=np.int64)  # a digit's every bit must be sorted on
    index = np.concatenate([high, high[::-1], high[:50] | 1, each_bit[::-1], each_bit])  # many repeats
    values = rng.standard_normal((index.size, 2)) * 10.0 ** rng.integers(-8, 8, (index.size, 1))
    order = np.argsort(index, kind="stable")
    starts = np.flatnonzero(np.concatenate(([True], np.diff(index[order]) != 0)))
    for size in (None, 2 ** max(bits, 12)):  # a table far larger than P: the sort, not the count
        for dtype in (np.int64, np.uint64) + ((np.int32,) if bits < 32 else ()):
            rows, sums = layers.sum_by_index(index.astype(dtype), values, size)
            np.testing.assert_array_equal(rows, index[order][starts])
            assert rows.dtype == np.int64
            np.testing.assert_array_equal(sums, np.add.reduceat(values[order], starts, axis=0))


def test_sum_by_index_takes_indices_of_every_integer_type():
    # ids of a small vocabulary may come as int8 or uint16 (a Batch accepts any integer ids)
    index = np.array([3, 1, 3, 0, 1, 3])
    values = np.arange(6.0)
    for dtype in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64):
        for size in (None, 4, 1000):
            rows, sums = layers.sum_by_index(index.astype(dtype), values, size)
            assert rows.tolist() == [0, 1, 3] and sums.tolist() == [3.0, 5.0, 7.0], (dtype, size)


def test_sum_by_index_sorts_the_top_row_of_a_table_one_past_a_16_bit_boundary():
    # a table of 2¹⁶ + 1 rows: its last row, 65,536, needs a 17th bit, so a second pass of the sort
    index = np.array([65_536, 3, 65_536, 0, 3])
    rows, sums = layers.sum_by_index(index, np.array([1.0, 2.0, 4.0, 8.0, 16.0]), 2 ** 16 + 1)
    assert rows.tolist() == [0, 3, 65_536] and sums.tolist() == [8.0, 18.0, 5.0]


def test_sum_by_index_empty():
    for size in (None, 5):
        rows, sums = layers.sum_by_index(np.array([], dtype=np.int32), np.zeros((0, 3)), size)
        assert rows.shape == (0,) and rows.dtype == np.int64 and sums.shape == (0, 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [3, 40, 600, 100_000])  # a table smaller than, near and far larger than P
def test_sum_by_index_counting_and_sorting_agree(size, dtype):
    # with the table's size the sum may count with bincount instead of sorting: same rows, same sums up to rounding
    rng = np.random.default_rng(size)
    index = rng.integers(0, size, 300)
    for values in (rng.standard_normal(300).astype(dtype), rng.standard_normal((300, 5)).astype(dtype)):
        rows, sums = layers.sum_by_index(index, values)
        rows_sized, sums_sized = layers.sum_by_index(index, values, size)
        np.testing.assert_array_equal(rows_sized, rows)
        assert rows_sized.dtype == np.int64 and sums_sized.dtype == dtype and sums_sized.shape == sums.shape
        np.testing.assert_allclose(sums_sized, sums, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_sum_by_index_counting_keeps_rows_whose_values_cancel():
    # a row the batch touched is in `rows` even when its values add up to 0 (lazy optimizers update exactly those)
    index = np.array([1, 1, 3])
    for size in (None, 4):
        rows, sums = layers.sum_by_index(index, np.array([2.0, -2.0, 5.0]), size)
        assert rows.tolist() == [1, 3] and sums.tolist() == [0.0, 5.0]
        rows, sums = layers.sum_by_index(index, np.array([[2.0, 1.0], [-2.0, -1.0], [5.0, 0.0]]), size)
        assert rows.tolist() == [1, 3] and sums.tolist() == [[0.0, 0.0], [5.0, 0.0]]


BACKWARD_CASES = {
    "sparse_linear": (layers.sparse_linear_forward, layers.sparse_linear_backward,
                      lambda rng: {"X": weighted_csr(), "w": rng.standard_normal(6)}),
    "embedding": (layers.embedding_forward, layers.embedding_backward,
                  lambda rng: {"ids": np.array([1, 1, 0]), "E": rng.standard_normal((3, 2))}),
    "bag_mean": (layers.bag_embedding_forward, layers.bag_embedding_backward,
                 lambda rng: {"bags": bags_from_lists([[1, 1], [0, 2]], 3), "E": rng.standard_normal((3, 2)),
                          "pooling": "mean"}),
    "affine": (layers.affine_forward, layers.affine_backward,
               lambda rng: {"x": rng.standard_normal((3, 4)), "W": rng.standard_normal((4, 2)),
                        "b": rng.standard_normal(2)}),
    "relu": (layers.relu_forward, layers.relu_backward, lambda rng: {"x": rng.standard_normal((3, 4))}),
    "dropout_training": (lambda x: layers.dropout_forward(x, 0.5, keep=np.arange(12).reshape(3, 4) % 3 > 0),
                         layers.dropout_backward, lambda rng: {"x": rng.standard_normal((3, 4))}),
    "dropout_evaluation": (lambda x: layers.dropout_forward(x, 0.5, training=False), layers.dropout_backward,
                           lambda rng: {"x": rng.standard_normal((3, 4))}),
}


def snapshot(value):
    return value.copy() if isinstance(value, np.ndarray) or sp.issparse(value) else value


def same(a, b):
    if sp.issparse(a):
        return (a != b).nnz == 0
    return np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b


@pytest.mark.parametrize("name", sorted(BACKWARD_CASES))
def test_forward_and_backward_leave_dout_and_inputs_untouched(name, rng):
    """Catches ``dx = dout; dx[x <= 0] = 0`` and its cousins."""
    forward, backward, make_inputs = BACKWARD_CASES[name]
    inputs = make_inputs(rng)
    before = {k: snapshot(v) for k, v in inputs.items()}
    out, cache = forward(**inputs)
    dout = rng.standard_normal(out.shape)
    dout_before = dout.copy()
    results = backward(dout, cache)
    assert np.array_equal(dout, dout_before), "backward changed dout in place"
    for key, value in inputs.items():
        assert same(value, before[key]), f"{name} changed input {key!r} in place"
    for result in results if isinstance(results, tuple) else (results,):
        if isinstance(result, np.ndarray):
            assert not np.shares_memory(result, dout), "a gradient aliases dout"


def test_mean_pooling_of_a_one_item_bag_and_of_weights_below_one():
    """A bag of total weight 1 is its one embedding, and one of total 0.5 is still a mean (only an empty
    bag, of total 0, pools to 0)."""
    E = np.arange(8.0).reshape(4, 2)
    bags = sp.csr_matrix(np.array([[0, 0, 1, 0], [0, 0.25, 0, 0.25], [0, 0, 0, 0]]))
    out, _ = layers.bag_embedding_forward(bags, E, "mean")
    np.testing.assert_allclose(out, [[4, 5], [4, 5], [0, 0]])


def test_mean_pooling_takes_bags_of_integer_counts():
    """``bags``' entries are how often each id occurs: integer counts work, and an empty bag pools to 0."""
    import scipy.sparse as sparse
    from wdnumpy.layers import bag_embedding_forward
    E = np.arange(8, dtype=np.float32).reshape(4, 2)
    bags = sparse.csr_matrix(np.array([[1, 3, 0, 0], [0, 0, 0, 0]]))
    out, _ = bag_embedding_forward(bags, E, "mean")
    np.testing.assert_array_equal(out, [[1.5, 2.5], [0.0, 0.0]])


def test_dropout_with_probability_0_is_the_identity_even_in_training():
    from wdnumpy.layers import dropout_backward, dropout_forward
    x = np.arange(6.0).reshape(2, 3)
    out, cache = dropout_forward(x, 0.0, training=True)  # nothing to draw: no generator needed
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(dropout_backward(np.ones_like(x), cache), np.ones_like(x))


# -- dropout's range and cache, RowGrad's dense form (mutmut survivors showed them unpinned) ---------------------

@pytest.mark.parametrize("p", [1.0, 1.5, -0.1, float("nan")])
def test_dropout_probability_must_lie_in_0_to_1_excluding_1(p):
    from wdnumpy.layers import dropout_forward
    with pytest.raises(ValueError, match=rf"^dropout probability must lie in \[0, 1\), got {p}$"):
        dropout_forward(np.ones((2, 2)), p, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="dropout probability"):
        dropout_forward(np.ones((2, 2)), p, training=False)


def test_dropout_caches_its_mask_and_the_factor_1_over_1_minus_p():
    """Off (evaluation, or p = 0): the input itself and DropoutCache(None, 1.0). On: the kept units scaled by
    1/(1 − p) in the input's dtype, the mask drawn from ``rng`` (units kept with probability 1 − p)."""
    from wdnumpy.layers import DropoutCache, dropout_forward
    x = np.arange(1.0, 7.0).reshape(2, 3)
    for out, cache in (dropout_forward(x, 0.75, training=False), dropout_forward(x, 0.0)):
        assert out is x and cache == DropoutCache(None, 1.0)
    keep = np.array([[True, False, True], [False, False, True]])
    out, cache = dropout_forward(x.astype(np.float32), 0.75, keep=keep)
    assert out.dtype == np.float32 and cache.scale == 4.0 and cache.keep is keep
    np.testing.assert_array_equal(out, x * keep * 4.0)
    out, cache = dropout_forward(np.ones((200, 50)), 0.25, rng=np.random.default_rng(0))
    assert 0.72 < cache.keep.mean() < 0.78 and set(np.unique(out)) == {0.0, 1 / 0.75}
    with pytest.raises(ValueError, match=r"^dropout in training needs a fixed mask \(keep\) or a generator \(rng\)$"):
        dropout_forward(x, 0.5)


def test_a_row_gradient_densifies_to_its_shape_and_dtype():
    from wdnumpy.layers import RowGrad
    grad = RowGrad(np.array([0, 2]), np.array([[1.5, -1.0], [0.25, 2.0]], dtype=np.float32), (4, 2))
    dense = grad.to_dense()
    assert dense.dtype == np.float32 and dense.shape == (4, 2)
    np.testing.assert_array_equal(dense, [[1.5, -1.0], [0, 0], [0.25, 2.0], [0, 0]])
    flat = RowGrad(np.array([3]), np.array([7.0]), (5,)).to_dense()
    np.testing.assert_array_equal(flat, [0, 0, 0, 7.0, 0])
