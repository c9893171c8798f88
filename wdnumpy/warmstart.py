"""Warm-starting a new model from a previous one (paper §4.2).

Retraining from scratch on every new batch of data is slow, so the paper
initialises a new model with the embeddings and the linear (wide) weights of
the previous model. Vocabularies change between the two: ids are matched by
*value* (``installed=app42`` keeps its embedding row even if its id moved), and
values new to this vocabulary keep their fresh initialisation.
"""
from __future__ import annotations

import numpy as np

from .features import Bucketized, Crossed, FeatureSpec, Hashed


def id_correspondence(new, old):
    """Pairs of ids (new, old) that stand for the same value in two fitted columns.

    Vocabulary columns are matched by value (id 0, out of vocabulary, to id 0);
    hashed, bucketized and crossed columns by id, when their definitions agree.

    Returns
    -------
    new_ids, old_ids : (M,) int arrays
    """
    none = np.zeros(0, dtype=np.int64)
    if type(new) is not type(old):
        return none, none
    if isinstance(new, (Hashed, Bucketized, Crossed)):  # ids are a function of the definition alone
        ids = np.arange(new.size)
        return (ids, ids) if new.to_dict() == old.to_dict() else (none, none)
    old_index = {v: i for i, v in enumerate(old.vocabulary, start=1)}
    pairs = [(0, 0)] + [(i, old_index[v]) for i, v in enumerate(new.vocabulary, start=1) if v in old_index]
    new_ids, old_ids = np.array(pairs, dtype=np.int64).T
    return new_ids, old_ids


def warm_start(new_model, new_spec: FeatureSpec, old_model, old_spec: FeatureSpec,
               include_mlp: bool = False) -> dict:
    """Copy the old model's embeddings, wide weights and bias into the new model, in place.

    With ``include_mlp`` the hidden layers are copied too where their shapes agree.

    Returns
    -------
    report : dict parameter name → number of rows (or 1 for whole arrays) copied
    """
    report = {}
    new, old = new_model.params, old_model.params
    if "bias" in new and "bias" in old:
        new["bias"][...] = old["bias"]
        report["bias"] = 1
    for field in getattr(new_model, "fields", ()):
        name = f"deep.embedding.{field.name}"
        if name not in new or name not in old or new[name].shape[1] != old[name].shape[1] \
                or field.name not in old_spec.columns:
            continue
        new_ids, old_ids = id_correspondence(new_spec.columns[field.name], old_spec.columns[field.name])
        new[name][new_ids] = old[name][old_ids]
        report[name] = int(new_ids.size)
    if "wide.w" in new and "wide.w" in old:
        new_offsets, old_offsets = new_spec.wide_offsets(), old_spec.wide_offsets()
        copied = 0
        for column, offset in new_offsets.items():
            if column in old_offsets:
                new_ids, old_ids = id_correspondence(new_spec.columns[column], old_spec.columns[column])
                new["wide.w"][offset + new_ids] = old["wide.w"][old_offsets[column] + old_ids]
                copied += new_ids.size
        report["wide.w"] = int(copied)
    if include_mlp:
        for name, value in new.items():
            if name.startswith("deep.") and not name.startswith("deep.embedding.") and name in old \
                    and old[name].shape == value.shape:
                value[...] = old[name]
                report[name] = 1
    return report
