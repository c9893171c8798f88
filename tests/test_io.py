"""Saving and loading: round trips, no pickle, atomic writes, clear errors."""
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from wdnumpy import io
from wdnumpy.datasets import app_store_spec, make_app_store
from wdnumpy.ensemble import Ensemble
from wdnumpy.features import Bucketized, Categorical, Crossed, FeatureSpec, Hashed, Multivalent, Numeric
from wdnumpy.train import make_model, train


@pytest.fixture(scope="module")
def trained():
    data = make_app_store(n_train=3000, n_test=500, n_users=300, n_apps=30, n_niche=10, seed=1)
    spec = app_store_spec(embedding_dim=4, cross_buckets=1024).fit(data.train)
    batch = spec.transform(data.train, data.train_labels)
    models = {}
    for kind in ("wide_deep", "wide", "deep", "ensemble"):
        models[kind] = make_model(kind, spec, hidden=(8, 4), seed=0)
        train(models[kind], batch, "adam", epochs=1, batch_size=512)
    return data, spec, models


@pytest.mark.parametrize("kind", ["wide_deep", "wide", "deep", "ensemble"])
def test_round_trip_gives_identical_predictions(tmp_path, trained, kind):
    data, spec, models = trained
    path = io.save_model(tmp_path / "m.npz", models[kind], spec, metadata={"note": "test"})
    model, loaded_spec, meta = io.load_model(path)
    assert meta == {"note": "test"}
    assert type(model) is type(models[kind])
    before = models[kind].predict_proba(spec.transform(data.test))
    after = model.predict_proba(loaded_spec.transform(data.test))
    np.testing.assert_array_equal(before, after)
    if isinstance(model, Ensemble):
        assert model.combine == models[kind].combine


def test_float32_round_trip(tmp_path, trained):
    data, spec, _ = trained
    model = make_model("wide_deep", spec, hidden=(4,), dtype=np.float32)
    loaded, _, _ = io.load_model(io.save_model(tmp_path / "f.npz", model, spec))
    assert loaded.dtype == np.float32 and loaded.params["deep.W1"].dtype == np.float32


def test_file_is_plain_arrays_loadable_without_pickle(tmp_path, trained):
    _, spec, models = trained
    path = io.save_model(tmp_path / "m.npz", models["wide_deep"], spec)
    with np.load(path, allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)
        meta = json.loads(npz["__meta__"].tobytes())
    assert meta["format"] == "wdnumpy-model" and meta["spec"]["wide"] == spec.wide


def test_truncated_corrupted_and_foreign_files_raise_clear_errors(tmp_path, trained):
    _, spec, models = trained
    good = io.save_model(tmp_path / "good.npz", models["wide_deep"], spec)
    raw = good.read_bytes()

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated.npz"):
        io.load_model(truncated)

    corrupted = tmp_path / "corrupted.npz"
    middle = len(raw) // 2
    corrupted.write_bytes(raw[:middle] + bytes(b ^ 0xFF for b in raw[middle:middle + 64]) + raw[middle + 64:])
    with pytest.raises(ValueError, match="corrupted.npz"):
        io.load_model(corrupted)

    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    with pytest.raises(ValueError, match="no __meta__"):
        io.load_model(foreign)

    with pytest.raises(ValueError, match="no such model file"):
        io.load_model(tmp_path / "absent.npz")

    text = tmp_path / "text.npz"
    text.write_text("not a zip file")
    with pytest.raises(ValueError, match="text.npz"):
        io.load_model(text)


def test_mismatched_arrays_are_rejected(tmp_path, trained):
    _, spec, models = trained
    path = io.save_model(tmp_path / "m.npz", models["wide_deep"], spec)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["param:deep.W1"] = arrays["param:deep.W1"][:, :2]
    np.savez(tmp_path / "shape.npz", **arrays)
    with pytest.raises(ValueError, match=r"'param:deep.W1' has shape"):
        io.load_model(tmp_path / "shape.npz")
    del arrays["param:deep.W1"]
    np.savez(tmp_path / "missing.npz", **arrays)
    with pytest.raises(ValueError, match="missing"):
        io.load_model(tmp_path / "missing.npz")
    meta = json.loads(arrays["__meta__"].tobytes())
    meta["version"] = 99
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(tmp_path / "version.npz", **arrays)
    with pytest.raises(ValueError, match="version 99"):
        io.load_model(tmp_path / "version.npz")


def test_a_failed_save_leaves_the_previous_file_whole(tmp_path, trained, monkeypatch):
    data, spec, models = trained
    path = io.save_model(tmp_path / "m.npz", models["wide_deep"], spec)
    original = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises((OSError, ValueError), match="disk full"):  # as it is, or as a message naming the file
        io.save_model(path, models["wide"], spec)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left behind
    assert zipfile.is_zipfile(path)


# -- a round trip keeps everything that decides a prediction ----------------------------------------------

def raw_rows(n, seed):
    """Raw columns with every column kind's input, missing numbers included (filled by the spec)."""
    rng = np.random.default_rng(seed)
    hours = rng.normal(40, 10, n).round(1).astype(str)
    hours[rng.random(n) < 0.1] = ""
    return {"city": rng.choice(["paris", "oslo", "lima", "rome", "kyiv"], n),
            "user": np.array([f"u{i}" for i in rng.integers(0, 50, n)]),
            "apps": np.array([";".join(rng.choice(list("ABCDEFG"), rng.integers(0, 4), replace=False))
                              for _ in range(n)]),
            "age": rng.integers(17, 80, n).astype(str),
            "hours": hours}


def small_spec():
    """Every column kind, each option away from its default, so that a setting lost on the way shows."""
    return FeatureSpec(
        [Categorical("town", source="city", min_count=2), Hashed("user", buckets=16),
         Multivalent("apps", min_count=2, separator=";", pooling="sum"),
         Bucketized("age_buckets", source="age", boundaries=[25, 40, 60], fill=30.0),
         Crossed("town_x_apps", ["town", "apps"], buckets=32),
         Numeric("age", n_quantiles=10, log1p=True), Numeric("hours", normalization="standard", fill="median")],
        wide=["town", "user", "age_buckets", "town_x_apps"],
        embeddings={"town": 3, "apps": 2, "user": 2},
        continuous=["age", "hours"])


def public_state(column):
    """A column's public attributes: its definition and fitted state, not caches."""
    return {k: v for k, v in vars(column).items() if not k.startswith("_")}


@pytest.fixture(scope="module")
def zoo():
    """Trained models of every kind (dropout and L2 on, so that a lost setting shows), with their spec."""
    train_rows, rng = raw_rows(400, 0), np.random.default_rng(1)
    spec = small_spec().fit(train_rows)
    batch = spec.transform(train_rows, rng.integers(0, 2, 400))
    settings = dict(hidden=(5, 3), dropout=0.3, l2=1e-3)
    models = {kind: make_model(kind, spec, seed=2, **settings) for kind in ("wide", "deep", "wide_deep")}
    models["float32"] = make_model("wide_deep", spec, seed=3, dtype=np.float32, **settings)
    models["ensemble_logit"] = make_model("ensemble", spec, seed=4, combine="logit", **settings)
    models["ensemble_proba"] = make_model("ensemble", spec, seed=4, combine="proba", **settings)
    models["ensemble_stacked"] = make_model("ensemble", spec, seed=5, **settings)
    for model in models.values():
        train(model, batch, "adam", epochs=1, batch_size=64)  # wide weights start at 0: move them
    models["ensemble_stacked"].fit_stacking(batch)  # its own (a, b, c): a file must keep them
    return spec, models, raw_rows(200, 5), train_rows


def assert_same_member(loaded, original):
    for attribute in ("mode", "hidden", "dtype", "dropout", "l2", "fields", "wide_dim", "n_continuous", "seed"):
        assert getattr(loaded, attribute) == getattr(original, attribute), attribute
    assert list(loaded.params) == list(original.params)
    for name, value in original.params.items():
        assert loaded.params[name].dtype == value.dtype, name
        np.testing.assert_array_equal(loaded.params[name], value, err_msg=name)


def assert_same_batch(a, b):
    assert (a.wide is None) == (b.wide is None)
    if a.wide is not None:
        assert a.wide.shape == b.wide.shape
        for part in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(a.wide, part), getattr(b.wide, part), err_msg=part)
    assert set(a.categorical) == set(b.categorical)
    for name, values in a.categorical.items():
        other = b.categorical[name]
        if hasattr(values, "toarray"):
            values, other = values.toarray(), other.toarray()
        np.testing.assert_array_equal(values, other, err_msg=name)
    np.testing.assert_array_equal(a.continuous, b.continuous)


@pytest.mark.parametrize("kind", ["wide", "deep", "wide_deep", "float32", "ensemble_logit", "ensemble_proba",
                                  "ensemble_stacked"])
def test_round_trip_keeps_configuration_parameters_spec_and_predictions(tmp_path, zoo, kind):
    spec, models, rows, train_rows = zoo
    original = models[kind]
    model, loaded_spec, _ = io.load_model(io.save_model(tmp_path / "m.npz", original, spec))
    assert type(model) is type(original)
    if isinstance(original, Ensemble):
        assert set(model.members) == set(original.members)
        for name, member in original.members.items():
            assert_same_member(model.members[name], member)
        # everything else the ensemble holds (its combination rule and anything that goes with it)
        rest = {k: v for k, v in vars(original).items() if k != "members"}
        assert set(rest) == {k for k in vars(model) if k != "members"}
        for key, value in rest.items():
            np.testing.assert_array_equal(getattr(model, key), value, err_msg=key)
    else:
        assert_same_member(model, original)
    assert loaded_spec.to_dict() == spec.to_dict()
    assert list(loaded_spec.columns) == list(spec.columns)
    for name, column in spec.columns.items():
        assert type(loaded_spec.columns[name]) is type(column)
        assert public_state(loaded_spec.columns[name]) == public_state(column), name
    assert loaded_spec.model_kwargs() == spec.model_kwargs()
    before, after = spec.transform(rows), loaded_spec.transform(rows)
    assert_same_batch(after, before)
    # the definitions came back too, not only the fitted state: fitted again, the loaded spec is the same
    assert_same_batch(loaded_spec.fit(train_rows).transform(rows), before)
    np.testing.assert_array_equal(model.predict_proba(after), original.predict_proba(before))
    assert model.predict_proba(after).dtype == original.predict_proba(before).dtype


# -- atomic saving ------------------------------------------------------------------------------------------

def written_name(file):
    """The path np.savez was asked to write: a file object's name, or the path itself."""
    return Path(getattr(file, "name", file))


def test_a_save_that_fails_part_way_leaves_the_old_file_and_no_temporary(tmp_path, zoo, monkeypatch):
    spec, models, _, _ = zoo
    path = io.save_model(tmp_path / "m.npz", models["wide_deep"], spec)
    original = path.read_bytes()

    def fail_part_way(file, *args, **kwargs):
        if hasattr(file, "write"):
            file.write(b"PK\x03\x04 half a zip file")
        else:
            with open(file, "wb") as f:
                f.write(b"PK\x03\x04 half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", fail_part_way)
    with pytest.raises((OSError, ValueError), match="disk full"):  # as it is, or as a message naming the file
        io.save_model(path, models["deep"], spec)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary left behind
    monkeypatch.undo()
    assert io.load_model(path)[0].mode == "wide_deep"


@pytest.mark.parametrize("existing", [False, True])
def test_the_target_appears_only_by_renaming_a_finished_file_in_its_directory(tmp_path, zoo, monkeypatch,
                                                                               existing):
    spec, models, _, _ = zoo
    path = tmp_path / "m.npz"
    if existing:
        io.save_model(path, models["wide"], spec)
    before = path.read_bytes() if existing else None
    seen = []
    real_savez = np.savez

    def watch(file, *args, **kwargs):
        # while the new content is being written, the target is untouched
        seen.append((written_name(file), path.read_bytes() if path.exists() else None))
        return real_savez(file, *args, **kwargs)

    monkeypatch.setattr(np, "savez", watch)
    io.save_model(path, models["wide_deep"], spec)
    [(written, target_during_write)] = seen
    assert written.resolve() != path.resolve()
    assert written.parent.resolve() == tmp_path.resolve()  # same directory: the rename is atomic
    assert target_during_write == before
    assert not written.exists() and [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    assert io.load_model(path)[0].mode == "wide_deep"


def test_files_saved_before_id_dropout_and_named_rules_still_load(tmp_path, zoo):
    """Older files have no ``id_dropout`` or ``oov_id`` in their configurations and say "logit" (or nothing)
    for the summed ensemble: the checks added to load_model must not refuse them."""
    spec, models, rows, _ = zoo
    path = io.save_model(tmp_path / "old.npz", models["ensemble_logit"], spec)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("__meta__").tobytes())
    for config in meta["configs"].values():
        config.pop("id_dropout", None)
        for field in config["fields"]:
            field.pop("oov_id", None)
    meta["combine"] = None
    np.savez(tmp_path / "older.npz", __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    model, _, _ = io.load_model(tmp_path / "older.npz")
    assert model.combine == "sum"
    np.testing.assert_array_equal(model.predict_proba(spec.transform(rows)),
                                  models["ensemble_logit"].predict_proba(spec.transform(rows)))


def test_a_model_saved_without_a_spec_loads_with_spec_none(tmp_path):
    """save_model's spec is optional; load_model then returns spec None (its documented return)."""
    from wdnumpy import WideDeep
    from wdnumpy.batch import EmbeddingField
    model = WideDeep(wide_dim=3, fields=(EmbeddingField("f", vocab_size=2, dim=1),), n_continuous=0, hidden=(2,))
    loaded, spec, metadata = io.load_model(io.save_model(tmp_path / "bare.npz", model))
    assert spec is None and metadata == {}
    for name, param in model.params.items():
        np.testing.assert_array_equal(loaded.params[name], param)


# -- what save_model accepts, and the checks of a spec against the parts a model uses ----------------------

def test_save_model_refuses_what_is_not_a_model_naming_its_type(tmp_path):
    with pytest.raises(ValueError, match="^can only save a WideDeep or an Ensemble, got dict$"):
        io.save_model(tmp_path / "m.npz", {"bias": np.zeros(1)})
    assert list(tmp_path.iterdir()) == []


def test_save_model_names_an_unusable_path_a_model_file(tmp_path):
    """save_model's path errors are files.atomic_write's, with the path called "model file"."""
    from wdnumpy import WideDeep
    model = WideDeep(wide_dim=2, mode="wide")
    with pytest.raises(ValueError, match=f"^model file {re.escape(str(tmp_path))}: is a directory; give a file name$"):
        io.save_model(tmp_path, model)
    with pytest.raises(ValueError, match=r"^model file .*absent/m.npz: the directory .*absent does not exist$"):
        io.save_model(tmp_path / "absent" / "m.npz", model)


def test_a_spec_is_checked_only_against_the_parts_a_model_uses(tmp_path, zoo):
    """A wide-only model needs no embedding fields and a deep-only one no wide features: saved with the full
    spec (whose embeddings and wide features they leave out), both load, and predict as before."""
    from wdnumpy import WideDeep
    spec, _, rows, _ = zoo
    kwargs = spec.model_kwargs()
    wide = WideDeep(wide_dim=kwargs["wide_dim"], mode="wide", seed=1)
    deep = WideDeep(fields=kwargs["fields"], n_continuous=kwargs["n_continuous"], hidden=(3,), mode="deep", seed=1)
    wide.params["wide.w"][...] = np.linspace(-1, 1, wide.wide_dim)
    for model in (wide, deep):
        loaded, loaded_spec, _ = io.load_model(io.save_model(tmp_path / f"{model.mode}.npz", model, spec))
        assert (loaded.mode, loaded.wide_dim, loaded.fields) == (model.mode, model.wide_dim, model.fields)
        np.testing.assert_array_equal(loaded.predict_proba(loaded_spec.transform(rows)),
                                      model.predict_proba(spec.transform(rows)))


def test_an_unfitted_spec_is_saved_and_loaded_as_it_is(tmp_path):
    """An unfitted spec has no vocabularies to check against the model: it comes back unfitted."""
    from wdnumpy import WideDeep
    spec = small_spec()
    loaded, loaded_spec, _ = io.load_model(io.save_model(tmp_path / "m.npz", WideDeep(wide_dim=3, mode="wide"), spec))
    assert not loaded_spec.fitted and loaded_spec.to_dict() == spec.to_dict() and loaded.wide_dim == 3


@pytest.mark.parametrize("text, depth", [
    ("", 0), ("0", 0), ('"plain"', 0), ("[]", 1), ("{}", 1), ("[[1], [2, [3]]]", 3), ('{"a": {"b": [1]}}', 3),
    ("[[], [], []]", 2), ('["[[[", "{{"]', 1),            # brackets inside strings do not count
    ('["\\"[[", 1]', 1),                              # nor after an escaped quote inside a string
    ('["\\\\", "[["]', 1),                            # an escaped backslash does not escape the closing quote
    ('["\\\\\\"[", {"k\\\\": [0]}]', 3),
    ('{"é": ["ü", {"ß": []}]}', 4),
])
def test_nesting_depth_counts_lists_and_objects_outside_strings(text, depth):
    json.loads(text or "0")  # each case is JSON
    assert io.nesting_depth(text) == depth


UNPICKLED = []


class _Recorder:
    """Unpickling this runs code: it records that it ran."""

    def __reduce__(self):
        return (UNPICKLED.append, ("code ran",))


def test_even_past_the_header_check_an_array_of_python_objects_is_never_unpickled(tmp_path, monkeypatch):
    """Two locks, each enough on its own: the .npy headers are checked for Python objects, and the arrays are
    read with allow_pickle=False. With the first lock picked (the headers of an honest file reported), the
    second still refuses the file, with the same message and without running the pickled code."""
    from wdnumpy import WideDeep
    model = WideDeep(wide_dim=3, mode="wide")
    honest = io.save_model(tmp_path / "honest.npz", model)
    with zipfile.ZipFile(honest) as archive:
        headers = io._array_headers(archive, honest.stat().st_size)
    with np.load(honest, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    name = next(n for n in arrays if n != "__meta__")
    arrays[name] = np.array([_Recorder()] * arrays[name].size, dtype=object).reshape(arrays[name].shape)
    forged = tmp_path / "forged.npz"
    np.savez(forged, **arrays)
    monkeypatch.setattr(io, "_array_headers", lambda archive, size: headers)
    with pytest.raises(ValueError, match=f"^{re.escape(str(forged))}: not a wdnumpy model file "
                                         r"\(it holds Python objects\)$"):
        io.load_model(forged)
    assert UNPICKLED == []
