"""Tokens: the active ids of N rows of a categorical-like column, and their cross (paper §3.1, Eq. 1).

A categorical-like column turns each row into zero or more *tokens*: an id in
``[0, size)`` (a block of the wide part's weights, a row of an embedding table)
and a stable 64-bit key of the value behind it. Rows are stored CSR style, so
a bag column and a single-valued column look the same.

:func:`cross_tokens` is the cross-product transformation φ(x) of the wide part,
y = wᵀ[x, φ(x)] + b: φ_k(x) = ∏_i x_i^{c_ki} is 1 exactly when every value of
combination k is active in the row, so the crosses of a row are every pair
(one active token of each side). Crossing bags [A, B] × [A, C] gives (A, A),
(A, C), (B, A), (B, C).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hashing import combine_keys


@dataclass
class Tokens:
    """The active ids of N rows, CSR style; P tokens in all.

    indptr : (N + 1,) int64, row n's tokens are ``ids[indptr[n]:indptr[n + 1]]``
    ids : (P,) int64 ids in [0, size)
    keys : (P,) uint64 stable keys of the tokens' values, used to hash crosses
    oov : (P,) bool, True where a token is out of vocabulary; None for a column that has no
        out-of-vocabulary id (hashed, bucketized)
    """

    indptr: np.ndarray
    ids: np.ndarray
    keys: np.ndarray
    oov: np.ndarray | None = None

    @classmethod
    def single(cls, ids: np.ndarray, keys: np.ndarray, oov: np.ndarray | None = None) -> "Tokens":
        """Tokens of a single-valued column: exactly one token per row."""
        return cls(np.arange(ids.size + 1, dtype=np.int64), ids.astype(np.int64), keys, oov)

    def oov_mask(self) -> np.ndarray:
        """(P,) bool: ``oov``, or all False when the column has no out-of-vocabulary id."""
        return np.zeros(self.ids.size, dtype=bool) if self.oov is None else self.oov


def cross_tokens(a: Tokens, b: Tokens) -> Tokens:
    """Every pair (one token of ``a``, one of ``b``) within each row, without a loop over rows.

    Row n gets ``len_a[n] · len_b[n]`` crosses, ordered by a's token first; their
    keys are ``combine_keys(key_a, key_b)``. The result's ``ids`` are left at 0:
    the crossed column turns keys into ids (``key mod buckets``). A pair is out of
    vocabulary (``oov``) when either of its tokens is; ``oov`` stays None when
    neither side has out-of-vocabulary tokens.
    """
    len_a, len_b = np.diff(a.indptr), np.diff(b.indptr)
    counts = len_a * len_b
    indptr = np.concatenate([[0], np.cumsum(counts)])
    row = np.repeat(np.arange(counts.size), counts)
    t = np.arange(indptr[-1]) - indptr[row]  # position of the pair inside its row
    within_a, within_b = np.divmod(t, len_b[row])
    i = a.indptr[row] + within_a
    j = b.indptr[row] + within_b
    keys = combine_keys(a.keys[i], b.keys[j])
    oov = None if a.oov is None and b.oov is None else a.oov_mask()[i] | b.oov_mask()[j]
    return Tokens(indptr, np.zeros(keys.size, dtype=np.int64), keys, oov)
