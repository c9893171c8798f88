"""Feature columns at their edges, as the docstrings promise them: values exactly on a quantile or bucket
boundary, every fill policy, a constant column, a value seen exactly min_count times."""
import re

import numpy as np
import pytest

from wdnumpy.features import (Bucketized, Categorical, Crossed, FeatureSpec, Multivalent, NotFittedError, Numeric,
                              stable_hash)
from wdnumpy.features.values import as_columns


# -- CDF quantiles (paper §4.1): the i-th quantile maps to (i − 1)/(n_q − 1), i − 1 = boundaries ≤ x ----------

def test_a_value_on_a_quantile_boundary_counts_that_boundary():
    col = Numeric("x", n_quantiles=5).fit({"x": np.arange(21.0)})
    boundaries = np.asarray(col.state["boundaries"])
    assert boundaries.size == 4 and np.all(np.diff(boundaries) > 0)
    on = col.values({"x": boundaries})
    below = col.values({"x": np.nextafter(boundaries, -np.inf)})
    np.testing.assert_array_equal(on, np.arange(1, 5) / 4)  # boundary k (1-based) is the k-th one ≤ x
    np.testing.assert_array_equal(below, np.arange(0, 4) / 4)


def test_quantile_outputs_lie_in_zero_one_and_reach_both_ends():
    rng = np.random.default_rng(0)
    train = {"x": np.concatenate([np.zeros(40), rng.exponential(3.0, 60)])}  # ties at the bottom, a long tail
    for n_q in (2, 3, 10, 100):
        col = Numeric("x", n_quantiles=n_q).fit(train)
        probe = np.concatenate([train["x"], [-1e300, -1.0, 1e300], np.asarray(col.state["boundaries"])])
        got = col.values({"x": probe})
        assert np.all((0 <= got) & (got <= 1)), n_q
        assert got.min() == 0.0 and got.max() == 1.0
        order = np.argsort(probe, kind="stable")
        assert np.all(np.diff(got[order]) >= 0)  # a CDF: never decreasing
        # every output is one of the n_q levels (i − 1)/(n_q − 1)
        np.testing.assert_array_equal(np.isin(got, np.arange(n_q) / (n_q - 1)), True)


# -- a constant column ---------------------------------------------------------------------------------------

def test_a_constant_column_standardises_to_zero_not_nan():
    """Its std is taken as 1 (not 0, which would divide by zero): other values become x − mean (the std of 1
    found unpinned by a mutmut survivor)."""
    col = Numeric("c", normalization="standard").fit({"c": np.full(10, 5.0)})
    assert (col.state["mean"], col.state["std"]) == (5.0, 1.0)
    np.testing.assert_array_equal(col.values({"c": np.full(3, 5.0)}), 0.0)
    np.testing.assert_array_equal(col.values({"c": np.array([4.0, 6.5, 1e6])}), [-1.0, 1.5, 1e6 - 5.0])


def test_standardising_values_whose_sums_overflow_both_ways_is_silent_and_exact():
    """_mean_and_std: 'computed on x / max|x| when the plain sums would overflow'. Here NumPy's pairwise sum
    reaches +inf and -inf in two partial sums (inf - inf: an 'invalid' NaN); fitting still gives the exact
    mean 0 and std max|x| / 2, without a RuntimeWarning (pytest makes those errors; found unpinned by a mutmut
    survivor)."""
    x = np.zeros(16)
    x[[0, 8]], x[[1, 9]] = 1.7e308, -1.7e308
    col = Numeric("x", normalization="standard").fit({"x": x})
    assert (col.state["mean"], col.state["std"]) == (0.0, 0.85e308)
    np.testing.assert_array_equal(col.values({"x": np.array([0.0, 0.85e308, -1.7e308])}), [0.0, 1.0, -2.0])


def test_a_constant_column_has_valid_quantiles():
    col = Numeric("c", n_quantiles=10).fit({"c": np.full(10, 5.0)})
    got = col.values({"c": np.array([4.0, 5.0, 6.0])})
    assert np.all(np.isfinite(got)) and np.all((0 <= got) & (got <= 1))
    assert got[0] == 0.0 and got[2] == 1.0 and got[0] <= got[1] <= got[2]


# -- fill policies: None, "mean", "median", a number -----------------------------------------------------------

TRAIN_WITH_GAPS = {"h": np.array(["1", "", "2", "NA", "9", "?"])}  # present: 1, 2, 9 → mean 4, median 2


@pytest.mark.parametrize("fill, expected", [("mean", 4.0), ("median", 2.0), (7, 7.0), (0, 0.0), (-2.5, -2.5)])
def test_a_fill_policy_puts_the_training_statistic_or_the_number_in_missing_places(fill, expected):
    col = Numeric("h", normalization="none", fill=fill).fit(TRAIN_WITH_GAPS)
    np.testing.assert_array_equal(col.values(TRAIN_WITH_GAPS), [1, expected, 2, expected, 9, expected])
    # later data is filled with what was learned in training, not with its own statistic
    np.testing.assert_array_equal(col.values({"h": np.array(["", "100", "None", "300"])}),
                                  [expected, 100, expected, 300])


def test_a_filled_value_is_normalised_like_any_other():
    for normalization in ("standard", "quantile"):
        col = Numeric("h", normalization=normalization, n_quantiles=3, fill="median").fit(TRAIN_WITH_GAPS)
        filled, two = col.values({"h": np.array(["", "2"])})
        assert filled == two, normalization


def test_without_a_fill_policy_a_missing_value_is_an_error_naming_column_and_row():
    with pytest.raises(ValueError, match=r"column 'h', row 1: missing value"):
        Numeric("h").fit(TRAIN_WITH_GAPS)
    col = Numeric("h", normalization="none").fit({"h": np.array(["1", "2"])})
    with pytest.raises(ValueError, match=r"column 'h', row 2: missing value"):
        col.values({"h": np.array(["3", "4", "NA"])})
    col = Bucketized("b", source="h", boundaries=[1.5])
    with pytest.raises(ValueError, match=r"column 'h', row 1: missing value"):
        col.tokens({"h": np.array(["3", ""])})
    assert Bucketized("b", source="h", boundaries=[1.5], fill=0).tokens({"h": np.array(["3", ""])}).ids.tolist() \
        == [1, 0]


# -- vocabularies: min_count -------------------------------------------------------------------------------------

def ids_of(col, values):
    return col.tokens({col.source: np.array(values)}).ids.tolist()


def test_a_value_seen_exactly_min_count_times_is_kept_and_one_less_is_out_of_vocabulary():
    data = {"c": np.array(["a"] * 3 + ["b"] * 2 + ["c"] * 4 + [""] * 5)}  # "" is missing, however often
    col = Categorical("c", min_count=3).fit(data)
    a, b, c, missing, unseen = ids_of(col, ["a", "b", "c", "", "zzz"])
    assert a > 0 and c > 0 and a != c
    assert b == missing == unseen == 0
    assert col.size == 3  # two values and the out-of-vocabulary id
    every = Categorical("c", min_count=2).fit(data)
    assert min(ids_of(every, ["a", "b", "c"])) > 0 and ids_of(every, [""]) == [0]


def test_min_count_must_be_at_least_1_and_the_error_names_the_column():
    """Categorical/Multivalent(min_count=...): an int >= 1, or a ValueError naming the column and the value given
    (found unpinned by a mutmut survivor)."""
    assert Categorical("c", min_count=1).min_count == 1 and Multivalent("m", min_count="2").min_count == 2
    for kind, name in ((Categorical, "c"), (Multivalent, "m")):
        for bad in (0, -3):
            with pytest.raises(ValueError, match=exactly(f"column {name!r}: min_count must be >= 1, got {bad}")):
                kind(name, min_count=bad)


def test_min_count_in_a_bag_column_counts_every_bag():
    data = {"apps": np.array(["A|B", "A", "A|C|B", "", "C"])}  # A in 3 bags, B and C in 2
    col = Multivalent("apps", min_count=3).fit(data)
    assert ids_of(col, ["A"])[0] > 0
    assert ids_of(col, ["B"]) == ids_of(col, ["C"]) == [0]
    assert Multivalent("apps", min_count=2).fit(data).size == 4


# -- fixed buckets: id i for boundaries[i−1] ≤ x < boundaries[i] ------------------------------------------------

def test_a_value_on_a_bucket_boundary_goes_to_the_upper_bucket():
    col = Bucketized("b", source="x", boundaries=[-1.5, 0.0, 2.25])
    values = np.array([-1e300, -1.5, np.nextafter(-1.5, -np.inf), -0.0, 0.0, np.nextafter(0.0, -1), 2.25,
                       np.nextafter(2.25, 3), 1e300])
    assert col.tokens({"x": values}).ids.tolist() == [0, 1, 0, 2, 2, 1, 3, 3, 3]
    assert col.size == 4


# -- a spec puts the out-of-vocabulary and empty-bag edges together ---------------------------------------------

def test_missing_values_and_empty_bags_in_a_spec():
    train = {"city": np.array(["oslo", "oslo", "lima", ""]), "apps": np.array(["A|B", "B", "", "A"])}
    spec = FeatureSpec([Categorical("city"), Multivalent("apps"), Crossed("x", ["city", "apps"], buckets=50)],
                       wide=["city", "x"], embeddings={"city": 2, "apps": 2}).fit(train)
    batch = spec.transform({"city": np.array(["", "paris", "oslo"]), "apps": np.array(["", "A", "Z"])})
    np.testing.assert_array_equal(batch.categorical["city"], [0, 0, 2])  # missing and unseen: id 0
    bags = batch.categorical["apps"]
    assert np.diff(bags.indptr).tolist() == [0, 1, 1]  # an empty bag stays empty; an unseen app is id 0
    assert bags[2].indices.tolist() == [0]
    # each row: one city id, and one cross per (city, app) pair — none for the empty bag
    assert np.diff(batch.wide.indptr).tolist() == [1, 2, 2]


# -- Hashed and Crossed: what their signatures and docstrings promise ---------------------------------------------

def test_hashed_defaults_to_1000_buckets_reads_its_source_and_allows_one_bucket():
    from wdnumpy.features import Hashed, stable_hash
    col = Hashed("user_bucket", source="user")
    assert Hashed("user").buckets == 1000 and col.source == "user"
    values = np.array(["ann", "bob", "cy"])
    ids = col.tokens({"user": values}).ids
    np.testing.assert_array_equal(ids, (stable_hash(values) % np.uint64(1000)).astype(np.int64))
    assert np.all(Hashed("x", buckets=1).tokens({"x": values}).ids == 0)  # buckets >= 1: one bucket is allowed
    with pytest.raises(ValueError, match="buckets must be >= 1, got 0"):
        Hashed("x", buckets=0)
    with pytest.raises(ValueError, match="column 'user_bucket': unknown column 'user'"):
        col.tokens({"name": values})


def test_a_cross_without_an_oov_bucket_names_bucket_0_as_a_hash_bucket():
    assert Crossed("a_x_b", ["a", "b"], buckets=8).value_name(0) == "hash bucket 0"
    assert Crossed("a_x_b", ["a", "b"], buckets=8, oov_bucket=True).value_name(0) == "<unknown>"
    assert Crossed("a_x_b", ["a", "b"], buckets=8, oov_bucket=True).value_name(3) == "hash bucket 3"


def test_boundaries_must_increase_strictly_and_a_column_needs_its_kind():
    from wdnumpy.features import column_from_dict
    with pytest.raises(ValueError, match="boundaries must be a non-empty increasing list"):
        Bucketized("b", source="x", boundaries=[1, 1, 2])
    with pytest.raises(ValueError, match="unknown column kind None"):
        column_from_dict({"name": "x"})


def test_the_separator_warning_points_at_the_code_that_fitted_the_column():
    with pytest.warns(UserWarning, match="did you mean separator=';'") as record:
        Multivalent("apps").fit({"apps": ["a;b", "c;d", "e"]})
    assert record[0].filename == __file__


def test_a_spec_without_continuous_columns_gives_no_continuous_matrix():
    spec = FeatureSpec([Categorical("c")], wide=["c"], embeddings={"c": 2}).fit({"c": ["a", "b"]})
    assert spec.transform({"c": ["a", "z"]}).continuous is None


def test_a_value_that_standardises_to_infinity_names_its_row():
    col = Numeric("x", normalization="standard").fit({"x": np.array([0.0, 1e-10])})  # std 5e-11
    with pytest.raises(ValueError, match=r"^column 'x', row 2: 1e\+300 standardises to inf; rescale the column or "
                                         r"use log1p=True$"):
        col.values({"x": np.array([0.0, 1.0, 1e300])})


def test_crossed_tokens_are_out_of_vocabulary_when_either_side_is():
    """cross_tokens: ids left at 0, oov None when neither side has OOV tokens, else either side's."""
    from wdnumpy.features import Tokens, cross_tokens
    keys = np.arange(1, 4, dtype=np.uint64)
    a = Tokens.single(np.array([1, 2, 3]), keys)
    b = Tokens.single(np.array([1, 0, 2]), keys + np.uint64(10), oov=np.array([False, True, False]))
    plain = cross_tokens(a, a)
    assert plain.oov is None and plain.ids.dtype == np.int64 and np.all(plain.ids == 0)
    np.testing.assert_array_equal(cross_tokens(a, b).oov, [False, True, False])
    np.testing.assert_array_equal(cross_tokens(b, a).oov, [False, True, False])


def test_a_cross_needs_a_bucket_besides_its_oov_bucket():
    with pytest.raises(ValueError, match="column 'a_x_b': buckets must be >= 1, got 0"):
        Crossed("a_x_b", ["a", "b"], buckets=0)
    with pytest.raises(ValueError, match="column 'a_x_b': buckets must be >= 2, got 1"):
        Crossed("a_x_b", ["a", "b"], buckets=1, oov_bucket=True)


def test_a_cross_has_10000_buckets_by_default_and_needs_two_columns():
    """The default of ``buckets``; fewer than two columns are refused, naming the cross and its columns (found
    unpinned by mutmut survivors: the message could be dropped, the default changed)."""
    assert Crossed("a_x_b", ["a", "b"]).buckets == 10_000 and not Crossed("a_x_b", ["a", "b"]).oov_bucket
    with pytest.raises(ValueError, match=r"^crossed column 'a_x' needs at least two columns, got \['a'\]$"):
        Crossed("a_x", ("a",))
    with pytest.raises(ValueError, match=r"^crossed column 'none' needs at least two columns, got \[\]$"):
        Crossed("none", [])


# -- the documented hashes: a saved model's ids depend on them staying exactly these ----------------------------

def splitmix64_finaliser(z: int) -> int:
    """SplitMix64's finaliser (Steele, Lea and Flood 2014; Vigna's splitmix64.c), on Python integers."""
    mask = (1 << 64) - 1
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def test_mix64_is_splitmix64s_finaliser():
    from wdnumpy.features import mix64
    golden = 0x9E3779B97F4A7C15
    assert splitmix64_finaliser(golden) == 0xE220A8397B1DCDAF  # splitmix64.c's first output from seed 0
    x = np.array([0, 1, 2, golden, 2 ** 63, 2 ** 64 - 1, 123456789012345], dtype=np.uint64)
    assert mix64(x).tolist() == [splitmix64_finaliser(int(v)) for v in x]


def test_stable_hash_is_blake2b_of_the_text_little_endian():
    import hashlib
    from wdnumpy.features import stable_hash
    values = ["", "oslo", "ünïcode", "42"]
    expected = [int.from_bytes(hashlib.blake2b(v.encode(), digest_size=8).digest(), "little") for v in values]
    assert stable_hash(np.array(values + ["oslo"])).tolist() == expected + [expected[1]]


def test_a_column_needs_a_string_name_reads_its_source_and_asks_to_be_fitted():
    from wdnumpy.features import NotFittedError
    for bad in ("", 123):
        with pytest.raises(ValueError, match="a column needs a non-empty name, got"):
            Categorical(bad)
    assert Categorical("city").source == "city" and Categorical("city", source="town").source == "town"
    with pytest.raises(NotFittedError, match=r"column 'city' is not fitted; call FeatureSpec.fit\(train_data\) first"):
        Categorical("city").tokens({"city": np.array(["oslo"])})


def test_stable_hash_keys_numbers_by_their_text_and_an_embedding_needs_a_width():
    from wdnumpy.features import stable_hash
    assert stable_hash(np.array([1, 22])).tolist() == stable_hash(["1", "22"]).tolist()
    with pytest.raises(ValueError, match="embeddings: width of 'c' must be >= 1, got 0"):
        FeatureSpec([Categorical("c")], embeddings={"c": 0})


def test_as_text_makes_none_and_nan_missing_in_object_columns():
    from wdnumpy.features import as_text
    assert as_text(np.array(["a", None, float("nan"), 3], dtype=object)).tolist() == ["a", "", "", "3"]
    assert as_text(np.array([], dtype=object)).dtype.kind == "U"  # a str array, even with no rows


def test_an_infinite_number_is_named_by_column_and_row():
    from wdnumpy.features import parse_numbers
    with pytest.raises(ValueError, match="column 'x', row 2: inf is not a finite number"):
        parse_numbers(np.array(["1", "2.5", "inf"]), "x")


def test_a_cross_with_an_oov_bucket_hashes_the_rest_into_ids_1_to_buckets_minus_1():
    from wdnumpy.features import Tokens
    keys = np.arange(1, 201, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    a = Tokens.single(np.ones(200, dtype=np.int64), keys, oov=np.arange(200) % 10 == 0)
    b = Tokens.single(np.ones(200, dtype=np.int64), keys[::-1].copy())
    crossed = Crossed("a_x_b", ["a", "b"], buckets=4, oov_bucket=True).cross([a, b])
    assert set(crossed.ids[crossed.oov].tolist()) == {0}
    assert set(crossed.ids[~crossed.oov].tolist()) == {1, 2, 3}  # buckets - 1 ids besides the OOV one


def test_a_cross_of_an_unknown_column_names_what_it_must_be():
    with pytest.raises(ValueError, match=r"crossed column 'a_x_b': 'b' must name a categorical, hashed, bucketized "
                                         r"or multivalent column of the spec \(a categorical-like column that reads"):
        FeatureSpec([Categorical("a"), Crossed("a_x_b", ["a", "b"])], wide=["a_x_b"])


def test_a_cross_allows_one_bucket_or_two_with_an_oov_bucket_and_reads_no_raw_column():
    """The smallest crosses the bucket check promises (>= 1, or >= 2 with an OOV bucket) are allowed,
    and a cross has no raw source column: its tokens come from its parents'."""
    data = {"a": np.array(["x", "y"]), "b": np.array(["u", "v"])}
    for buckets, oov in ((1, False), (2, True)):
        spec = FeatureSpec([Categorical("a"), Categorical("b"), Crossed("a_x_b", ["a", "b"], buckets, oov)],
                           wide=["a_x_b"]).fit(data)
        assert spec.columns["a_x_b"].source is None
        assert spec.transform(data).wide.shape == (2, buckets)


def test_a_numeric_column_reads_its_source_not_its_name():
    column = Numeric("age_scaled", source="age", normalization="none").fit({"age": np.array(["30", "40"])})
    assert column.source == "age"
    assert column.values({"age": np.array(["50"])}).tolist() == [50.0]


def test_transform_gives_labels_and_weights_as_float64():
    data = {"c": np.array(["x", "y", "x"])}
    spec = FeatureSpec([Categorical("c")], wide=["c"]).fit(data)
    batch = spec.transform(data, labels=[1, 0, 1], weights=[2, 1, 3])
    assert batch.weights.dtype == np.float64 and batch.weights.tolist() == [2.0, 1.0, 3.0]
    assert batch.labels.dtype == np.float64 and batch.labels.tolist() == [1.0, 0.0, 1.0]


def test_raw_data_must_be_a_non_empty_mapping_of_columns():
    from wdnumpy.features import count_rows
    for bad in ({}, [["a", "b"]], "abc"):
        with pytest.raises(ValueError, match="expected a non-empty mapping of column name"):
            count_rows(bad)
    assert count_rows({"a": ["x", "y"]}) == 2


def test_as_text_keeps_ordinary_floats_in_object_columns():
    from wdnumpy.features import as_text
    assert as_text(np.array([1.5, "a", None, 2.0], dtype=object)).tolist() == ["1.5", "a", "", "2.0"]


def test_a_column_whose_every_value_is_rare_gives_every_row_the_oov_id():
    data = {"c": np.array(["x", "y", "z"]), "bag": np.array(["p|q", "", "r"])}
    spec = FeatureSpec([Categorical("c", min_count=2), Multivalent("bag", min_count=2)],
                       embeddings={"c": 2, "bag": 2}).fit(data)
    assert spec.columns["c"].vocabulary == [] and spec.columns["bag"].vocabulary == []
    batch = spec.transform(data)
    assert batch.categorical["c"].tolist() == [0, 0, 0]
    assert batch.categorical["bag"].toarray().tolist() == [[2], [0], [1]]  # every value counted at id 0


# -- every message names its column (and row); warnings point at the caller (mutmut survivors showed gaps) --------

def exactly(message):
    import re
    return "^" + re.escape(message) + "$"


def test_a_column_that_reads_a_missing_source_names_itself_and_the_columns_there_are():
    data = {"x": np.array([1.0, 2.0]), "a": np.array(["p", "q"])}
    said = "unknown column 'age'; the data has columns ['a', 'x']"
    with pytest.raises(ValueError, match=exactly(f"column 'age_b': {said}")):
        Bucketized("age_b", "age", [18]).tokens(data)
    with pytest.raises(ValueError, match=exactly(f"column 'n': {said}")):
        Numeric("n", "age").fit(data)
    for fill in ("mean", None):
        with pytest.raises(ValueError, match=exactly(f"column 'n': {said}")):
            Numeric("n", "age", fill=fill, state={"fill_value": 0.0, "boundaries": [1.0]}).values(data)
    with pytest.raises(ValueError, match=exactly(f"column 'c': {said}")):
        Categorical("c", "age").fit(data)
    with pytest.raises(ValueError, match=exactly(f"column 'm': {said}")):
        Multivalent("m", "age").fit(data)


def test_numeric_settings_are_checked_naming_the_column():
    assert Numeric("x", normalization="standard", n_quantiles=1).n_quantiles == 1  # only quantiles need >= 2
    assert Numeric("x", normalization="none", n_quantiles=0).normalization == "none"
    assert Numeric("x", n_quantiles=2).n_quantiles == 2
    with pytest.raises(ValueError, match=exactly("column 'x': n_quantiles must be >= 2, got 1")):
        Numeric("x", n_quantiles=1)
    with pytest.raises(ValueError, match=exactly("column 'x': normalization must be 'quantile', 'standard' or "
                                                 "'none', got 'minmax'")):
        Numeric("x", normalization="minmax")
    with pytest.raises(ValueError, match=exactly("column 'x': fill must be None, 'mean', 'median' or a number, "
                                                 "got 'zero'")):
        Numeric("x", fill="zero")


@pytest.mark.parametrize("values, row, shown", [([0.5, -1.0, 3.0], 1, "-1.0"), ([0.0, -0.5, -1.5, -3.0], 2, "-1.5")])
def test_log1p_refuses_the_first_value_at_or_below_minus_1_naming_its_row(values, row, shown):
    column = Numeric("x", normalization="none", log1p=True)
    with pytest.raises(ValueError, match=exactly(f"column 'x', row {row}: log1p needs values > -1, got {shown}")):
        column.fit({"x": np.array(values)})
    fitted = Numeric("x", normalization="none", log1p=True).fit({"x": np.array([0.0, np.e - 1])})
    np.testing.assert_allclose(fitted.values({"x": np.array([-0.5, 0.0, np.e - 1])}), [np.log(0.5), 0.0, 1.0])


def test_raw_values_warn_only_above_the_warning_level_and_at_the_code_that_fitted_them():
    import warnings
    from wdnumpy.features.numeric import RAW_WARNING
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Numeric("x", normalization="none").fit({"x": np.array([-RAW_WARNING, 3.0, RAW_WARNING])})
        Numeric("x", normalization="none").fit({"x": np.zeros(0)})  # no rows: nothing to warn about
    with pytest.warns(UserWarning) as record:
        Numeric("x", normalization="none").fit({"x": np.array([1.0, -2.5e6])})
    assert len(record) == 1 and record[0].filename == __file__
    assert str(record[0].message) == ("column 'x': raw values up to 2.5e+06 go to the deep part unscaled, which "
                                      "usually makes training diverge; use normalization='quantile' or 'standard', "
                                      "or log1p=True")


def test_raw_values_warn_only_above_the_warning_level_with_the_message_that_says_what_to_do():
    """Fitting with normalization='none' warns once when some |value| exceeds RAW_WARNING (strictly: the level
    itself is fine), naming the column and the largest |value| and giving the remedies. (The test above also
    checks where the warning points, which mutation runs cannot, so they leave it out: mutmut survivors showed
    the level unpinned without it.)"""
    import warnings
    from wdnumpy.features.numeric import RAW_WARNING
    for values in ([-RAW_WARNING, 3.0, RAW_WARNING], [RAW_WARNING], []):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            Numeric("x", normalization="none").fit({"x": np.array(values, dtype=float)})
    for values, shown in (([0.0, np.nextafter(RAW_WARNING, np.inf)], "1e+06"), ([1.0, -2.5e6, 7.0], "2.5e+06")):
        with pytest.warns(UserWarning) as record:
            Numeric("x", normalization="none").fit({"x": np.array(values)})
        assert [str(w.message) for w in record] == [
            f"column 'x': raw values up to {shown} go to the deep part unscaled, which usually makes training "
            "diverge; use normalization='quantile' or 'standard', or log1p=True"]


def test_standardised_values_are_x_minus_the_mean_over_the_std_exactly():
    """``(x − mean) / std`` of the training data, bit for bit (dividing first is only for an overflowing x − mean)."""
    train = np.array([0.1, 0.2, 0.7, 1.3, 2.9])
    column = Numeric("x", normalization="standard").fit({"x": train})
    mean, std = column.state["mean"], column.state["std"]
    assert (mean, std) == (np.mean(train), np.std(train))
    x = np.array([0.1, 0.3, 0.7, -1.1, 5.5, 1e-3, 0.2])
    expected = (x - mean) / std
    assert np.any(expected != x / std - mean / std)  # the two ways round differ for these values
    np.testing.assert_array_equal(column.values({"x": x}), expected)


def test_as_columns_keeps_a_plain_columns_type_and_makes_bags_object_arrays():
    from wdnumpy.features.values import as_columns, as_text
    columns = as_columns({"n": [1, 2, 3], "s": ("a", "b", "c"), "bags": [[1, 2], [3, 4], [5, 6]],
                          "ragged": [["a"], [], ["b", "c"]]})
    assert columns["n"].dtype.kind == "i" and columns["s"].dtype.kind == "U"
    assert columns["bags"].dtype == object and columns["bags"].shape == (3,) and columns["bags"][1] == [3, 4]
    assert columns["ragged"].dtype == object and columns["ragged"][2] == ["b", "c"]
    np.testing.assert_array_equal(as_text(np.array([1.5, np.nan, -2.0])), ["1.5", "", "-2.0"])
    np.testing.assert_array_equal(as_text(np.array([np.nan], dtype=np.float32)), [""])


def test_a_missing_number_without_a_fill_policy_says_how_to_fill_it():
    from wdnumpy.features.values import parse_numbers
    with pytest.raises(ValueError, match=exactly("column 'age', row 1: missing value (give the Numeric column a "
                                                 "fill= policy to replace missing values)")):
        parse_numbers(np.array(["3", "?", ""]), "age")


def test_spec_errors_name_the_role_of_the_list_they_are_in():
    columns = [Categorical("a"), Numeric("n")]
    for role, kwargs in (("wide", dict(wide=["zz"])), ("embeddings", dict(embeddings={"zz": 2})),
                         ("continuous", dict(continuous=["zz"]))):
        with pytest.raises(ValueError, match=exactly(f"{role}: unknown column 'zz'; the spec has ['a', 'n']")):
            FeatureSpec(columns, **kwargs)
    with pytest.raises(ValueError, match=exactly("wide: column 'n' is numeric, expected a categorical-like column")):
        FeatureSpec(columns, wide=["n"])
    with pytest.raises(ValueError, match=exactly("continuous: column 'a' is categorical, expected a Numeric column")):
        FeatureSpec(columns, continuous=["a"])
    assert FeatureSpec(columns, embeddings={"a": 1}).embeddings == {"a": 1}  # a width of 1 is allowed
    with pytest.raises(ValueError, match=exactly("embeddings: width of 'a' must be >= 1, got 0")):
        FeatureSpec(columns, embeddings={"a": 0})


class CountingCategorical(Categorical):
    """A Categorical that counts the calls of its ``tokens``."""

    calls = 0

    def tokens(self, data, parents=()):
        type(self).calls += 1
        return super().tokens(data, parents)


def test_a_columns_tokens_are_computed_once_per_row_through_the_cache():
    """spec.tokens fills the ``cache`` it is given (name → Tokens), so a column crossed several times is computed
    once; wide_feature_names uses one cache for its row."""
    data = {"a": np.array(["x", "y", "x"]), "b": np.array(["u", "u", "v"])}
    spec = FeatureSpec([CountingCategorical("a"), Categorical("b"), Crossed("ab", ["a", "b"], 64),
                        Crossed("ba", ["b", "a"], 64)], wide=["a", "ab", "ba"]).fit(data)
    cache = {}
    CountingCategorical.calls = 0
    tokens = spec.tokens("ab", data, cache)
    assert set(cache) == {"a", "b", "ab"} and cache["ab"] is tokens and CountingCategorical.calls == 1
    assert spec.tokens("ab", data, cache) is tokens and CountingCategorical.calls == 1
    CountingCategorical.calls = 0
    names = spec.wide_feature_names(data, 2)
    assert CountingCategorical.calls == 1
    assert [text for _, text in names] == ["a=x", "a=x × b=v", "b=v × a=x"]


def test_transform_computes_each_columns_tokens_once_however_many_roles_it_has():
    """FeatureSpec.transform shares one cache (see spec.tokens) between the wide part and the embeddings: a
    column that is wide, crossed twice and embedded is looked up once per transform (found unpinned by
    mutmut survivors)."""
    data = {"a": np.array(["x", "y", "x"]), "b": np.array(["u", "u", "v"])}
    spec = FeatureSpec([CountingCategorical("a"), Categorical("b"), Crossed("ab", ["a", "b"], 64),
                        Crossed("ba", ["b", "a"], 64)], wide=["a", "ab", "ba"], embeddings={"a": 2, "b": 2}).fit(data)
    for wide, embeddings in ((["a", "ab", "ba"], {"a": 2, "b": 2}), (["ab", "ba"], {}), (["b"], {"a": 2})):
        spec = FeatureSpec(list(spec.columns.values()), wide=wide, embeddings=embeddings)
        CountingCategorical.calls = 0
        batch = spec.transform(data)
        assert CountingCategorical.calls == 1, (wide, embeddings)
        if "a" in embeddings:
            assert batch.categorical["a"].tolist() == [1, 2, 1]


def test_a_multivalent_column_names_itself_in_its_pooling_error():
    assert Multivalent("m", pooling="sum").pooling == "sum" and Multivalent("m").pooling == "mean"
    with pytest.raises(ValueError, match=exactly("column 'm': pooling must be 'sum' or 'mean', got 'max'")):
        Multivalent("m", pooling="max")


def test_the_separator_warning_needs_most_values_to_hold_the_other_separator():
    """Half the values or more holding another usual separator: a warning (at the caller); fewer: none."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Multivalent("m", separator=";").fit({"m": np.array(["a", "b,c", "d", "e"])})  # 25% hold ','
    with pytest.warns(UserWarning) as record:
        Multivalent("m", separator=";").fit({"m": np.array(["a", "b,c", "d", "e,f"])})  # 50%
    assert len(record) == 1 and record[0].filename == __file__
    assert str(record[0].message) == ("column 'm': no value contains the separator ';', but 50% contain ','; "
                                      "did you mean separator=','?")


def test_bucket_boundaries_may_lie_closer_than_1_and_a_buckets_key_is_the_hash_of_its_number():
    """Boundaries need only increase (0.1 apart is fine); bucket i's key, which crossed columns combine and saved
    models rely on, is the stable hash of the text "i", as every id-like value is keyed by its text."""
    col = Bucketized("b", source="x", boundaries=[0.1, 0.2, 0.25])
    tokens = col.tokens({"x": np.array(["0.05", "0.15", "0.22", "7"])})
    assert tokens.ids.tolist() == [0, 1, 2, 3]
    assert tokens.keys.tolist() == stable_hash(["0", "1", "2", "3"]).tolist()


def test_an_unfitted_spec_names_only_the_columns_still_to_fit():
    spec = FeatureSpec([Categorical("city", vocabulary=["oslo"]), Categorical("job")], wide=["city", "job"])
    with pytest.raises(NotFittedError, match=re.escape("the feature spec is not fitted (columns ['job']); "
                                                       "call spec.fit(train_data) first")):
        spec.transform({"city": np.array(["oslo"]), "job": np.array(["tech"])})


def test_a_spec_without_wide_columns_gives_a_batch_without_a_wide_part():
    spec = FeatureSpec([Categorical("job")], embeddings={"job": 2}).fit({"job": np.array(["tech", "art"])})
    assert spec.transform({"job": np.array(["art"])}).wide is None


@pytest.mark.parametrize("value", ["oslo", b"oslo", 5, 2.5])
def test_a_column_that_is_one_value_instead_of_one_per_row_is_refused_naming_its_type(value):
    with pytest.raises(ValueError, match=re.escape(f"a column must hold one value per row, got {type(value).__name__}")):
        as_columns({"city": value})


def test_a_missing_bag_column_names_the_column_that_reads_it_and_its_source():
    col = Multivalent("apps", source="installed").fit({"installed": np.array(["a|b"])})
    with pytest.raises(ValueError, match=re.escape("column 'apps': unknown column 'installed'; "
                                                   "the data has columns ['other']")):
        col.tokens({"other": np.array(["a"])})


def test_a_column_read_as_bytes_means_what_the_same_text_means():
    """Bytes (an 'S' array, or bytes objects in an object array or in bag lists) are decoded as UTF-8:
    the same ids, bags, hashes and crosses as the text, and the same draft spec."""
    from wdnumpy.features import Categorical, Crossed, FeatureSpec, Hashed, Multivalent
    from wdnumpy.specfiles import draft_spec
    text = {"city": np.array(["Zürich", "Oslo", "Zürich", ""]), "apps": np.array(["a|b", "c", "", "b|b"]),
            "tag": np.array(["x", "y", "x", "z"])}
    as_bytes = {"city": np.array([v.encode() for v in text["city"]]),
                "apps": [[b"a", b"b"], [b"c"], None, [b"b", b"b"]],
                "tag": np.array([v.encode() for v in text["tag"]], dtype=object)}
    joined = dict(as_bytes, apps=np.array([v.encode() for v in text["apps"]]))  # an 'S' array of joined bags

    def spec():
        return FeatureSpec([Categorical("city"), Multivalent("apps"), Hashed("tag_hash", "tag", buckets=64),
                            Crossed("city_x_apps", ["city", "apps"], buckets=64)],
                           wide=["city", "tag_hash", "city_x_apps"], embeddings={"apps": 2, "city": 2})

    from_text = spec().fit(text)
    for data in (as_bytes, joined):
        from_bytes = spec().fit(data)
        assert from_bytes.columns["city"].vocabulary == from_text.columns["city"].vocabulary == ["Oslo", "Zürich"]
        assert from_bytes.columns["apps"].vocabulary == ["a", "b", "c"]
        a, b = from_text.transform(text), from_bytes.transform(data)
        assert (a.wide != b.wide).nnz == 0 and (a.categorical["apps"] != b.categorical["apps"]).nnz == 0
        np.testing.assert_array_equal(a.categorical["city"], b.categorical["city"])
    assert draft_spec({"city": as_bytes["city"]}) == draft_spec({"city": text["city"]})


def test_bytes_that_are_not_utf8_become_the_replacement_character_wherever_they_come():
    """An invalid UTF-8 byte is read as U+FFFD, the same way in an 'S' array, in bytes objects and in bags:
    the value is kept (and looked up alike at training and prediction time), not an error."""
    from wdnumpy.features import as_text, split_bags
    bad = b"caf\xe9"
    for values in (np.array([bad, b"ok"]), np.array([bad, b"ok"], dtype=object)):
        assert as_text(values).tolist() == ["caf\ufffd", "ok"]
    for bags in (np.array([bad + b"|x", b"ok"]), np.array([bad + b"|x", b"ok"], dtype=object), [[bad, b"x"], [b"ok"]]):
        lengths, flat = split_bags(bags)
        assert lengths.tolist() == [2, 1] and flat.tolist() == ["caf\ufffd", "x", "ok"]
