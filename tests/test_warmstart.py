"""Warm start (paper §4.2) through its public function only: every weight of a value both models know lands
at that value's id in the new model, whatever ids the new vocabulary gave it; everything new stays fresh."""
import numpy as np
import pytest

from wdnumpy.features import Bucketized, Categorical, FeatureSpec, Hashed, Multivalent, Numeric
from wdnumpy.train import make_model
from wdnumpy.warmstart import warm_start

FILLER = {"city": "lima", "apps": "B", "user": "u1", "age": "30"}


def rows(city, apps, seed, n_users=20):
    """Raw columns: the given cities and app bags, with random users and ages."""
    rng = np.random.default_rng(seed)
    n = len(city)
    users = np.array([f"u{i}" for i in rng.integers(0, n_users, n)])
    return {"city": np.array(city), "apps": np.array(apps), "user": users, "age": rng.integers(18, 80, n).astype(str)}


def spec(wide, embeddings, boundaries=(25, 40, 60)):
    return FeatureSpec([Categorical("city", min_count=2), Multivalent("apps", min_count=2), Hashed("user", buckets=8),
                        Bucketized("age_buckets", source="age", boundaries=boundaries), Numeric("age")],
                       wide=wide, embeddings=embeddings, continuous=["age"])


# old vocabularies: city lima, oslo, rome; apps B, D, F. The new ones drop rome and F, and add values that sort
# before and between the old ones, so that every shared value gets another id.
OLD_DATA = rows(["lima", "oslo", "rome"] * 4, ["B|D", "F", "D|F", "B"] * 3, seed=0)
NEW_DATA = rows(["kyiv", "lima", "nice", "oslo", "paris"] * 3 + ["rome"],  # rome and F once: below min_count
                ["A|B", "C", "D", "B|C|A", "D|A"] * 3 + ["F"], seed=1)
SHARED = {"city": ["lima", "oslo"], "apps": ["B", "D"]}
NEW_ONLY = {"city": ["kyiv", "nice", "paris"], "apps": ["A", "C"]}


def ids(fitted, column, values):
    """The ids the fitted spec gives ``values`` of ``column`` (read from its transform, as a model sees them)."""
    data = {k: np.array([v] * len(values)) for k, v in FILLER.items()}
    data[column] = np.array(values)
    got = fitted.transform(data).categorical[column]
    if hasattr(got, "indices"):  # a bag of one value per row
        assert np.array_equal(np.diff(got.indptr), np.ones(len(values)))
        return got.indices.copy()
    return got


@pytest.fixture
def models():
    old_spec = spec(wide=["city", "apps", "user", "age_buckets"], embeddings={"city": 3, "apps": 2, "user": 2}).fit(
        OLD_DATA)
    new_spec = spec(wide=["age_buckets", "apps", "user", "city"],  # the wide blocks in another order, too
                    embeddings={"city": 3, "apps": 2, "user": 3}).fit(NEW_DATA)
    old = make_model("wide_deep", old_spec, hidden=(4,), seed=0)
    rng = np.random.default_rng(5)
    for value in old.params.values():  # every old weight distinct, so that a misplaced copy shows
        value[...] = rng.standard_normal(value.shape)
    new = make_model("wide_deep", new_spec, hidden=(4,), seed=1)
    new.params["wide.w"][...] = np.random.default_rng(6).standard_normal(new.params["wide.w"].shape)
    fresh = {k: v.copy() for k, v in new.params.items()}
    return old_spec, old, new_spec, new, fresh


def test_the_case_moves_ids():
    old_spec = spec(["city"], {"city": 3}).fit(OLD_DATA)
    new_spec = spec(["city"], {"city": 3}).fit(NEW_DATA)
    assert not np.array_equal(ids(old_spec, "city", SHARED["city"]), ids(new_spec, "city", SHARED["city"]))
    assert ids(new_spec, "city", ["rome"]).tolist() == [0]  # seen once in the new data: out of vocabulary
    old_spec = spec(["apps"], {"apps": 2}).fit(OLD_DATA)
    new_spec = spec(["apps"], {"apps": 2}).fit(NEW_DATA)
    assert not np.array_equal(ids(old_spec, "apps", SHARED["apps"]), ids(new_spec, "apps", SHARED["apps"]))
    assert ids(new_spec, "apps", ["F"]).tolist() == [0]


@pytest.mark.parametrize("column", ["city", "apps"])
def test_each_shared_value_keeps_its_embedding_row_and_wide_weight_at_its_new_id(models, column):
    old_spec, old, new_spec, new, _ = models
    warm_start(new, new_spec, old, old_spec)
    old_ids, new_ids = ids(old_spec, column, SHARED[column]), ids(new_spec, column, SHARED[column])
    name = f"deep.embedding.{column}"
    np.testing.assert_array_equal(new.params[name][new_ids], old.params[name][old_ids])
    old_wide = old_spec.wide_offsets()[column] + old_ids
    new_wide = new_spec.wide_offsets()[column] + new_ids
    np.testing.assert_array_equal(new.params["wide.w"][new_wide], old.params["wide.w"][old_wide])


@pytest.mark.parametrize("column", ["city", "apps"])
def test_the_out_of_vocabulary_row_maps_to_itself(models, column):
    old_spec, old, new_spec, new, _ = models
    warm_start(new, new_spec, old, old_spec)
    name = f"deep.embedding.{column}"
    np.testing.assert_array_equal(new.params[name][0], old.params[name][0])
    new_oov, old_oov = new_spec.wide_offsets()[column], old_spec.wide_offsets()[column]
    assert new.params["wide.w"][new_oov] == old.params["wide.w"][old_oov]


@pytest.mark.parametrize("column", ["city", "apps"])
def test_new_values_keep_their_fresh_initialisation(models, column):
    old_spec, old, new_spec, new, fresh = models
    warm_start(new, new_spec, old, old_spec)
    new_ids = ids(new_spec, column, NEW_ONLY[column])
    assert 0 not in new_ids
    name = f"deep.embedding.{column}"
    np.testing.assert_array_equal(new.params[name][new_ids], fresh[name][new_ids])
    wide = new_spec.wide_offsets()[column] + new_ids
    np.testing.assert_array_equal(new.params["wide.w"][wide], fresh["wide.w"][wide])


def test_columns_defined_alike_copy_by_id_and_changed_ones_not_at_all(models):
    old_spec, old, new_spec, new, fresh = models
    # same hash buckets: the user block is copied whole; its embedding changed width (2 → 3): kept fresh
    report = warm_start(new, new_spec, old, old_spec)
    user_new, user_old = new_spec.wide_offsets()["user"], old_spec.wide_offsets()["user"]
    np.testing.assert_array_equal(new.params["wide.w"][user_new:user_new + 8],
                                  old.params["wide.w"][user_old:user_old + 8])
    np.testing.assert_array_equal(new.params["deep.embedding.user"], fresh["deep.embedding.user"])
    assert "deep.embedding.user" not in report
    # the age buckets kept their boundaries: copied by id
    age_new, age_old = new_spec.wide_offsets()["age_buckets"], old_spec.wide_offsets()["age_buckets"]
    np.testing.assert_array_equal(new.params["wide.w"][age_new:age_new + 4],
                                  old.params["wide.w"][age_old:age_old + 4])
    # with other boundaries a bucket id means another age range: nothing is copied
    moved = spec(wide=["age_buckets", "apps", "user", "city"], embeddings={"city": 3, "apps": 2, "user": 3},
                 boundaries=(30, 50, 70)).fit(NEW_DATA)
    other = make_model("wide_deep", moved, hidden=(4,), seed=1)
    other.params["wide.w"][...] = fresh["wide.w"]
    warm_start(other, moved, old, old_spec)
    age = moved.wide_offsets()["age_buckets"]
    np.testing.assert_array_equal(other.params["wide.w"][age:age + 4], fresh["wide.w"][age:age + 4])


def test_the_report_counts_what_was_copied_and_the_rest_is_untouched(models):
    old_spec, old, new_spec, new, fresh = models
    report = warm_start(new, new_spec, old, old_spec)
    # per vocabulary column: the shared values and the out-of-vocabulary id
    assert report["deep.embedding.city"] == len(SHARED["city"]) + 1
    assert report["deep.embedding.apps"] == len(SHARED["apps"]) + 1
    assert report["wide.w"] == (len(SHARED["city"]) + 1) + (len(SHARED["apps"]) + 1) + 8 + 4
    assert report["bias"] == 1 and new.params["bias"][0] == old.params["bias"][0]
    # exactly those wide weights changed (old and fresh weights are all distinct draws)
    offsets = new_spec.wide_offsets()
    copied = [offsets[c] + np.concatenate([[0], ids(new_spec, c, SHARED[c])]) for c in ("city", "apps")]
    copied += [offsets["user"] + np.arange(8), offsets["age_buckets"] + np.arange(4)]
    changed = np.flatnonzero(new.params["wide.w"] != fresh["wide.w"])
    np.testing.assert_array_equal(changed, np.sort(np.concatenate(copied)))
    # the tower is not copied unless asked
    for name in ("deep.W1", "deep.b1", "deep.w_out"):
        np.testing.assert_array_equal(new.params[name], fresh[name], err_msg=name)
        assert name not in report


# a new vocabulary of the same size as the old one, each shared value at another id: arrays of equal shape that
# must still be copied by value, not whole
SAME_SIZE_DATA = rows(["kyiv", "lima", "oslo"] * 4, ["A|B", "D", "B|D", "A"] * 3, seed=2)


def test_with_include_mlp_the_tower_is_copied_whole_and_vocabulary_arrays_still_by_value():
    wide, embeddings = ["city", "apps", "user", "age_buckets"], {"city": 3, "apps": 2, "user": 2}
    old_spec, new_spec = spec(wide, embeddings).fit(OLD_DATA), spec(wide, embeddings).fit(SAME_SIZE_DATA)
    old = make_model("wide_deep", old_spec, hidden=(4,), seed=0)
    rng = np.random.default_rng(7)
    for value in old.params.values():
        value[...] = rng.standard_normal(value.shape)
    new = make_model("wide_deep", new_spec, hidden=(4,), seed=1)
    fresh = {k: v.copy() for k, v in new.params.items()}
    assert new.params["deep.embedding.city"].shape == old.params["deep.embedding.city"].shape
    assert new.params["wide.w"].shape == old.params["wide.w"].shape
    report = warm_start(new, new_spec, old, old_spec, include_mlp=True)
    for name in ("deep.W1", "deep.b1", "deep.w_out"):
        np.testing.assert_array_equal(new.params[name], old.params[name], err_msg=name)
        assert report[name] == 1, name
    for column, shared, new_only in (("city", ["lima", "oslo"], ["kyiv"]), ("apps", ["B", "D"], ["A"])):
        name = f"deep.embedding.{column}"
        old_ids, new_ids = ids(old_spec, column, shared), ids(new_spec, column, shared)
        assert not np.array_equal(old_ids, new_ids)
        np.testing.assert_array_equal(new.params[name][new_ids], old.params[name][old_ids])
        fresh_ids = ids(new_spec, column, new_only)
        np.testing.assert_array_equal(new.params[name][fresh_ids], fresh[name][fresh_ids])
        wide_ids = new_spec.wide_offsets()[column] + fresh_ids
        np.testing.assert_array_equal(new.params["wide.w"][wide_ids], fresh["wide.w"][wide_ids])
        assert report[name] == len(shared) + 1


def test_an_embedding_that_changed_width_does_not_stop_the_columns_after_it():
    # city (the first field) changes width 3 → 4 and stays fresh; apps after it is still copied
    old_spec = spec(["city"], {"city": 3, "apps": 2}).fit(OLD_DATA)
    new_spec = spec(["city"], {"city": 4, "apps": 2}).fit(NEW_DATA)
    old, new = make_model("deep", old_spec, hidden=(4,), seed=0), make_model("deep", new_spec, hidden=(4,), seed=1)
    assert [f.name for f in new.fields][0] == "city"
    fresh_city = new.params["deep.embedding.city"].copy()
    report = warm_start(new, new_spec, old, old_spec)
    np.testing.assert_array_equal(new.params["deep.embedding.city"], fresh_city)
    old_ids, new_ids = ids(old_spec, "apps", SHARED["apps"]), ids(new_spec, "apps", SHARED["apps"])
    np.testing.assert_array_equal(new.params["deep.embedding.apps"][new_ids], old.params["deep.embedding.apps"][old_ids])
    assert "deep.embedding.city" not in report and report["deep.embedding.apps"] == len(SHARED["apps"]) + 1


@pytest.mark.parametrize("old_kind", ["wide", "deep"])
def test_a_joint_model_warm_starts_from_a_wide_only_or_deep_only_model(old_kind):
    old_spec = spec(["city", "apps"], {"city": 3, "apps": 2}).fit(OLD_DATA)
    new_spec = spec(["city", "apps"], {"city": 3, "apps": 2}).fit(NEW_DATA)
    old = make_model(old_kind, old_spec, hidden=(4,), seed=0)
    for value in old.params.values():
        value[...] = np.random.default_rng(3).standard_normal(value.shape)
    new = make_model("wide_deep", new_spec, hidden=(4,), seed=1)
    fresh = {k: v.copy() for k, v in new.params.items()}
    report = warm_start(new, new_spec, old, old_spec)
    assert report["bias"] == 1 and new.params["bias"][0] == old.params["bias"][0]
    assert ("wide.w" in report) == (old_kind == "wide")
    assert ("deep.embedding.city" in report) == (old_kind == "deep")
    missing = "deep.embedding.city" if old_kind == "wide" else "wide.w"
    np.testing.assert_array_equal(new.params[missing], fresh[missing])  # nothing to copy from: stays fresh
