"""batch.py's promises: EmbeddingField's checks, bags, the conversions where a Batch is made, its length, ``take``,
and every message of ``Batch.validate`` (each names the part, field or row it is about). Mutmut survivors
showed several of them unpinned."""
import numpy as np
import pytest
import scipy.sparse as sp

from wdnumpy.batch import Batch, EmbeddingField, _rows, bags_from_lists, check_pooling, csr_row_of_entry


def full(message):
    """A ``match=`` pattern for exactly ``message``."""
    return "^" + __import__("re").escape(message) + "$"


# -- EmbeddingField ------------------------------------------------------------------------------------------------

def test_an_embedding_field_has_its_documented_defaults_and_allows_the_smallest_sizes():
    f = EmbeddingField("country", vocab_size=1, dim=1)
    assert (f.multivalent, f.pooling, f.oov_id) == (False, "sum", None)
    assert EmbeddingField("c", vocab_size=3, dim=2, oov_id=0).oov_id == 0
    assert EmbeddingField("c", vocab_size=3, dim=2, oov_id=2, pooling="mean").oov_id == 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="", vocab_size=3, dim=2), "field name must be a non-empty string, got ''"),
    (dict(name=7, vocab_size=3, dim=2), "field name must be a non-empty string, got 7"),
    (dict(name="f", vocab_size=0, dim=2), "field 'f': vocab_size must be >= 1, got 0"),
    (dict(name="f", vocab_size=3, dim=0), "field 'f': dim must be >= 1, got 0"),
    (dict(name="f", vocab_size=3, dim=2, pooling="max"), "field 'f': pooling must be 'sum' or 'mean', got 'max'"),
    (dict(name="f", vocab_size=3, dim=2, oov_id=3), "field 'f': oov_id must lie in [0, 3), got 3"),
    (dict(name="f", vocab_size=3, dim=2, oov_id=-1), "field 'f': oov_id must lie in [0, 3), got -1"),
])
def test_an_embedding_field_refuses_bad_settings_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=full(message)):
        EmbeddingField(**kwargs)


def test_check_pooling_prefixes_its_message_with_who_asks():
    check_pooling("sum")
    check_pooling("mean")
    with pytest.raises(ValueError, match=full("pooling must be 'sum' or 'mean', got 'max'")):
        check_pooling("max")
    with pytest.raises(ValueError, match=full("layer x: pooling must be 'sum' or 'mean', got None")):
        check_pooling(None, "layer x: ")


# -- bags ----------------------------------------------------------------------------------------------------------

def test_bags_from_lists_counts_repeated_ids_and_checks_the_vocabulary():
    bags = bags_from_lists([[3, 1, 3], [], [0, 4]], 5)  # the docstring's example, and more
    assert bags.format == "csr" and bags.shape == (3, 5)
    np.testing.assert_array_equal(bags.toarray(), [[0, 1, 0, 2, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 1]])
    assert bags.nnz == 4  # a repeated id is one entry with its count
    np.testing.assert_array_equal(csr_row_of_entry(bags), [0, 0, 2, 2])
    assert bags_from_lists([], 4).shape == (0, 4)
    with pytest.raises(ValueError, match=full("bag ids must lie in [0, 5), got values from -1 to 3")):
        bags_from_lists([[3], [-1]], 5)
    with pytest.raises(ValueError, match=full("bag ids must lie in [0, 5), got values from 0 to 5")):
        bags_from_lists([[0, 5]], 5)



def test_bags_from_lists_builds_the_matrix_scipy_builds_from_the_counts():
    """The bag matrix is the CSR matrix SciPy makes of the same dense counts, index arrays included: SciPy's
    smallest index dtype (int32 for these sizes), not int64 index arrays twice as large, which a bag matrix of
    millions of rows would carry through every batch cut from it. Found unpinned by a mutmut survivor."""
    for bags, vocab in (([[3, 1, 3], [], [0, 4]], 5), ([], 4), ([[]], 2), ([[2] * 7, [0, 1]], 3)):
        counts = np.zeros((len(bags), vocab))
        for row, bag in enumerate(bags):
            np.add.at(counts, (row, bag), 1)
        got, want = bags_from_lists(bags, vocab), sp.csr_matrix(counts)
        np.testing.assert_array_equal(got.toarray(), counts)
        for part in ("indptr", "indices", "data"):
            assert getattr(got, part).dtype == getattr(want, part).dtype, (bags, part)
            np.testing.assert_array_equal(getattr(got, part), getattr(want, part))

# -- making a Batch, its length and its rows --------------------------------------------------------------------------

def test_a_batch_converts_its_inputs_once_where_it_is_made():
    b = Batch(wide=sp.coo_matrix(np.eye(3)), categorical={"c": [0, 1, 2], "bag": sp.csc_matrix(np.eye(3))},
              continuous=[[1.0], [2.0], [3.0]], labels=[0, 1, 0], weights=(1, 1, 2))
    assert b.wide.format == "csr" and b.categorical["bag"].format == "csr"
    assert isinstance(b.categorical["c"], np.ndarray) and b.categorical["c"].shape == (3,)
    for name in ("continuous", "labels", "weights"):
        assert isinstance(getattr(b, name), np.ndarray), name
    assert b.continuous.shape == (3, 1)


def test_the_length_of_a_batch_is_its_number_of_rows_and_0_when_empty():
    assert len(Batch()) == 0
    assert len(Batch(labels=np.zeros(4))) == 4
    assert len(Batch(categorical={"c": np.zeros(2, dtype=int)})) == 2
    assert len(Batch(wide=sp.csr_matrix((5, 3)))) == 5


def small_batch():
    rng = np.random.default_rng(0)
    dense = rng.integers(0, 3, (6, 4)).astype(float)
    return Batch(wide=sp.csr_matrix(dense), categorical={"c": np.arange(6) % 3, "bag": sp.csr_matrix(dense[:, :3])},
                 continuous=rng.standard_normal((6, 2)), labels=np.array([0, 1, 1, 0, 1, 0.0]),
                 weights=np.arange(1.0, 7.0))


@pytest.mark.parametrize("rows", [slice(1, 4), slice(0, 6, 2), slice(None, None, -1), slice(-2, None),
                                  slice(4, 2), slice(2, 100), np.array([5, 0, 0, 3]), np.array([], dtype=int),
                                  np.array([True, False, True, True, False, True])],
                         ids=["slice", "step", "reversed", "negative", "empty", "beyond", "index", "no rows", "mask"])
def test_take_gives_the_examples_at_rows_for_every_part(rows):
    """``take(rows)`` is ``part[rows]`` of every part, for a slice (any step), an index array or a boolean mask."""
    b = small_batch()
    t = b.take(rows)
    np.testing.assert_array_equal(t.wide.toarray(), b.wide.toarray()[rows])
    np.testing.assert_array_equal(t.categorical["bag"].toarray(), b.categorical["bag"].toarray()[rows])
    for name in ("continuous", "labels", "weights"):
        np.testing.assert_array_equal(getattr(t, name), getattr(b, name)[rows])
    np.testing.assert_array_equal(t.categorical["c"], b.categorical["c"][rows])
    assert t.wide.format == "csr" and len(t) == len(b.labels[rows])
    assert Batch(labels=np.zeros(3)).take(slice(0, 2)).wide is None


@pytest.mark.parametrize("fmt", ["csr", "csc", "lil"])
@pytest.mark.parametrize("rows", [slice(1, 3), slice(None), slice(0, 4, 2), np.array([2, 0])], ids=str)
def test_rows_of_any_part_is_values_at_rows(fmt, rows):
    """``_rows(values, rows)`` is ``values[rows]`` whatever the sparse format (a Batch only holds CSR, but a
    part set after it was made may be another) or array."""
    dense = np.arange(12.0).reshape(4, 3) * (np.arange(12).reshape(4, 3) % 2)
    got = _rows(sp.csr_matrix(dense).asformat(fmt), rows)
    np.testing.assert_array_equal(got.toarray(), dense[rows])
    np.testing.assert_array_equal(_rows(dense, rows), dense[rows])
    assert _rows(None, rows) is None


@pytest.mark.parametrize("rows", [np.array(["0", "2"]), np.array([0.0, 2.0])], ids=["text", "floats"])
def test_rows_that_are_no_index_fail_as_values_at_rows_fails(rows):
    """``_rows(values, rows)`` is ``values[rows]`` also when ``rows`` is no index: an array of row numbers
    as text (as read from a file) or as floats is refused with NumPy's IndexError, for an array part and so
    for ``Batch.take``, not turned into some other error by the faster gather. Found unpinned by a mutmut
    survivor."""
    dense = np.arange(12.0).reshape(4, 3)
    with pytest.raises(IndexError):
        dense[rows]
    with pytest.raises(IndexError):
        _rows(dense, rows)
    with pytest.raises(IndexError):
        Batch(continuous=dense, labels=np.array([0, 1, 1, 0])).take(rows)


def test_a_contiguous_slice_of_a_csr_part_is_a_view_of_its_arrays():
    """``_rows`` builds a slice of step 1 of a CSR matrix from slices of its arrays (it runs once per training
    step), so a cut holding at least half of them shares them (SciPy copies a smaller cut, so the slices here
    hold more); a stepped slice or an index array is a copy. Found unpinned by a mutmut survivor."""
    b = small_batch()
    for rows in (slice(0, 4), slice(2, None, 1), slice(None)):
        part = b.take(rows)
        for cut, whole in ((part.wide, b.wide), (part.categorical["bag"], b.categorical["bag"])):
            assert cut.format == "csr"
            assert np.shares_memory(cut.data, whole.data) and np.shares_memory(cut.indices, whole.indices)
            np.testing.assert_array_equal(cut.toarray(), whole.toarray()[rows])
    for rows in (slice(0, 6, 2), np.array([1, 2, 3])):
        assert not np.shares_memory(b.take(rows).wide.data, b.wide.data)


# -- validate --------------------------------------------------------------------------------------------------------

FIELDS = (EmbeddingField("c", vocab_size=3, dim=2), EmbeddingField("bag", vocab_size=3, dim=2, multivalent=True))


def valid_batch(n=4, **change):
    parts = dict(wide=sp.csr_matrix(np.eye(n, 5)), categorical={"c": np.arange(n) % 3,
                                                                   "bag": bags_from_lists([[0, 2]] * n, 3)},
                 continuous=np.ones((n, 2)), labels=np.arange(n) % 2, weights=np.ones(n))
    parts.update(change)
    return Batch(**parts)


def test_validate_returns_n_and_changes_nothing():
    b = valid_batch()
    before = (b.wide.copy(), {k: v.copy() for k, v in b.categorical.items()}, b.continuous.copy())
    assert b.validate(5, FIELDS, 2) == 4
    np.testing.assert_array_equal(b.wide.toarray(), before[0].toarray())
    np.testing.assert_array_equal(b.continuous, before[2])
    assert valid_batch(3).validate(wide_dim=5) == 3                      # the wide part only
    assert valid_batch(3, wide=None).validate(fields=FIELDS) == 3        # the deep part only
    assert Batch(continuous=np.ones((2, 3))).validate(n_continuous=3) == 2
    assert Batch(labels=np.array([1.0, 0.0])).validate() == 2            # only labels
    assert valid_batch(2, weights=np.array([0.0, 1.0])).validate(5) == 2  # a zero weight is allowed


@pytest.mark.parametrize("change, args, message", [
    (dict(wide=None), (5,), "the model needs batch.wide, an (N, 5) CSR matrix; got None"),
    (dict(wide=np.eye(4, 5)), (5,), "batch.wide must be a scipy.sparse CSR matrix, got ndarray"),
    (dict(wide=sp.csr_matrix(np.eye(4, 6))), (5,),
     "batch.wide has 6 columns but the wide part has 5 weights (wide_dim)"),
    (dict(wide=sp.csr_matrix(np.diag([1.0, np.nan, 1.0, 1.0]))[:, :4]), (4,),
     "batch.wide contains NaN or infinite entries"),
    (dict(categorical={"c": np.zeros(4, dtype=int)}), (5, FIELDS),
     "batch has 1 categorical fields ['c'], but the model expects 2: ['bag', 'c']"),
    (dict(categorical={"c": np.zeros(4, dtype=int), "bag": np.zeros(4, dtype=int)}), (5, FIELDS),
     "field 'bag' is multivalent: expected an (N, 3) CSR matrix of id counts (see batch.bags_from_lists), "
     "got ndarray"),
    (dict(categorical={"c": np.zeros(4, dtype=int), "bag": sp.csr_matrix((4, 4))}), (5, FIELDS),
     "field 'bag': bag matrix has 4 columns, expected the vocabulary size 3"),
    (dict(categorical={"c": np.zeros(4, dtype=int), "bag": sp.csr_matrix(-np.eye(4, 3))}), (5, FIELDS),
     "field 'bag': bag counts must be non-negative"),
    (dict(categorical={"c": np.zeros((4, 1), dtype=int), "bag": sp.csr_matrix((4, 3))}), (5, FIELDS),
     "field 'c' is single-valued: expected ids of shape (N,), got (4, 1)"),
    (dict(categorical={"c": np.zeros(4), "bag": sp.csr_matrix((4, 3))}), (5, FIELDS),
     "field 'c': ids must be integers, got dtype float64"),
    (dict(categorical={"c": np.array([0, 1, 3, 2]), "bag": sp.csr_matrix((4, 3))}), (5, FIELDS),
     "field 'c': ids must lie in [0, 3); row 2 has 3"),
    (dict(categorical={"c": np.array([0, -1, 2, 2]), "bag": sp.csr_matrix((4, 3))}), (5, FIELDS),
     "field 'c': ids must lie in [0, 3); row 1 has -1"),
    (dict(continuous=None), (5, FIELDS, 2), "the model expects 2 continuous features; batch.continuous is None"),
    (dict(continuous=np.ones((4, 3))), (5, FIELDS, 2), "batch.continuous must have shape (N, 2), got (4, 3)"),
    (dict(continuous=np.ones(4)), (5, FIELDS, 2), "batch.continuous must have shape (N, 2), got (4,)"),
    (dict(continuous=np.array([[0, 1], [2, 3], [4, np.inf], [np.nan, 0]])), (5, FIELDS, 2),
     "batch.continuous has NaN or infinite values, the first at row 2, column 1"),
    (dict(labels=np.zeros((4, 1))), (5,), "labels must have shape (N,), got (4, 1)"),
    (dict(labels=np.array([0, 1, 0.5, 2])), (5,), "labels must be 0 or 1; row 2 has 0.5"),
    (dict(weights=np.array([1.0, -1.0, 1.0, 1.0])), (5,),
     "weights must be an (N,) array of finite non-negative numbers with a positive sum"),
    (dict(weights=np.zeros(4)), (5,),
     "weights must be an (N,) array of finite non-negative numbers with a positive sum"),
    (dict(weights=np.array([1.0, np.inf, 1.0, 1.0])), (5,),
     "weights must be an (N,) array of finite non-negative numbers with a positive sum"),
    (dict(weights=np.array(["a", "b", "c", "d"])), (5,),
     "weights must be an (N,) array of finite non-negative numbers with a positive sum"),
    (dict(weights=np.ones((4, 1))), (5,),
     "weights must be an (N,) array of finite non-negative numbers with a positive sum"),
    (dict(labels=None, weights=None), (), "the batch holds none of the inputs this model needs"),
    (dict(labels=np.zeros(3), weights=None), (5,),
     "the parts of the batch have different numbers of rows: {'batch.wide': 4, 'labels': 3}"),
    (dict(weights=np.ones(5)), (5, FIELDS, 2), "the parts of the batch have different numbers of rows: "
     "{'batch.wide': 4, \"field 'c'\": 4, \"field 'bag'\": 4, 'batch.continuous': 4, 'labels': 4, 'weights': 5}"),
])
def test_validate_says_what_was_expected_and_what_came(change, args, message):
    with pytest.raises(ValueError, match=full(message)):
        valid_batch(**change).validate(*args)


def test_validate_names_the_sparse_format_of_a_part_set_after_the_batch_was_made():
    """A Batch converts sparse parts to CSR where it is made; a part set afterwards in another format is refused,
    the message naming that format ("a CSC matrix"), as it names the type of anything else; mutmut survivors
    showed the format unpinned."""
    b = valid_batch()
    b.wide = sp.csc_matrix(np.eye(4, 5))
    with pytest.raises(ValueError, match=full("batch.wide must be a scipy.sparse CSR matrix, got a CSC matrix")):
        b.validate(5)
    b = valid_batch()
    b.categorical["bag"] = sp.coo_matrix(np.eye(4, 3))
    with pytest.raises(ValueError, match=full("field 'bag' is multivalent: expected an (N, 3) CSR matrix of id "
                                              "counts (see batch.bags_from_lists), got a COO matrix")):
        b.validate(5, FIELDS)


def test_a_single_valued_field_given_as_a_one_dimensional_sparse_array_is_refused():
    """A single-valued field takes an (N,) array of ids: a 1-D SciPy sparse array, though of shape (N,), is
    not one (found unpinned by a mutmut survivor)."""
    ids = sp.coo_array(np.array([0, 1, 2, 0]))
    b = valid_batch(categorical={"c": ids, "bag": bags_from_lists([[0, 2]] * 4, 3)})
    with pytest.raises(ValueError, match=full("field 'c' is single-valued: expected ids of shape (N,), got (4,)")):
        b.validate(5, FIELDS)


def test_a_one_dimensional_sparse_array_is_no_bag_matrix_and_no_wide_matrix():
    """SciPy's sparse arrays may be 1-D; as a multivalent field or as batch.wide one is refused with a
    ValueError saying what came (it used to fail with an IndexError deep inside the checks)."""
    flat = sp.csr_array(np.array([0.0, 1.0, 2.0, 0.0]))
    b = valid_batch(categorical={"c": np.zeros(4, dtype=int), "bag": flat})
    with pytest.raises(ValueError, match=full("field 'bag' is multivalent: expected an (N, 3) CSR matrix of id "
                                              "counts (see batch.bags_from_lists), got a 1-D CSR array")):
        b.validate(5, FIELDS)
    b = valid_batch()
    b.wide = sp.coo_array(np.array([0.0, 1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=full("batch.wide must be a scipy.sparse CSR matrix, got a 1-D COO array")):
        b.validate(5)


def test_validate_checks_the_deep_parts_only_when_the_model_has_them():
    """No fields and no continuous features: the categorical dict is not compared; a wide part of None is
    fine for a model without one."""
    b = valid_batch(categorical={"other": np.zeros(4, dtype=int)}, wide=None, continuous=None)
    assert b.validate() == 4
    assert valid_batch(continuous=None).validate(5, FIELDS) == 4


def test_a_slice_of_a_batch_keeps_its_sparse_parts_kind():
    """take() of a slice and of an index array give the same kind of sparse part as came in: a SciPy
    csr_array stays a csr_array (whose * is elementwise), a csr_matrix a csr_matrix."""
    dense = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    for kind in (sp.csr_array, sp.csr_matrix):
        batch = Batch(wide=kind(dense), categorical={"bag": kind(dense)}, labels=np.array([0.0, 1.0, 1.0]))
        for rows in (slice(1, 3), np.array([1, 2])):
            part = batch.take(rows)
            for matrix in (part.wide, part.categorical["bag"]):
                assert type(matrix) is kind, (kind, rows)
                np.testing.assert_array_equal(matrix.toarray(), dense[1:3])
