"""Feature specs as files (JSON, or TOML read with the standard library), and a first draft from a CSV.

A spec file holds the same information as :class:`~wdnumpy.features.FeatureSpec`:
the columns with their kinds and options, the wide columns, the embeddings
with their widths, and the continuous inputs::

    {"columns": [{"kind": "categorical", "name": "user_id", "min_count": 2},
                 {"kind": "multivalent", "name": "genres", "separator": "|"},
                 {"kind": "numeric", "name": "age"},
                 {"kind": "crossed", "name": "genres_x_gender", "columns": ["genres", "gender"],
                  "buckets": 1000},
                 {"kind": "categorical", "name": "gender"}],
     "wide": ["genres_x_gender", "gender"],
     "embeddings": {"user_id": 16, "genres": 8},
     "continuous": ["age"]}

Each column's keys are its class's arguments (see :mod:`wdnumpy.features`).
A saved spec is the same format with the fitted state (vocabularies,
quantiles) filled in. :func:`draft_spec` writes a first version from a sample
of the data for the user to edit.
"""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np

from .features import FeatureSpec, as_columns, as_text, missing_mask
from .files import atomic_write

SEPARATORS = ("|", ";", ",")
MAX_VOCABULARY = 1000  # a text column with more distinct values than this is hashed in the draft


def load_spec(path) -> FeatureSpec:
    """Read a spec file (``.json`` or ``.toml``); ValueError naming the file if it is not a valid spec."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such spec file")
    try:
        text = path.read_text(encoding="utf-8")
        description = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError, RecursionError) as error:
        raise ValueError(f"{path}: cannot read the spec ({type(error).__name__}: {error})") from None
    if not isinstance(description, dict):
        raise ValueError(f"{path}: a spec file holds an object with columns, wide, embeddings and continuous")
    description.setdefault("wide", [])
    description.setdefault("embeddings", {})
    description.setdefault("continuous", [])
    try:
        return FeatureSpec.from_dict(description)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: {error}") from None


def save_spec(path, spec: FeatureSpec) -> Path:
    """Write a spec (fitted or not) as JSON, atomically."""
    text = json.dumps(spec.to_dict(), indent=1)
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def draft_spec(columns, label: str | None = None, embedding_dim: int = 8) -> dict:
    """A first spec description for raw columns (a sample is enough), to edit by hand.

    - a column whose values are all numbers → numeric (CDF quantiles), fed to the deep part,
      unless its name ends in "id" and its values are whole numbers (an id: treated as text);
    - text of which at least 30% of the present values hold one of ``| ; ,`` (tried in that order)
      → multivalent with that separator;
    - text with at most :data:`MAX_VOCABULARY` distinct values → categorical;
    - other text → hashed into a power of two of about twice as many buckets;
    every id column goes to the wide part and gets an embedding. Crosses are left
    to the user: the description's ``notes`` suggests some.

    Returns
    -------
    description : dict for :meth:`FeatureSpec.from_dict` (and ``json.dump``)
    """
    columns = as_columns(columns)
    described, wide, embeddings, continuous, ids = [], [], {}, [], []
    for name, values in columns.items():
        if name == label:
            continue
        text = as_text(values)
        present = text[~missing_mask(text)]
        if present.size == 0:
            continue
        if _all_numbers(present) and not _looks_like_an_id(name, present):
            fill = "median" if present.size < text.size else None
            described.append({"kind": "numeric", "name": name, "fill": fill})
            continuous.append(name)
            continue
        separator = next((s for s in SEPARATORS if np.mean(np.char.find(present, s) >= 0) >= 0.3), None)
        if separator is not None:
            described.append({"kind": "multivalent", "name": name, "separator": separator, "min_count": 2})
        else:
            distinct = np.unique(present).size
            if distinct <= MAX_VOCABULARY:
                described.append({"kind": "categorical", "name": name, "min_count": 2 if distinct > 20 else 1})
            else:
                buckets = 1 << int(np.ceil(np.log2(2 * distinct)))
                described.append({"kind": "hashed", "name": name, "buckets": buckets})
        wide.append(name)
        embeddings[name] = embedding_dim
        ids.append(name)
    notes = ["Crosses memorize pairs of values in the wide part: add, for example, "
             '{"kind": "crossed", "name": "a_x_b", "columns": ["a", "b"], "buckets": 10000} to columns '
             "and its name to wide."]
    if len(ids) >= 2:
        notes.append("Candidate pairs: " + ", ".join(f"{a} × {b}" for i, a in enumerate(ids) for b in ids[i + 1:]
                                                    )[:500])
    return {"columns": described, "wide": wide, "embeddings": embeddings, "continuous": continuous,
            "notes": notes}


def _all_numbers(text: np.ndarray) -> bool:
    try:
        numbers = text.astype(np.float64)
    except ValueError:
        return False
    return bool(np.all(np.isfinite(numbers)))


def _looks_like_an_id(name: str, text: np.ndarray) -> bool:
    numbers = text.astype(np.float64)
    return name.lower().endswith("id") and bool(np.all(numbers == np.round(numbers)))
