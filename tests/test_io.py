"""Saving and loading: round trips, no pickle, atomic writes, clear errors."""
import json
import zipfile

import numpy as np
import pytest

from wdnumpy import io
from wdnumpy.datasets import app_store_spec, make_app_store
from wdnumpy.ensemble import Ensemble
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
    with pytest.raises(OSError, match="disk full"):
        io.save_model(path, models["wide"], spec)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left behind
    assert zipfile.is_zipfile(path)
