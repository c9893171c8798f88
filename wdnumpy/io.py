"""Saving and loading a trained model with its feature spec: one ``.npz`` file, no pickle.

The file holds every parameter as an array named ``param:<name>`` (for an
ensemble ``param:<member>/<name>``) and one array ``__meta__``: UTF-8 JSON with
the model's configuration, the fitted feature spec and free-form metadata. It is
read with ``np.load(..., allow_pickle=False)``, so loading a file from someone
else cannot run code. Saving writes a temporary file next to the target and
renames it over the target, so a crash mid-save leaves the previous file whole.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .ensemble import Ensemble
from .features import FeatureSpec
from .files import atomic_write
from .model import WideDeep

FORMAT = "wdnumpy-model"
VERSION = 1


def _members(model) -> dict:
    """Name → WideDeep for each part of a model ('' for a single model)."""
    if isinstance(model, Ensemble):
        return dict(model.members)
    if isinstance(model, WideDeep):
        return {"": model}
    raise ValueError(f"can only save a WideDeep or an Ensemble, got {type(model).__name__}")


def _key(member: str, name: str) -> str:
    return f"param:{member}/{name}" if member else f"param:{name}"


def save_model(path, model, spec: FeatureSpec | None = None, metadata: dict | None = None) -> Path:
    """Write ``model`` (and its fitted ``spec``) to ``path`` atomically; returns the path."""
    path = Path(path)
    members = _members(model)
    meta = {"format": FORMAT, "version": VERSION,
            "kind": "ensemble" if isinstance(model, Ensemble) else "single",
            "combine": getattr(model, "combine", None),
            "stacking": None if getattr(model, "stacking", None) is None else model.stacking.tolist(),
            "configs": {m: member.config() for m, member in members.items()},
            "spec": None if spec is None else spec.to_dict(),
            "metadata": metadata or {}}
    arrays = {_key(m, n): p for m, member in members.items() for n, p in member.params.items()}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    return atomic_write(path, lambda f: np.savez(f, **arrays), "model file")


def load_model(path):
    """Read a file written by :func:`save_model`.

    Returns
    -------
    model : WideDeep or Ensemble
    spec : FeatureSpec or None
    metadata : dict

    Raises ValueError naming the file if it is missing, truncated, corrupted, of
    another format, or if its arrays do not match its configuration.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such model file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = set(npz.files)
            if "__meta__" not in files:
                raise ValueError("it has no __meta__ record")
            meta = json.loads(npz["__meta__"].tobytes().decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise ValueError("its __meta__ record is not a wdnumpy model description")
            if meta.get("version") != VERSION:
                raise ValueError(f"format version {meta.get('version')} is not supported (expected {VERSION})")
            members = {m: WideDeep(**config) for m, config in meta["configs"].items()}
            expected = set()
            for m, member in members.items():
                for name, param in member.params.items():
                    key = _key(m, name)
                    expected.add(key)
                    if key not in files:
                        raise ValueError(f"parameter {key!r} is missing")
                    stored = npz[key]
                    if stored.shape != param.shape or stored.dtype != param.dtype:
                        raise ValueError(f"parameter {key!r} has shape {stored.shape} and dtype {stored.dtype}, "
                                         f"but the configuration needs {param.shape} and {param.dtype}")
                    param[...] = stored
            extra = files - expected - {"__meta__"}
            if extra:
                raise ValueError(f"unexpected arrays {sorted(extra)}")
    except ValueError as error:
        raise ValueError(f"{path}: cannot load model: {error}") from None
    except (OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable wdnumpy model file ({type(error).__name__}: {error})") from None
    if meta["kind"] == "ensemble":
        # files saved before the rules had names say "logit" (or nothing): the members' logits summed
        try:
            model = Ensemble(members["wide"], members["deep"], combine=meta.get("combine") or "logit",
                             stacking=meta.get("stacking"))
        except ValueError as error:
            raise ValueError(f"{path}: cannot load model: {error}") from None
    else:
        model = members[""]
    spec = None if meta.get("spec") is None else FeatureSpec.from_dict(meta["spec"])
    return model, spec, meta.get("metadata", {})
