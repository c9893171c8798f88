"""Cold start: the out-of-vocabulary embedding row is trained on purpose (id dropout), and a cross
with an unseen part goes to its own OOV bucket."""
import numpy as np
import pytest
import scipy.sparse as sp

from wdnumpy import Batch, EmbeddingField, WideDeep
from wdnumpy.datasets import cold_start_spec, make_cold_start_store
from wdnumpy.features import Categorical, Crossed, FeatureSpec, Multivalent, column_from_dict
from wdnumpy.model import drop_ids
from wdnumpy.train import make_model, train

TRAIN = {"user": np.array(["u1", "u2", "u3", "u1", "u2", "u3"] * 5),
         "tags": np.array(["a|b", "b", "c|a", "a", "", "b|c"] * 5),
         "item": np.array(["x", "y", "x", "z", "y", "z"] * 5)}
LABELS = np.array([1, 0, 1, 0, 1, 0] * 5, dtype=float)


def small_spec(oov_bucket=True):
    return FeatureSpec([Categorical("user"), Multivalent("tags"), Categorical("item"),
                        Crossed("user_x_item", ["user", "item"], buckets=64, oov_bucket=oov_bucket),
                        Crossed("tags_x_item", ["tags", "item"], buckets=64, oov_bucket=oov_bucket)],
                       wide=["user_x_item", "tags_x_item"],
                       embeddings={"user": 3, "tags": 2, "item": 2, "user_x_item": 2}).fit(TRAIN)


def test_oov_rows_start_at_zero_only_with_id_dropout():
    spec = small_spec()
    handled = make_model("wide_deep", spec, hidden=(4,), id_dropout=0.1)
    plain = make_model("wide_deep", spec, hidden=(4,))
    for field in spec.embedding_fields():  # every field here has an OOV id: 0
        assert field.oov_id == 0
        name = f"deep.embedding.{field.name}"
        assert np.all(handled.params[name][0] == 0) and np.any(plain.params[name][0] != 0)
        np.testing.assert_array_equal(handled.params[name][1:], plain.params[name][1:])  # the rest as before
    assert handled.params["deep.W1"].tobytes() == plain.params["deep.W1"].tobytes()
    only_user = make_model("wide_deep", spec, hidden=(4,), id_dropout={"user": 0.1})
    assert np.all(only_user.params["deep.embedding.user"][0] == 0)
    assert np.any(only_user.params["deep.embedding.item"][0] != 0)


def test_a_field_without_an_oov_id_is_left_alone():
    model = WideDeep(fields=[EmbeddingField("h", 5, 2)], hidden=(3,), mode="deep", id_dropout=0.5)
    assert model.id_dropout_rate(model.fields[0]) == 0 and np.all(model.params["deep.embedding.h"][0] != 0)
    with pytest.raises(ValueError, match="id_dropout"):
        WideDeep(fields=[EmbeddingField("h", 5, 2)], mode="deep", id_dropout={"nope": 0.1})
    with pytest.raises(ValueError, match="id_dropout"):
        WideDeep(fields=[EmbeddingField("h", 5, 2)], mode="deep", id_dropout=1.0)
    with pytest.raises(ValueError, match="oov_id"):
        EmbeddingField("h", 5, 2, oov_id=5)


def test_drop_ids_replaces_the_given_share_and_keeps_bag_counts():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 50, 20_000)
    dropped = drop_ids(ids, 0, 0.1, np.random.default_rng(1))
    assert 0.09 < np.mean(dropped == 0) < 0.11
    np.testing.assert_array_equal(dropped[dropped != 0], ids[dropped != 0])
    bags = sp.csr_matrix(rng.integers(0, 3, (500, 8)).astype(float))
    before = bags.copy()
    out = drop_ids(bags, 0, 0.3, np.random.default_rng(2))
    np.testing.assert_array_equal(np.asarray(out.sum(axis=1)).ravel(), np.asarray(bags.sum(axis=1)).ravel())
    assert out[:, 0].sum() > bags[:, 0].sum()
    assert (bags != before).nnz == 0  # the input is not changed


def test_id_dropout_is_seeded_only_in_training_and_trains_the_oov_row():
    spec = small_spec()
    batch = spec.transform(TRAIN, LABELS)
    model = make_model("wide_deep", spec, hidden=(4,), id_dropout=0.5, seed=3)
    twin = make_model("wide_deep", spec, hidden=(4,), id_dropout=0.5, seed=3)
    first, grads = model.loss(batch)
    assert first == twin.loss(batch)[0]  # the same seed drops the same ids
    assert model.loss(batch, dropout_seed=7)[0] == model.loss(batch, dropout_seed=7)[0]
    assert model.loss(batch, training=False)[0] != first
    assert 0 in grads["deep.embedding.user"].rows  # dropped ids send their gradient to the OOV row
    off = make_model("wide_deep", spec, hidden=(4,), seed=3)
    for name in off.params:
        off.params[name][...] = model.params[name]
    np.testing.assert_array_equal(model.predict_proba(batch), off.predict_proba(batch))  # predictions keep ids
    np.testing.assert_array_equal(model.predict_proba(batch), model.predict_proba(batch))


def test_a_cross_with_an_oov_part_lands_in_its_oov_bucket():
    spec = small_spec()
    rows = {"user": np.array(["u1", "new", "u2", ""]), "tags": np.array(["a|zz", "b", "zz", "c"]),
            "item": np.array(["x", "x", "new", "y"])}
    user_item = spec.tokens("user_x_item", rows)
    np.testing.assert_array_equal(user_item.ids == 0, [False, True, True, True])  # unseen, unseen, missing
    assert np.all(user_item.ids[0] >= 1)
    tags_item = spec.tokens("tags_x_item", rows)  # a bag: only the pair with the unseen tag is OOV
    np.testing.assert_array_equal(tags_item.indptr, [0, 2, 3, 4, 5])
    np.testing.assert_array_equal(tags_item.ids == 0, [False, True, False, True, False])
    seen = spec.tokens("user_x_item", TRAIN).ids
    assert seen.min() >= 1 and seen.max() < 64  # seen crosses never share the OOV bucket
    assert spec.columns["user_x_item"].value_name(0) == "<unknown>"
    assert spec.embedding_fields()[-1].oov_id == 0


def test_without_the_oov_bucket_crosses_hash_as_before():
    spec, hashed = small_spec(oov_bucket=False), small_spec()
    tokens = spec.tokens("user_x_item", TRAIN)
    np.testing.assert_array_equal(tokens.ids, (tokens.keys % np.uint64(64)).astype(np.int64))
    assert spec.embedding_fields()[-1].oov_id is None
    old = spec.columns["user_x_item"].to_dict()
    del old["oov_bucket"]  # a spec saved before the option existed
    assert column_from_dict(old).oov_bucket is False
    assert column_from_dict(hashed.columns["user_x_item"].to_dict()).oov_bucket is True
    with pytest.raises(ValueError, match="buckets"):
        Crossed("c", ["a", "b"], buckets=1, oov_bucket=True)


def test_held_out_users_are_new_in_the_test_set_only():
    store = make_cold_start_store(n_train=3000, n_test=1000, n_users=400, seed=1)
    assert set(store.train["user_id"]) == {f"user{u}" for u in store.train_user}
    assert 0.45 < store.test_new_user.mean() < 0.8  # mostly new users
    np.testing.assert_array_equal(store.test_new_user, ~np.isin(store.test["user_id"], store.train["user_id"]))


def test_the_handling_changes_new_users_predictions_through_a_trained_oov_row():
    store = make_cold_start_store(n_train=4000, n_test=600, n_users=400, seed=2)
    spec = cold_start_spec(embedding_dim=4).fit(store.train)
    batch, test = spec.transform(store.train, store.train_labels), spec.transform(store.test)
    probabilities, oov_rows = [], []
    for id_dropout in (0.0, {"user_id": 0.2}):
        model = make_model("wide_deep", spec, hidden=(8,), seed=0, id_dropout=id_dropout)
        start = model.params["deep.embedding.user_id"][0].copy()
        train(model, batch, epochs=2, seed=0)
        oov_rows.append((start, model.params["deep.embedding.user_id"][0]))
        probabilities.append(model.predict_proba(test))
    (plain_start, plain_end), (handled_start, handled_end) = oov_rows
    np.testing.assert_array_equal(plain_end, plain_start)  # every training user is known: never trained
    assert np.all(handled_start == 0) and np.any(handled_end != 0)  # learned from dropped ids
    new = store.test_new_user
    assert np.max(np.abs(probabilities[0][new] - probabilities[1][new])) > 1e-3
