"""Hashed columns: ``stable_hash(value) mod buckets``, a categorical column with nothing to learn.

When a vocabulary would be too large to keep (user ids, query strings), each
value is hashed into one of ``buckets`` ids, as TensorFlow's
``categorical_column_with_hash_bucket`` does. Distinct values may share a
bucket; more buckets, fewer collisions. The crosses of the wide part's φ(x)
(paper §3.1, Eq. 1) are hashed the same way, see :mod:`.crossed`.
"""
from __future__ import annotations

import numpy as np

from .base import IdColumn
from .hashing import stable_hash
from .tokens import Tokens
from .values import as_text, raw_column


class Hashed(IdColumn):
    """A categorical column hashed into ``buckets`` ids: ``stable_hash(value) mod buckets``.

    A missing value is hashed like any other (as the empty string).
    """

    kind = "hashed"

    def __init__(self, name, source=None, buckets: int = 1000):
        super().__init__(name, source)
        if int(buckets) < 1:
            raise ValueError(f"column {name!r}: buckets must be >= 1, got {buckets}")
        self.buckets = int(buckets)

    @property
    def size(self):
        return self.buckets

    def _text(self, data):
        return as_text(raw_column(data, self.source, f"column {self.name!r}"))

    def tokens(self, data, parents=()) -> Tokens:
        keys = stable_hash(self._text(data))
        return Tokens.single((keys % np.uint64(self.buckets)).astype(np.int64), keys)

    def value_name(self, i):
        return f"hash bucket {i}"

    def token_names(self, data, tokens, parent_names=()):
        """The row's raw value rather than its bucket, which many values share."""
        return [f"{self.name}={value}" for value in self._text(data)]

    def to_dict(self):
        return {"kind": self.kind, "name": self.name, "source": self.source, "buckets": self.buckets}
