"""The column kinds, and the table that rebuilds a column from its saved description.

======================  =========================================  ==============
kind                    ids or value of a row                      paper
======================  =========================================  ==============
:class:`Categorical`    vocabulary id, 0 = out of vocabulary       §4.1
:class:`Multivalent`    a bag of vocabulary ids                    §4.1
:class:`Hashed`         ``stable_hash(value) mod buckets``
:class:`Bucketized`     a number's bucket among fixed boundaries
:class:`Crossed`        φ(x): one id per combination, hashed       §3.1, Eq. 1
:class:`Numeric`        a number, by default CDF quantile          §4.1
                        (i − 1)/(n_q − 1)
======================  =========================================  ==============

A new kind is a subclass of :class:`~.base.IdColumn` (or of
:class:`~.base.Column` for a number) added to :data:`COLUMN_KINDS`.
"""
from __future__ import annotations

from .base import Column
from .crossed import Crossed
from .hashed import Hashed
from .numeric import Bucketized, Numeric
from .vocabulary import Categorical, Multivalent

COLUMN_KINDS = {cls.kind: cls for cls in (Categorical, Multivalent, Hashed, Bucketized, Crossed, Numeric)}


def column_from_dict(d: dict) -> Column:
    """Rebuild a column from ``column.to_dict()``: ``COLUMN_KINDS[d["kind"]](**rest)``."""
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in COLUMN_KINDS:
        raise ValueError(f"unknown column kind {kind!r}; expected one of {sorted(COLUMN_KINDS)}")
    return COLUMN_KINDS[kind](**d)
