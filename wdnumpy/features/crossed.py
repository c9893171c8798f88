"""The cross-product transformation φ(x) of the wide part (paper §3.1, Eq. 1).

The wide part is y = wᵀ[x, φ(x)] + b, with cross features

    φ_k(x) = ∏_{i=1}^{d} x_i^{c_ki},   c_ki ∈ {0, 1},

so φ_k(x) is 1 exactly when every binary feature of combination k is active:
AND(gender=female, language=en). A :class:`Crossed` column crosses two or more
categorical-like columns of the same spec and gives one id per active
combination, ``key mod buckets`` (:mod:`.hashing`, :func:`.tokens.cross_tokens`),
so that the model can memorize a weight for each combination seen in training.
"""
from __future__ import annotations

import numpy as np

from .base import IdColumn
from . import tokens as tokens_module
from .tokens import Tokens


class Crossed(IdColumn):
    """Cross-product transformation of two or more categorical-like columns (paper Eq. 1).

    φ(x) is 1 for each combination of the crossed columns' active values in a
    row: crossing ``installed = [A, B]`` with ``impression = [A, C]`` activates
    (A, A), (A, C), (B, A) and (B, C). Each combination is hashed into
    ``buckets`` ids. ``columns`` are names of other columns of the same spec,
    which must read raw data themselves (no cross of a cross).

    A row may have several crosses (or none, if a crossed bag is empty), so the
    deep part embeds a crossed column as a bag, pooled by sum.

    ``oov_bucket=True`` reserves id 0 for every combination with an
    out-of-vocabulary part (a user unseen in training crossed with anything) and
    hashes the others into ids 1..buckets−1, so an unseen value never shares a
    trained cross's weight; its weight is learned from training rows that hold
    rare values (below a vocabulary's ``min_count``) and otherwise stays at its
    initial 0. Off by default, so saved specs keep their ids.
    """

    kind = "crossed"
    multivalent = True

    def __init__(self, name, columns, buckets: int = 10_000, oov_bucket: bool = False):
        super().__init__(name, None)
        self.source = None  # reads no raw column: its tokens come from its parents'
        self.columns = list(columns)
        if len(self.columns) < 2:
            raise ValueError(f"crossed column {name!r} needs at least two columns, got {self.columns}")
        if int(buckets) < 1 + bool(oov_bucket):
            raise ValueError(f"column {name!r}: buckets must be >= {1 + bool(oov_bucket)}, got {buckets}")
        self.buckets = int(buckets)
        self.oov_bucket = bool(oov_bucket)

    @property
    def oov_id(self):
        return 0 if self.oov_bucket else None

    @property
    def parents(self) -> tuple:
        return tuple(self.columns)

    @property
    def size(self):
        return self.buckets

    def tokens(self, data, parents=()) -> Tokens:
        """Tokens of the cross, given the tokens of ``self.columns`` in order (``data`` is not read)."""
        if len(parents) != len(self.columns):
            raise ValueError(f"crossed column {self.name!r} is computed from the tokens of {self.columns}; "
                             f"got {len(parents)} parts (use FeatureSpec.tokens)")
        return self.cross(list(parents))

    def cross(self, parts: list) -> Tokens:
        """φ(x) of each row: every combination of one token per part, hashed into ``buckets`` ids
        (with ``oov_bucket``: id 0 for a combination with an out-of-vocabulary part)."""
        crossed = parts[0]
        for part in parts[1:]:
            crossed = tokens_module.cross_tokens(crossed, part)  # looked up at call time: exercises switch it
        if self.oov_bucket:
            hashed = 1 + (crossed.keys % np.uint64(self.buckets - 1)).astype(np.int64)
            crossed.ids = np.where(crossed.oov_mask(), 0, hashed)
        else:
            crossed.ids = (crossed.keys % np.uint64(self.buckets)).astype(np.int64)
        return crossed

    def value_name(self, i):
        return "<unknown>" if self.oov_bucket and i == 0 else f"hash bucket {i}"

    def token_names(self, data, tokens, parent_names=()):
        """``"a=x × b=y"`` for each combination of one row, in the order of :meth:`cross`."""
        combos = list(parent_names[0])
        for names in parent_names[1:]:
            combos = [f"{a} × {b}" for a in combos for b in names]
        return combos

    def to_dict(self):
        return {"kind": self.kind, "name": self.name, "columns": self.columns, "buckets": self.buckets,
                "oov_bucket": self.oov_bucket}
