"""A synthetic click log shaped like Criteo's, built directly as model inputs (no strings).

26 categorical fields with vocabularies from 10 to 10⁵ (ids drawn with a heavy head, as real ids
are), 13 count-like numeric fields, and a wide part that hashes every field's id and 13 pairwise
crosses into one space of ``2**hash_bits`` buckets (39 active features per row). The label comes from
a logistic model with per-id effects, numeric effects and a few strong crosses.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from wdnumpy import Batch, EmbeddingField
from wdnumpy.features import combine_keys, mix64

N_CATEGORICAL, N_NUMERIC = 26, 13
VOCAB_SIZES = np.geomspace(10, 100_000, N_CATEGORICAL).astype(np.int64)
CROSSES = [(i, i + 13) for i in range(13)]  # field pairs crossed in the wide part


def fields(embedding_dim: int = 8) -> list:
    return [EmbeddingField(f"c{f}", int(v), embedding_dim) for f, v in enumerate(VOCAB_SIZES)]


def make_click_log(n_rows: int, hash_bits: int = 20, seed: int = 0, chunk: int = 200_000) -> Batch:
    """(n_rows)-row Batch; generated in chunks so that building it never needs much more memory
    than the result (int32 ids and wide indices, float32 wide values)."""
    truth = np.random.default_rng(12345)  # the same true model for every seed
    id_effect = [truth.normal(0, 0.4, v) for v in VOCAB_SIZES]
    numeric_effect = truth.normal(0, 0.3, N_NUMERIC)
    cross_effect = truth.normal(0, 1.0, 4096)
    rng = np.random.default_rng(seed)
    ids, numbers, labels, wide_indices = [], [], [], []
    mask = np.uint64(2 ** hash_bits - 1)
    for start in range(0, n_rows, chunk):
        n = min(chunk, n_rows - start)
        block = (VOCAB_SIZES[None, :] * rng.random((n, N_CATEGORICAL)) ** 3).astype(np.int64)
        counts = rng.lognormal(1.0, 1.2, (n, N_NUMERIC))
        x = (np.log1p(counts) - 1.3) / 0.9
        z = -1.2 + x @ numeric_effect
        for f in range(N_CATEGORICAL):
            z += id_effect[f][block[:, f]]
        keys = [(np.uint64(f) << np.uint64(40)) + block[:, f].astype(np.uint64) for f in range(N_CATEGORICAL)]
        for a, b in CROSSES:
            pair = combine_keys(keys[a], keys[b])
            keys.append(pair)
            z += np.where(block[:, a] < 3, cross_effect[(mix64(pair) % np.uint64(4096)).astype(np.int64)], 0.0)
        wide_indices.append((mix64(np.stack(keys, axis=1)) & mask).astype(np.int32))
        ids.append(block.astype(np.int32))
        numbers.append(x)
        labels.append((rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.float64))
    ids, indices = np.concatenate(ids), np.concatenate(wide_indices).ravel()
    per_row = N_CATEGORICAL + len(CROSSES)
    wide = sp.csr_matrix((np.ones(indices.size, dtype=np.float32), indices,
                          np.arange(0, per_row * (n_rows + 1), per_row)), shape=(n_rows, 2 ** hash_bits))
    return Batch(wide=wide, categorical={f"c{f}": ids[:, f] for f in range(N_CATEGORICAL)},
                 continuous=np.concatenate(numbers), labels=np.concatenate(labels))
