"""Warm-starting a new model from a previous one (paper §4.2).

Retraining from scratch on every new batch of data is slow, so the paper
initialises a new model with the embeddings and the linear (wide) weights of
the previous model. Vocabularies change between the two: each column says
which of its ids stand for the same thing as the old column's ids
(:meth:`~wdnumpy.features.IdColumn.id_correspondence`). Vocabulary columns match
by *value* (``installed=app42`` keeps its embedding row even if its id moved),
and values new to this vocabulary keep their fresh initialisation.
"""
from __future__ import annotations

from .features import FeatureSpec


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
        new_ids, old_ids = new_spec.columns[field.name].id_correspondence(old_spec.columns[field.name])
        new[name][new_ids] = old[name][old_ids]
        report[name] = int(new_ids.size)
    if "wide.w" in new and "wide.w" in old:
        new_offsets, old_offsets = new_spec.wide_offsets(), old_spec.wide_offsets()
        copied = 0
        for column, offset in new_offsets.items():
            if column in old_offsets:
                new_ids, old_ids = new_spec.columns[column].id_correspondence(old_spec.columns[column])
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
