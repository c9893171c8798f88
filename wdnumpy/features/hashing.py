"""Stable 64-bit hashes: the keys behind hashed columns and the cross-product φ(x) (paper §3.1, Eq. 1).

The wide part's cross features φ_k(x) = ∏_i x_i^{c_ki} are far too many to give
each its own vocabulary entry, so every active value gets a 64-bit *key* and a
cross gets the key of its parts' keys; ``key mod buckets`` is then its id.

- :func:`stable_hash` keys a value by its text (BLAKE2b), identical across runs,
  processes and platforms — unlike Python's salted ``hash()``, which would give a
  saved model different ids after a restart.
- :func:`mix64` scrambles the bits of a key (SplitMix64's finaliser).
- :func:`combine_keys` gives the key of the ordered pair (a, b); crossing three
  columns combines twice.

Everything is vectorised over rows: (N,) uint64 arrays in, (N,) uint64 out.
"""
from __future__ import annotations

import hashlib

import numpy as np


def stable_hash(values) -> np.ndarray:
    """64-bit hash of each value's text, the same on every run and platform.

    Each distinct value is hashed once (BLAKE2b, 8 bytes, little-endian); rows
    share the result.

    Parameters
    ----------
    values : (N,) anything convertible to str

    Returns
    -------
    keys : (N,) uint64
    """
    values = np.asarray(values, dtype=str)
    uniques, inverse = np.unique(values, return_inverse=True)
    keys = np.fromiter((int.from_bytes(hashlib.blake2b(u.encode(), digest_size=8).digest(), "little")
                        for u in uniques), dtype=np.uint64, count=uniques.size)
    return keys[inverse.ravel()]


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: scrambles the bits of uint64 keys (wrapping arithmetic).

    Shifts and odd multipliers spread every input bit over every output bit, so
    that nearby keys (or keys that differ in one bit) land in unrelated buckets.
    """
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def combine_keys(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Key of the cross (a, b) from two uint64 key arrays of the same shape.

    Order-dependent: ``combine_keys(a, b) != combine_keys(b, a)`` in general, so
    education × occupation and occupation × education are different features.
    """
    return mix64(mix64(a) ^ b)
