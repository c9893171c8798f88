"""Feature columns and the feature spec (paper §4.1, and the cross-product of Eq. 1)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from wdnumpy import WideDeep
from wdnumpy.features import (Bucketized, Categorical, Crossed, FeatureSpec, Hashed, Multivalent, NotFittedError,
                              Numeric, combine_keys, stable_hash)


def test_vocabulary_with_min_count_and_out_of_vocabulary_id():
    col = Categorical("color", min_count=2).fit({"color": np.array(["red", "blue", "red", "green", "blue", "?", ""])})
    assert col.vocabulary == ["blue", "red"]  # green is rare, "?" and "" are missing
    assert col.size == 3
    ids = col.tokens({"color": np.array(["red", "blue", "green", "purple", "?", ""])}).ids
    assert ids.tolist() == [2, 1, 0, 0, 0, 0]  # rare, unseen and missing share id 0
    assert col.value_name(0) == "<unknown>" and col.value_name(2) == "red"


def test_categorical_accepts_numbers_and_none():
    col = Categorical("k").fit({"k": np.array([3, 1, 3])})
    assert col.tokens({"k": np.array([1, 3, 7])}).ids.tolist() == [1, 2, 0]
    obj = Categorical("k").fit({"k": np.array(["a", None, float("nan")], dtype=object)})
    assert obj.vocabulary == ["a"]


def test_stable_hash_is_fixed_across_processes_and_hash_seeds():
    values = ["installed=A", "app42", ""]
    here = stable_hash(values).tolist()
    # a fixed value, so that a change of hash function (or platform) fails this test
    assert here[1] == int.from_bytes(__import__("hashlib").blake2b(b"app42", digest_size=8).digest(), "little")
    code = "from wdnumpy.features import stable_hash; print(stable_hash(%r).tolist())" % (values,)
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                             cwd=os.path.dirname(os.path.dirname(__file__)))
        assert json.loads(out.stdout) == here


def test_hashed_column():
    col = Hashed("user", buckets=7)
    ids = col.tokens({"user": np.array(["u1", "u2", "u1"])}).ids
    assert ids[0] == ids[2] and ids.max() < 7
    assert ids[1] == stable_hash(["u2"])[0] % 7


def test_bucketized_boundaries():
    col = Bucketized("age_buckets", source="age", boundaries=[18, 25, 30])
    ids = col.tokens({"age": np.array(["17", "18", "24.9", "25", "30", "99"])}).ids
    assert ids.tolist() == [0, 1, 1, 2, 3, 3]
    assert col.size == 4 and col.value_name(1) == "[18, 25)"
    with pytest.raises(ValueError, match="increasing"):
        Bucketized("b", boundaries=[3, 1])


def test_quantile_normalization_is_paper_formula():
    """Values in the i-th of n_q quantiles map to (i − 1)/(n_q − 1)."""
    train = {"x": np.arange(100.0)}
    col = Numeric("x", n_quantiles=4).fit(train)
    np.testing.assert_allclose(col.state["boundaries"], [24.75, 49.5, 74.25])
    got = col.values({"x": np.array([0.0, 24.0, 25.0, 49.0, 60.0, 99.0, 1e9, -5.0])})
    np.testing.assert_allclose(got, [0, 0, 1 / 3, 1 / 3, 2 / 3, 1, 1, 0])
    assert Numeric("x", n_quantiles=100).fit(train).values(train).max() == 1.0


def test_standard_and_log1p_normalization():
    train = {"x": np.array([0.0, np.e - 1, np.e ** 2 - 1])}
    col = Numeric("x", normalization="standard", log1p=True).fit(train)
    np.testing.assert_allclose(col.values(train), (np.array([0, 1, 2]) - 1) / np.std([0, 1, 2]))
    with pytest.raises(ValueError, match=r"'x', row 1: log1p needs values > -1"):
        col.values({"x": np.array([0.0, -2.0])})
    raw = Numeric("x", normalization="none").fit(train)
    np.testing.assert_array_equal(raw.values(train), train["x"])


def test_missing_numbers_error_or_fill():
    data = {"h": np.array(["40", "", "20", "abc"])}
    with pytest.raises(ValueError, match=r"column 'h', row 1: missing value"):
        Numeric("h", normalization="none").fit({"h": data["h"][:3]})
    with pytest.raises(ValueError, match=r"column 'h', row 3: 'abc' is not a number"):
        Numeric("h", normalization="none", fill=0).fit(data)
    col = Numeric("h", normalization="none", fill="mean").fit({"h": data["h"][:3]})
    np.testing.assert_array_equal(col.values({"h": np.array(["?", "10"])}), [30.0, 10.0])
    col = Numeric("h", normalization="none", fill=-1).fit({"h": data["h"][:3]})
    assert col.values({"h": np.array(["NA"])}).tolist() == [-1.0]
    with pytest.raises(ValueError, match="fill"):
        Numeric("h", fill="mode")


def test_multivalent_bags_from_lists_or_strings():
    col = Multivalent("apps", min_count=1).fit({"apps": np.array(["A|B", "B|C|C", ""])})
    assert col.vocabulary == ["A", "B", "C"]
    t = col.tokens({"apps": [["A", "Z"], [], ["C", "C"]]})
    assert t.indptr.tolist() == [0, 2, 2, 4]
    assert t.ids.tolist() == [1, 0, 3, 3]
    semicolons = Multivalent("apps", separator=";").fit({"apps": np.array(["A;B", "B|C"])})
    assert semicolons.vocabulary == ["A", "B", "B|C"]


def test_cross_of_two_bags_is_every_pair_as_in_the_paper():
    """installed [A, B] × impression [A, C] → (A,A), (A,C), (B,A), (B,C)."""
    spec = FeatureSpec([Multivalent("installed"), Multivalent("impression"),
                        Crossed("cross", ["installed", "impression"], buckets=2 ** 20)], wide=["cross"])
    data = {"installed": [["A", "B"]], "impression": [["A", "C"]]}
    spec.fit(data)
    t = spec.tokens("cross", data)
    key = {v: k for v, k in zip("ABC", stable_hash(["A", "B", "C"]))}
    expected = [combine_keys(np.array([key[a]]), np.array([key[b]]))[0] for a, b in ("AA", "AC", "BA", "BC")]
    assert t.keys.tolist() == expected
    assert t.ids.tolist() == [int(k % (2 ** 20)) for k in expected]
    assert len(set(t.ids.tolist())) == 4  # four distinct active crosses
    names = [name for _, name in spec.wide_feature_names(data, 0)]
    assert names == ["installed=A × impression=A", "installed=A × impression=C",
                     "installed=B × impression=A", "installed=B × impression=C"]
    batch = spec.transform(data)
    assert batch.wide.nnz == 4 and set(batch.wide.data) == {1.0}
    assert sorted(batch.wide.indices.tolist()) == sorted(t.ids.tolist())


def test_cross_is_ordered_and_handles_empty_bags_and_three_columns():
    spec = FeatureSpec([Categorical("a"), Categorical("b"), Multivalent("bag"),
                        Crossed("ab", ["a", "b"], 1000), Crossed("ba", ["b", "a"], 1000),
                        Crossed("ab_bag", ["a", "b", "bag"], 1000)], wide=["ab", "ba", "ab_bag"])
    data = {"a": np.array(["x", "y"]), "b": np.array(["y", "x"]), "bag": np.array(["p|q|r", ""])}
    spec.fit(data)
    ab, ba = spec.tokens("ab", data), spec.tokens("ba", data)
    assert ab.keys[0] != ba.keys[0]  # (x, y) differs from (y, x)
    assert ab.keys[0] != ab.keys[1]
    three = spec.tokens("ab_bag", data)
    assert three.indptr.tolist() == [0, 3, 3]  # 1·1·3 crosses, and none for the empty bag


def adult_like():
    return {"edu": np.array(["BS", "MS", "BS", "PhD", "BS"]),
            "job": np.array(["tech", "sales", "tech", "tech", "?"]),
            "apps": np.array(["a|b", "b", "", "c|a|a", "b"]),
            "age": np.array(["25", "41", "33", "58", "19"])}


def make_spec():
    return FeatureSpec(
        [Categorical("edu"), Categorical("job"), Multivalent("apps", pooling="sum"), Numeric("age", n_quantiles=3),
         Bucketized("age_b", source="age", boundaries=[30, 50]),
         Crossed("edu_x_job", ["edu", "job"], buckets=64)],
        wide=["edu", "age_b", "edu_x_job"], embeddings={"job": 3, "apps": 2, "edu_x_job": 2},
        continuous=["age"])


def test_spec_transform_feeds_the_model():
    spec = make_spec().fit(adult_like())
    kwargs = spec.model_kwargs()
    assert kwargs["wide_dim"] == 4 + 3 + 64
    assert spec.wide_offsets() == {"edu": 0, "age_b": 4, "edu_x_job": 7}
    batch = spec.transform(adult_like(), labels=[0, 1, 0, 1, 1])
    assert batch.wide.shape == (5, 71)
    assert np.diff(batch.wide.indptr).tolist() == [3] * 5  # one edu, one age bucket, one cross per row
    assert batch.categorical["apps"].shape == (5, 4)
    assert batch.categorical["apps"][3].toarray().tolist() == [[0, 2, 0, 1]]  # a repeated app counts twice
    assert batch.categorical["job"].tolist() == [2, 1, 2, 2, 0]
    assert batch.continuous.shape == (5, 1)
    model = WideDeep(**kwargs, hidden=(4,), seed=0)
    assert model.predict_proba(batch).shape == (5,)
    assert model.loss(batch) > 0


def test_unseen_categories_at_prediction_time_are_out_of_vocabulary():
    spec = make_spec().fit(adult_like())
    new = {"edu": np.array(["Kindergarten"]), "job": np.array(["astronaut"]), "apps": np.array(["zzz|a"]),
           "age": np.array(["30"])}
    batch = spec.transform(new)
    assert batch.categorical["job"].tolist() == [0]
    assert batch.categorical["apps"].toarray().tolist() == [[1, 1, 0, 0]]
    assert batch.wide[0, 0] == 1.0  # edu's out-of-vocabulary weight


def test_spec_round_trips_through_json():
    spec = make_spec().fit(adult_like())
    loaded = FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    a, b = spec.transform(adult_like()), loaded.transform(adult_like())
    assert (a.wide != b.wide).nnz == 0
    np.testing.assert_array_equal(a.continuous, b.continuous)
    for name in a.categorical:
        x, y = a.categorical[name], b.categorical[name]
        assert (x != y).nnz == 0 if hasattr(x, "nnz") else np.array_equal(x, y)
    with pytest.raises(ValueError, match="column kind"):
        FeatureSpec.from_dict({"columns": [{"kind": "pickle"}], "wide": [], "embeddings": {}, "continuous": []})
    with pytest.raises(ValueError, match="feature spec"):
        FeatureSpec.from_dict({"columns": []})


def test_spec_errors():
    with pytest.raises(NotFittedError, match="not fitted"):
        make_spec().transform(adult_like())
    spec = make_spec().fit(adult_like())
    bad = adult_like()
    del bad["job"]
    with pytest.raises(ValueError, match=r"unknown column 'job'"):
        spec.transform(bad)
    with pytest.raises(ValueError, match=r"column 'age', row 2: missing value"):
        spec.transform({**adult_like(), "age": np.array(["25", "41", "", "58", "19"])})
    with pytest.raises(ValueError, match="different numbers of rows"):
        spec.transform({**adult_like(), "age": np.array(["25"])})
    with pytest.raises(ValueError, match="no rows"):
        spec.fit({k: v[:0] for k, v in adult_like().items()})
    with pytest.raises(ValueError, match="unknown column 'nope'"):
        FeatureSpec([Categorical("a")], wide=["nope"])
    with pytest.raises(ValueError, match="expected a Numeric"):
        FeatureSpec([Categorical("a")], continuous=["a"])
    with pytest.raises(ValueError, match="categorical-like"):
        FeatureSpec([Numeric("a")], wide=["a"])
    with pytest.raises(ValueError, match="crossed column"):
        FeatureSpec([Categorical("a"), Crossed("c", ["a", "b"])])
    with pytest.raises(ValueError, match="two columns"):
        FeatureSpec([Categorical("a"), Categorical("a")])
