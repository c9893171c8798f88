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

Inputs are converted once, where a Batch is made (other sparse formats become
CSR, lists become arrays); :meth:`Batch.validate` then only checks, against
what a model expects, and never changes the batch.
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
    oov_id : the id that stands for values unseen in training (0 for a vocabulary
        column), or None if the field has none; the model trains its row on purpose
        (see ``WideDeep``'s ``id_dropout``)
    """

    name: str
    vocab_size: int
    dim: int
    multivalent: bool = False
    pooling: str = "sum"
    oov_id: int | None = None

    def __post_init__(self):
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"field name must be a non-empty string, got {self.name!r}")
        if int(self.vocab_size) < 1:
            raise ValueError(f"field {self.name!r}: vocab_size must be >= 1, got {self.vocab_size}")
        if int(self.dim) < 1:
            raise ValueError(f"field {self.name!r}: dim must be >= 1, got {self.dim}")
        check_pooling(self.pooling, f"field {self.name!r}: ")
        if self.oov_id is not None and not 0 <= int(self.oov_id) < int(self.vocab_size):
            raise ValueError(f"field {self.name!r}: oov_id must lie in [0, {self.vocab_size}), got {self.oov_id}")


POOLINGS = ("sum", "mean")


def check_pooling(pooling: str, who: str = "") -> None:
    """Raise ValueError unless ``pooling`` is "sum" or "mean" (``who`` prefixes the message)."""
    if pooling not in POOLINGS:
        raise ValueError(f"{who}pooling must be 'sum' or 'mean', got {pooling!r}")


def csr_row_of_entry(matrix: sp.csr_matrix) -> np.ndarray:
    """(nnz,) the row of each stored entry of a CSR matrix, in storage order."""
    return np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))


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

    def __post_init__(self):
        self.wide = _as_csr(self.wide)
        self.categorical = {name: _as_csr(v) if sp.issparse(v) else np.asarray(v)
                            for name, v in self.categorical.items()}
        for name in ("continuous", "labels", "weights"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, np.ndarray):
                setattr(self, name, np.asarray(value))

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

    def validate(self, wide_dim: int | None = None, fields=(), n_continuous: int = 0) -> int:
        """Check the batch against what a model expects; raise ValueError saying what was
        expected and what came. Changes nothing.

        Parameters
        ----------
        wide_dim : D, or None if the model has no wide part
        fields : the EmbeddingFields of the deep part (empty without one)
        n_continuous : C

        Returns
        -------
        N, the number of examples
        """
        sizes = {}
        if wide_dim is not None:
            sizes["batch.wide"] = self._check_wide(wide_dim)
        if fields or n_continuous:
            expected, given = sorted(f.name for f in fields), sorted(self.categorical)
            if given != expected:
                raise ValueError(f"batch has {len(given)} categorical fields {given}, "
                                 f"but the model expects {len(expected)}: {expected}")
            for f in fields:
                sizes[f"field {f.name!r}"] = self._check_field(f)
        if n_continuous:
            sizes["batch.continuous"] = self._check_continuous(n_continuous)
        if self.labels is not None:
            y = self.labels
            if y.ndim != 1:
                raise ValueError(f"labels must have shape (N,), got {y.shape}")
            bad = ~((y == 0) | (y == 1))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise ValueError(f"labels must be 0 or 1; row {row} has {y[row].item()!r}")
            sizes["labels"] = y.shape[0]
        if self.weights is not None:
            s = self.weights
            if s.ndim != 1 or s.dtype.kind not in "biuf" or not np.all(np.isfinite(s)) or (s < 0).any() \
                    or s.sum() <= 0:
                raise ValueError("weights must be an (N,) array of finite non-negative numbers with a positive sum")
            sizes["weights"] = s.shape[0]
        if not sizes:
            raise ValueError("the batch holds none of the inputs this model needs")
        if len(set(sizes.values())) > 1:
            raise ValueError(f"the parts of the batch have different numbers of rows: {sizes}")
        return next(iter(sizes.values()))

    def _check_wide(self, wide_dim: int) -> int:
        X = self.wide
        if X is None:
            raise ValueError(f"the model needs batch.wide, an (N, {wide_dim}) CSR matrix; got None")
        if not _is_csr(X):
            raise ValueError(f"batch.wide must be a scipy.sparse CSR matrix, got {_describe(X)}")
        if X.shape[1] != wide_dim:
            raise ValueError(f"batch.wide has {X.shape[1]} columns but the wide part has {wide_dim} weights "
                             "(wide_dim)")
        if X.nnz and not np.all(np.isfinite(X.data)):
            raise ValueError("batch.wide contains NaN or infinite entries")
        return X.shape[0]

    def _check_field(self, f: EmbeddingField) -> int:
        values = self.categorical[f.name]
        if f.multivalent:
            if not _is_csr(values):
                raise ValueError(f"field {f.name!r} is multivalent: expected an (N, {f.vocab_size}) CSR matrix "
                                 f"of id counts (see batch.bags_from_lists), got {_describe(values)}")
            if values.shape[1] != f.vocab_size:
                raise ValueError(f"field {f.name!r}: bag matrix has {values.shape[1]} columns, "
                                 f"expected the vocabulary size {f.vocab_size}")
            if values.nnz and (values.data < 0).any():
                raise ValueError(f"field {f.name!r}: bag counts must be non-negative")
            return values.shape[0]
        ids = values
        if sp.issparse(ids) or ids.ndim != 1:
            raise ValueError(f"field {f.name!r} is single-valued: expected ids of shape (N,), got {ids.shape}")
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"field {f.name!r}: ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= f.vocab_size):
            bad = int(np.flatnonzero((ids < 0) | (ids >= f.vocab_size))[0])
            raise ValueError(f"field {f.name!r}: ids must lie in [0, {f.vocab_size}); row {bad} has {ids[bad]}")
        return ids.shape[0]

    def _check_continuous(self, n_continuous: int) -> int:
        x = self.continuous
        if x is None:
            raise ValueError(f"the model expects {n_continuous} continuous features; batch.continuous is None")
        if x.ndim != 2 or x.shape[1] != n_continuous:
            raise ValueError(f"batch.continuous must have shape (N, {n_continuous}), got {x.shape}")
        bad = ~np.isfinite(x)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(f"batch.continuous has NaN or infinite values, the first at row {row}, column {col}")
        return x.shape[0]


def _is_csr(value) -> bool:
    """A 2-D scipy.sparse CSR matrix or array (SciPy's sparse arrays may also be 1-D)."""
    return sp.issparse(value) and value.format == "csr" and value.ndim == 2


def _describe(value) -> str:
    if not sp.issparse(value):
        return type(value).__name__
    return f"a {value.format.upper()} matrix" if value.ndim == 2 else f"a {value.ndim}-D {value.format.upper()} array"


def _as_csr(values):
    return values.tocsr() if sp.issparse(values) and values.format != "csr" else values


def _rows(values, rows):
    """``values[rows]``; a contiguous slice of a CSR matrix is built from slices of its arrays
    (about twice as fast as SciPy's general indexing, which matters once per step),
    and an array's rows at an index array are gathered by ``take`` (NumPy's fancy indexing of a
    2-D array's rows is about 10× slower)."""
    if values is None:
        return None
    if isinstance(rows, slice) and rows.step in (None, 1) and sp.issparse(values) and values.format == "csr":
        start, stop, _ = rows.indices(values.shape[0])
        stop = max(start, stop)
        indptr = values.indptr[start:stop + 1]
        first, last = indptr[0], indptr[-1]
        return type(values)((values.data[first:last], values.indices[first:last], indptr - first),
                            shape=(stop - start, values.shape[1]), copy=False)  # a csr_array stays one
    if isinstance(values, np.ndarray) and isinstance(rows, np.ndarray) and rows.dtype.kind in "iu":
        return values.take(rows, axis=0)
    return values[rows]
