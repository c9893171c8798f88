"""The feature spec: which columns feed the wide part and which the deep part (paper §3, §4.1).

A :class:`FeatureSpec` is fitted on training data (vocabularies with a minimum
count, CDF quantiles: §4.1) and turns raw columns into the
:class:`~wdnumpy.batch.Batch` a model consumes:

- ``wide``: the binary features [x, φ(x)] of y = wᵀ[x, φ(x)] + b (§3.1, Eq. 1),
  one block of the D wide weights per column, as an (N, D) CSR matrix;
- ``categorical``: the ids to embed in the deep part (§3.2), per column an (N,)
  id array, or an (N, V) CSR matrix of counts for a bag;
- ``continuous``: the deep part's numbers, an (N, C) matrix.

It talks to columns only through the methods of :mod:`.base`, so it needs no
change when a new column kind is added. It round-trips through a JSON-able dict
so that it can be saved with a model.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..batch import Batch
from .base import NotFittedError
from .columns import column_from_dict
from .tokens import Tokens
from .values import as_columns, count_rows


def wide_matrix(parts: list, n: int, width: int) -> sp.csr_matrix:
    """The (N, D) binary CSR matrix [x, φ(x)] of the wide part from each wide column's tokens.

    ``parts`` holds (Tokens, offset) per wide column: row n gets a 1 at ``offset + id``
    for each of the column's tokens in that row. The rows are assembled in place, block
    after block, without sorting all entries; φ is binary, so a feature active twice in
    a row (a repeated bag value, two crosses in one hash bucket) is still 1.
    """
    lengths = [np.diff(tokens.indptr) for tokens, _ in parts]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sum(lengths), out=indptr[1:])
    indices = np.empty(indptr[-1], dtype=np.int64)
    start = indptr[:-1].copy()  # where each row's next block of entries begins
    for (tokens, offset), length in zip(parts, lengths):
        # token p of row r goes to start[r] + (p − tokens.indptr[r])
        indices[np.repeat(start - tokens.indptr[:-1], length) + np.arange(tokens.ids.size)] = tokens.ids + offset
        start += length
    wide = count_csr(indices, indptr, (n, width))
    wide.data[:] = 1.0  # φ is binary: a feature active twice is still 1
    return wide


def count_csr(indices: np.ndarray, indptr: np.ndarray, shape: tuple) -> sp.csr_matrix:
    """(N, V) CSR matrix counting the entries ``indices`` of each row (rows CSR style in ``indptr``):
    a repeated entry counts twice; each row's columns come sorted.

    Its index arrays are 32-bit when they fit, as SciPy would choose; converting them here
    is cheaper than SciPy's own check of their values.
    """
    if max(shape[1], indices.size) < 2 ** 31:
        indices, indptr = indices.astype(np.int32), indptr.astype(np.int32)
    matrix = sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=shape)
    matrix.sum_duplicates()  # sorts each row's columns and merges a repeated one
    return matrix


def check_tokens(tokens: Tokens, n: int, column) -> Tokens:
    """``tokens`` if they are N rows of ids in [0, column.size), else a ValueError naming the column.

    The library's column kinds always pass; the check guards the matrices built from a new
    kind's tokens, whose ids index its block of wide weights and the rows of its embedding table.
    """
    indptr, ids = tokens.indptr, tokens.ids
    who = f"column {column.name!r} ({column.kind})"
    if indptr.shape != (n + 1,) or indptr[0] != 0 or indptr[-1] != ids.size:
        ends = f"from {indptr.flat[0]} to {indptr.flat[-1]}" if indptr.size else "none"
        raise ValueError(f"{who}: tokens() gave row pointers of shape {indptr.shape} ({ends}) for {n} rows and "
                         f"{ids.size} ids; expected shape ({n + 1},) from 0 to {ids.size}")
    if ids.size and (ids.min() < 0 or ids.max() >= column.size):
        bad = ids[(ids < 0) | (ids >= column.size)][0]
        raise ValueError(f"{who}: tokens() gave id {bad}, outside [0, {column.size}) (its size)")
    return tokens


class FeatureSpec:
    """Which columns feed the wide part and which the deep part, fitted on training data.

    Parameters
    ----------
    columns : list of Column
        Every column used anywhere (also those only crossed).
    wide : list of names
        Categorical-like columns whose ids become the wide part's binary features
        ``[x, φ(x)]``; each gets its own block of the D wide weights.
    embeddings : mapping name → embedding width K
        Categorical-like columns embedded in the deep part.
    continuous : list of names
        Numeric columns fed to the deep part as they are.
    """

    def __init__(self, columns, wide=(), embeddings=None, continuous=()):
        self.columns = {}
        for c in columns:
            if c.name in self.columns:
                raise ValueError(f"two columns are named {c.name!r}")
            self.columns[c.name] = c
        self.wide = list(wide)
        self.embeddings = dict(embeddings or {})
        self.continuous = list(continuous)
        for role, names in (("wide", self.wide), ("embeddings", list(self.embeddings)),
                            ("continuous", self.continuous)):
            for n in names:
                if n not in self.columns:
                    raise ValueError(f"{role}: unknown column {n!r}; the spec has {sorted(self.columns)}")
                if (role == "continuous") == self.columns[n].categorical:
                    want = "a Numeric" if role == "continuous" else "a categorical-like"
                    raise ValueError(f"{role}: column {n!r} is {self.columns[n].kind}, expected {want} column")
        for c in self.columns.values():
            for n in c.parents:  # parents read raw data themselves: no chains, no cycles
                if n not in self.columns or not self.columns[n].categorical or self.columns[n].parents:
                    raise ValueError(f"{c.kind} column {c.name!r}: {n!r} must name a categorical, hashed, "
                                     "bucketized or multivalent column of the spec (a categorical-like column "
                                     "that reads raw data)")
        for name, dim in self.embeddings.items():
            if int(dim) < 1:
                raise ValueError(f"embeddings: width of {name!r} must be >= 1, got {dim}")

    # -- fitting ------------------------------------------------------------

    @property
    def fitted(self) -> bool:
        return all(c.fitted for c in self.columns.values())

    def fit(self, data) -> "FeatureSpec":
        """Learn vocabularies and quantiles from training columns (anything :func:`as_columns`
        accepts); returns self."""
        data = as_columns(data)
        count_rows(data)
        for c in self.columns.values():
            c.fit(data)
        return self

    def _require_fitted(self):
        if not self.fitted:
            missing = [n for n, c in self.columns.items() if not c.fitted]
            raise NotFittedError(f"the feature spec is not fitted (columns {missing}); call spec.fit(train_data) first")

    # -- what the model needs -------------------------------------------------

    def wide_offsets(self) -> dict:
        """Start of each wide column's block of weights: name → offset."""
        self._require_fitted()
        offsets, start = {}, 0
        for n in self.wide:
            offsets[n] = start
            start += self.columns[n].size
        return offsets

    @property
    def wide_dim(self) -> int:
        """D, the number of wide features: the sum of the wide columns' sizes."""
        self._require_fitted()
        return sum(self.columns[n].size for n in self.wide)

    def embedding_fields(self) -> list:
        """The deep part's :class:`~wdnumpy.batch.EmbeddingField` of each embedded column."""
        self._require_fitted()
        return [self.columns[n].embedding_field(k) for n, k in self.embeddings.items()]

    def model_kwargs(self) -> dict:
        """Arguments for :class:`~wdnumpy.model.WideDeep` that fit this spec."""
        return {"wide_dim": self.wide_dim if self.wide else 0, "fields": self.embedding_fields(),
                "n_continuous": len(self.continuous)}

    # -- transforming -----------------------------------------------------------

    def tokens(self, name: str, data, cache: dict | None = None) -> Tokens:
        """Tokens of a categorical-like column (a crossed column's from its parents' tokens).

        ``cache`` (name → Tokens) lets columns crossed several times be computed once.
        """
        cache = {} if cache is None else cache
        if name not in cache:
            column = self.columns[name]
            parents = [self.tokens(p, data, cache) for p in column.parents]
            cache[name] = check_tokens(column.tokens(data, parents), count_rows(data), column)
        return cache[name]

    def transform(self, data, labels=None, weights=None) -> Batch:
        """Raw columns (anything :func:`as_columns` accepts) → Batch (wide CSR, embedding ids or
        bags, continuous matrix)."""
        self._require_fitted()
        data = as_columns(data)
        n = count_rows(data)
        cache = {}
        wide = None
        if self.wide:
            parts = [(self.tokens(name, data, cache), offset) for name, offset in self.wide_offsets().items()]
            wide = wide_matrix(parts, n, self.wide_dim)
        categorical = {}
        for name in self.embeddings:
            t, column = self.tokens(name, data, cache), self.columns[name]
            if column.multivalent:
                categorical[name] = count_csr(t.ids, t.indptr, (n, column.size))
            else:
                categorical[name] = t.ids
        continuous = None
        if self.continuous:
            continuous = np.column_stack([self.columns[c].values(data) for c in self.continuous])
        return Batch(wide=wide, categorical=categorical, continuous=continuous,
                     labels=None if labels is None else np.asarray(labels, dtype=np.float64),
                     weights=None if weights is None else np.asarray(weights, dtype=np.float64))

    # -- explaining -------------------------------------------------------------

    def token_names(self, name: str, one_row, cache: dict | None = None) -> list:
        """Readable name of each active token of column ``name`` in the one-row data ``one_row``."""
        cache = {} if cache is None else cache
        column = self.columns[name]
        parent_names = [self.token_names(p, one_row, cache) for p in column.parents]
        return column.token_names(one_row, self.tokens(name, one_row, cache), parent_names)

    def wide_feature_names(self, data, row: int) -> list:
        """(wide index, readable name) of each active wide feature of one row,
        e.g. ``(123, "installed=A × impression=C")``."""
        one = {k: v[row:row + 1] for k, v in as_columns(data).items()}
        cache, names = {}, []
        offsets = self.wide_offsets()
        for name in self.wide:
            ids = self.tokens(name, one, cache).ids
            names += [(int(offsets[name] + i), text) for i, text in zip(ids, self.token_names(name, one, cache))]
        return names

    # -- saving -------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"columns": [c.to_dict() for c in self.columns.values()], "wide": self.wide,
                "embeddings": self.embeddings, "continuous": self.continuous}

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureSpec":
        try:
            return cls([column_from_dict(c) for c in d["columns"]], d["wide"], d["embeddings"], d["continuous"])
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a valid feature spec description: {error}") from None
