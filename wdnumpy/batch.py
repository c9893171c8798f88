"""The batch a Wide & Deep model consumes: the hand-over point between features and model.

A :class:`Batch` holds, for N examples,

- ``wide``: an (N, D) CSR matrix of the wide part's features ``[x, φ(x)]``;
- ``categorical``: for each categorical field, either an (N,) array of ids
  (single-valued field) or an (N, V) CSR matrix of id counts (a multivalent
  field, one bag per row);
- ``continuous``: an (N, C) dense matrix;
- ``labels`` (N,) in {0, 1} and optional per-example ``weights`` (N,).

Any part may be ``None`` when the model does not use it. Shapes follow the
glossary in :mod:`wdnumpy.layers`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class EmbeddingField:
    """A categorical field of the deep part.

    name : key of the field in ``Batch.categorical``
    vocab_size : V, number of ids (ids lie in [0, V))
    dim : K, embedding width
    multivalent : False for one id per row, True for a bag of ids per row
    pooling : "sum" or "mean", how a bag's embeddings are combined
    """

    name: str
    vocab_size: int
    dim: int
    multivalent: bool = False
    pooling: str = "sum"

    def __post_init__(self):
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"field name must be a non-empty string, got {self.name!r}")
        if int(self.vocab_size) < 1:
            raise ValueError(f"field {self.name!r}: vocab_size must be >= 1, got {self.vocab_size}")
        if int(self.dim) < 1:
            raise ValueError(f"field {self.name!r}: dim must be >= 1, got {self.dim}")
        if self.pooling not in ("sum", "mean"):
            raise ValueError(f"field {self.name!r}: pooling must be 'sum' or 'mean', got {self.pooling!r}")


def bags_from_lists(bags, vocab_size: int) -> sp.csr_matrix:
    """Build the (N, V) CSR count matrix of a multivalent field from lists of ids.

    ``bags_from_lists([[3, 1, 3], []], 5)`` has row 0 = {1: 1, 3: 2} and an empty row 1.
    """
    lengths = np.fromiter((len(b) for b in bags), dtype=np.int64, count=len(bags))
    ids = np.fromiter((i for b in bags for i in b), dtype=np.int64, count=int(lengths.sum()))
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"bag ids must lie in [0, {vocab_size}), got values from {ids.min()} to {ids.max()}")
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    matrix = sp.csr_matrix((np.ones(ids.size), ids, indptr), shape=(len(bags), vocab_size))
    matrix.sum_duplicates()  # a repeated id becomes one entry with its count
    return matrix


@dataclass
class Batch:
    """Inputs (and optionally labels) of N examples; see the module docstring."""

    wide: sp.csr_matrix | None = None
    categorical: dict = field(default_factory=dict)
    continuous: np.ndarray | None = None
    labels: np.ndarray | None = None
    weights: np.ndarray | None = None

    def __len__(self) -> int:
        for part in (self.wide, self.continuous, self.labels, *self.categorical.values()):
            if part is not None:
                return part.shape[0]
        return 0

    def take(self, rows) -> "Batch":
        """The examples at ``rows`` (an index array or a slice), as a new Batch."""
        return Batch(
            wide=_rows(self.wide, rows),
            categorical={name: _rows(values, rows) for name, values in self.categorical.items()},
            continuous=_rows(self.continuous, rows),
            labels=_rows(self.labels, rows),
            weights=_rows(self.weights, rows),
        )


def _rows(values, rows):
    """``values[rows]``; a contiguous slice of a CSR matrix is cut directly from its arrays
    (a view, and about twice as fast as SciPy's general indexing, which matters once per step)."""
    if values is None:
        return None
    if isinstance(rows, slice) and rows.step in (None, 1) and sp.issparse(values) and values.format == "csr":
        start, stop, _ = rows.indices(values.shape[0])
        stop = max(start, stop)
        indptr = values.indptr[start:stop + 1]
        first, last = indptr[0], indptr[-1]
        return sp.csr_matrix((values.data[first:last], values.indices[first:last], indptr - first),
                             shape=(stop - start, values.shape[1]), copy=False)
    return values[rows]
