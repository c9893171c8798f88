"""Feature columns and the feature spec: raw columns → the Batch a model consumes (paper §4.1).

Raw data is a mapping ``column name → 1-D array`` (strings or numbers; for a
multivalent column, a list per row or a string joined by ``"|"``), as the
loaders in :mod:`wdnumpy.datasets` return it.

Column kinds
------------
Categorical-like columns turn each row into one or more integer ids in ``[0, size)``:

- :class:`Categorical` — a vocabulary learned from training data with a minimum
  count (paper §4.1); id 0 is the out-of-vocabulary id shared by unseen, rare and
  missing values.
- :class:`Hashed` — ``stable_hash(value) mod buckets``, no vocabulary to learn.
- :class:`Bucketized` — a number's bucket among given boundaries.
- :class:`Multivalent` — a bag of values per row (installed apps), with a vocabulary.
- :class:`Crossed` — the cross-product transformation φ_k(x) = ∏_i x_i^{c_ki} of
  paper Eq. 1: one feature per combination of the crossed columns' active
  values, hashed into ``buckets``. Crossing bags gives every pair.

Numeric columns give one number per row:

- :class:`Numeric` — normalised by the empirical CDF into n_q quantiles, the i-th
  quantile mapped to (i − 1)/(n_q − 1) (paper §4.1); or standardised; or raw;
  optionally after ``log1p``.

The :class:`FeatureSpec` names the columns of the wide part, the deep part's
embeddings (with their widths) and its continuous inputs, is fitted on training
data, turns raw columns into a :class:`~wdnumpy.batch.Batch`, and round-trips
through a JSON-able dict so it can be saved with a model.

Hashes are :func:`stable_hash` (BLAKE2b of the UTF-8 text), identical across
runs, processes and platforms — unlike Python's salted ``hash()``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .batch import Batch, EmbeddingField

MISSING = frozenset({"", "?", "NA", "nan", "NaN", "None"})
OOV_KEY_TEXT = "\x00<out-of-vocabulary>"


class NotFittedError(ValueError):
    """A feature spec or column was used before ``fit``."""


# ---------------------------------------------------------------------------
# Hashing: stable, vectorised over rows
# ---------------------------------------------------------------------------

def stable_hash(values) -> np.ndarray:
    """64-bit hash of each value's text, the same on every run and platform.

    Each distinct value is hashed once (BLAKE2b, 8 bytes); rows share the result.

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
    """SplitMix64's finaliser: scrambles the bits of uint64 keys (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def combine_keys(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Order-dependent combination of two uint64 key arrays: the key of the cross (a, b)."""
    return mix64(mix64(a) ^ b)


# ---------------------------------------------------------------------------
# Tokens: what a categorical-like column makes of N rows
# ---------------------------------------------------------------------------

@dataclass
class Tokens:
    """The active ids of N rows, CSR style.

    indptr : (N + 1,) row n's tokens are ``ids[indptr[n]:indptr[n + 1]]``
    ids : (P,) ids in [0, size)
    keys : (P,) uint64 stable keys of the tokens' values, used to hash crosses
    """

    indptr: np.ndarray
    ids: np.ndarray
    keys: np.ndarray


def _single(ids: np.ndarray, keys: np.ndarray) -> Tokens:
    return Tokens(np.arange(ids.size + 1, dtype=np.int64), ids.astype(np.int64), keys)


def cross_tokens(a: Tokens, b: Tokens) -> Tokens:
    """Every pair (one token of a, one of b) within each row, without a loop over rows.

    Row n gets ``len_a[n] · len_b[n]`` crosses; their keys are ``combine_keys(ka, kb)``.
    ``ids`` of the result are left as positions; :class:`Crossed` hashes the keys.
    """
    len_a, len_b = np.diff(a.indptr), np.diff(b.indptr)
    counts = len_a * len_b
    indptr = np.concatenate([[0], np.cumsum(counts)])
    row = np.repeat(np.arange(counts.size), counts)
    t = np.arange(indptr[-1]) - indptr[row]  # position of the pair inside its row
    i = a.indptr[row] + t // len_b[row]
    j = b.indptr[row] + t % len_b[row]
    keys = combine_keys(a.keys[i], b.keys[j])
    return Tokens(indptr, np.zeros(keys.size, dtype=np.int64), keys)


# ---------------------------------------------------------------------------
# Helpers for raw values
# ---------------------------------------------------------------------------

def _column(data, source: str, who: str) -> np.ndarray:
    if source not in data:
        raise ValueError(f"{who}: unknown column {source!r}; the data has columns {sorted(data)}")
    return data[source]


def _as_text(values) -> np.ndarray:
    """Raw categorical values as a str array; None and NaN become "" (missing)."""
    values = np.asarray(values)
    if values.dtype.kind == "O":
        return np.array(["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in values],
                        dtype=str)
    text = values.astype(str)
    if values.dtype.kind == "f":
        text[np.isnan(values)] = ""
    return text


def _missing_mask(values) -> np.ndarray:
    """True where a raw value is missing: "", "?", "NA", "nan", None or NaN."""
    values = np.asarray(values)
    if values.dtype.kind in "iub":
        return np.zeros(values.shape, dtype=bool)
    if values.dtype.kind == "f":
        return np.isnan(values)
    return np.isin(_as_text(values), list(MISSING))


def parse_numbers(values, column: str, fill_value: float | None = None) -> np.ndarray:
    """Raw values → (N,) float64, with an error naming the column and row of a bad value.

    A missing value raises unless ``fill_value`` is given, which then replaces it.
    """
    values = np.asarray(values)
    missing = _missing_mask(values)
    numbers = np.zeros(values.shape)
    present = values[~missing]
    try:
        numbers[~missing] = present.astype(np.float64)
    except ValueError:  # find the first bad row for the message
        for row in np.flatnonzero(~missing):
            try:
                float(values[row])
            except ValueError:
                raise ValueError(f"column {column!r}, row {row}: {str(values[row])!r} is not a number") from None
    if missing.any():
        if fill_value is None:
            row = int(np.flatnonzero(missing)[0])
            raise ValueError(f"column {column!r}, row {row}: missing value "
                             "(give the Numeric column a fill= policy to replace missing values)")
        numbers[missing] = fill_value
    if not np.all(np.isfinite(numbers)):
        row = int(np.flatnonzero(~np.isfinite(numbers))[0])
        raise ValueError(f"column {column!r}, row {row}: {numbers[row]} is not a finite number")
    return numbers


def split_bags(values, separator: str = "|"):
    """Multivalent raw values → (lengths (N,), flat values (P,) as str).

    A row is a list/tuple of values or a string joined by ``separator`` ("" is an empty bag).
    """
    rows = [v if isinstance(v, (list, tuple, np.ndarray))
            else ([] if v is None or str(v) in MISSING else str(v).split(separator)) for v in values]
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat = np.array([str(x) for r in rows for x in r], dtype=str)
    return lengths, flat


def _vocabulary_ids(text: np.ndarray, index: dict) -> np.ndarray:
    """Map strings to vocabulary ids (0 = out of vocabulary), one dict look-up per distinct value."""
    uniques, inverse = np.unique(text, return_inverse=True)
    ids = np.fromiter((index.get(u, 0) for u in uniques), dtype=np.int64, count=uniques.size)
    return ids[inverse.ravel()]


def _learn_vocabulary(text: np.ndarray, min_count: int) -> list:
    uniques, counts = np.unique(text[~_missing_mask(text)], return_counts=True)
    return sorted(uniques[counts >= min_count].tolist())


# ---------------------------------------------------------------------------
# Columns
# ---------------------------------------------------------------------------

class Column:
    """Base of all feature columns: a name, a raw source column, and fitted state."""

    kind = "column"
    categorical = True  # gives ids (False: gives a number)
    multivalent = False

    def __init__(self, name: str, source: str | None = None):
        if not name or not isinstance(name, str):
            raise ValueError(f"a column needs a non-empty name, got {name!r}")
        self.name = name
        self.source = source or name

    @property
    def fitted(self) -> bool:
        return True

    def fit(self, data) -> "Column":
        return self

    def _require_fitted(self):
        if not self.fitted:
            raise NotFittedError(f"column {self.name!r} is not fitted; call FeatureSpec.fit(train_data) first")

    def to_dict(self) -> dict:
        raise NotImplementedError


class Categorical(Column):
    """A single-valued categorical column with a vocabulary learned from training data.

    Values seen at least ``min_count`` times get ids 1..V−1 (sorted); id 0 is the
    out-of-vocabulary id for unseen, rare and missing values.
    """

    kind = "categorical"

    def __init__(self, name, source=None, min_count: int = 1, vocabulary=None):
        super().__init__(name, source)
        if int(min_count) < 1:
            raise ValueError(f"column {name!r}: min_count must be >= 1, got {min_count}")
        self.min_count = int(min_count)
        self.vocabulary = None if vocabulary is None else list(vocabulary)

    @property
    def fitted(self):
        return self.vocabulary is not None

    @property
    def size(self) -> int:
        self._require_fitted()
        return len(self.vocabulary) + 1

    def fit(self, data):
        self.vocabulary = _learn_vocabulary(self._text(data), self.min_count)
        self._index = None
        return self

    def _text(self, data):
        """The column's raw values as strings (for a bag column: every value of every bag)."""
        return _as_text(_column(data, self.source, f"column {self.name!r}"))

    def _lookup(self, text):
        if getattr(self, "_index", None) is None:
            self._index = {v: i for i, v in enumerate(self.vocabulary, start=1)}
            self._keys = stable_hash([OOV_KEY_TEXT] + self.vocabulary)
        ids = _vocabulary_ids(text, self._index)
        return ids, self._keys[ids]

    def tokens(self, data) -> Tokens:
        self._require_fitted()
        ids, keys = self._lookup(self._text(data))
        return _single(ids, keys)

    def value_name(self, i: int) -> str:
        """Readable name of id ``i``."""
        return "<unknown>" if i == 0 else self.vocabulary[i - 1]

    def to_dict(self):
        return {"kind": self.kind, "name": self.name, "source": self.source, "min_count": self.min_count,
                "vocabulary": self.vocabulary}


class Multivalent(Categorical):
    """A bag of categorical values per row (installed apps), with a vocabulary.

    A row is a list of values or a string joined by ``separator``. In the deep
    part the bag's embeddings are pooled by ``pooling`` ("sum" or "mean").
    """

    kind = "multivalent"
    multivalent = True

    def __init__(self, name, source=None, min_count: int = 1, vocabulary=None, separator: str = "|",
                 pooling: str = "mean"):
        super().__init__(name, source, min_count, vocabulary)
        if pooling not in ("sum", "mean"):
            raise ValueError(f"column {name!r}: pooling must be 'sum' or 'mean', got {pooling!r}")
        self.separator = separator
        self.pooling = pooling

    def _bags(self, data):
        return split_bags(_column(data, self.source, f"column {self.name!r}"), self.separator)

    def _text(self, data):
        return self._bags(data)[1]

    def tokens(self, data) -> Tokens:
        self._require_fitted()
        lengths, flat = self._bags(data)
        ids, keys = self._lookup(flat)
        return Tokens(np.concatenate([[0], np.cumsum(lengths)]), ids, keys)

    def to_dict(self):
        return {**super().to_dict(), "separator": self.separator, "pooling": self.pooling}


class Hashed(Categorical):
    """A categorical column hashed into ``buckets`` ids: ``stable_hash(value) mod buckets``."""

    kind = "hashed"

    def __init__(self, name, source=None, buckets: int = 1000):
        Column.__init__(self, name, source)
        if int(buckets) < 1:
            raise ValueError(f"column {name!r}: buckets must be >= 1, got {buckets}")
        self.buckets = int(buckets)

    @property
    def fitted(self):
        return True

    @property
    def size(self):
        return self.buckets

    def fit(self, data):
        return self

    def tokens(self, data):
        keys = stable_hash(self._text(data))
        return _single((keys % np.uint64(self.buckets)).astype(np.int64), keys)

    def value_name(self, i):
        return f"hash bucket {i}"

    def to_dict(self):
        return {"kind": self.kind, "name": self.name, "source": self.source, "buckets": self.buckets}


class Bucketized(Categorical):
    """A number's bucket: id ``i`` for boundaries[i−1] ≤ x < boundaries[i] (ids 0..len(boundaries))."""

    kind = "bucketized"

    def __init__(self, name, source=None, boundaries=(), fill: float | None = None):
        Column.__init__(self, name, source)
        self.boundaries = [float(b) for b in boundaries]
        if not self.boundaries or np.any(np.diff(self.boundaries) <= 0):
            raise ValueError(f"column {name!r}: boundaries must be a non-empty increasing list, got {boundaries}")
        self.fill = fill

    @property
    def fitted(self):
        return True

    @property
    def size(self):
        return len(self.boundaries) + 1

    def fit(self, data):
        return self

    def tokens(self, data):
        x = parse_numbers(_column(data, self.source, f"column {self.name!r}"), self.source, fill_value=self.fill)
        ids = np.searchsorted(self.boundaries, x, side="right")
        keys = stable_hash(np.arange(self.size).astype(str))
        return _single(ids, keys[ids])

    def value_name(self, i):
        lo = "-inf" if i == 0 else f"{self.boundaries[i - 1]:g}"
        hi = "inf" if i == len(self.boundaries) else f"{self.boundaries[i]:g}"
        return f"[{lo}, {hi})"

    def to_dict(self):
        return {"kind": self.kind, "name": self.name, "source": self.source, "boundaries": self.boundaries,
                "fill": self.fill}


class Crossed(Column):
    """Cross-product transformation of two or more categorical-like columns (paper Eq. 1).

    φ(x) is 1 for each combination of the crossed columns' active values in a
    row: crossing ``installed = [A, B]`` with ``impression = [A, C]`` activates
    (A, A), (A, C), (B, A) and (B, C). Each combination is hashed into
    ``buckets`` ids. ``columns`` are names of other columns of the same spec.
    """

    kind = "crossed"

    def __init__(self, name, columns, buckets: int = 10_000):
        super().__init__(name, None)
        self.columns = list(columns)
        if len(self.columns) < 2:
            raise ValueError(f"crossed column {name!r} needs at least two columns, got {self.columns}")
        if int(buckets) < 1:
            raise ValueError(f"column {name!r}: buckets must be >= 1, got {buckets}")
        self.buckets = int(buckets)
        self.source = None

    @property
    def size(self):
        return self.buckets

    def cross(self, parts: list) -> Tokens:
        """Tokens of the cross, given the tokens of ``self.columns`` in order."""
        crossed = parts[0]
        for part in parts[1:]:
            crossed = cross_tokens(crossed, part)
        crossed.ids = (crossed.keys % np.uint64(self.buckets)).astype(np.int64)
        return crossed

    def to_dict(self):
        return {"kind": self.kind, "name": self.name, "columns": self.columns, "buckets": self.buckets}


class Numeric(Column):
    """A continuous column for the deep part.

    normalization:
      - ``"quantile"`` (default, paper §4.1): the empirical CDF of the training
        data in ``n_quantiles`` quantiles; a value in the i-th quantile maps to
        (i − 1)/(n_q − 1), so every output lies in [0, 1];
      - ``"standard"``: (x − mean) / std of the training data;
      - ``"none"``: the raw value.
    log1p : apply ``log(1 + x)`` first (values must be > −1).
    fill : None (a missing value is an error naming column and row), "mean",
        "median", or a number to put in place of missing values.
    """

    kind = "numeric"
    categorical = False

    def __init__(self, name, source=None, normalization: str = "quantile", n_quantiles: int = 100,
                 log1p: bool = False, fill=None, state=None):
        super().__init__(name, source)
        if normalization not in ("quantile", "standard", "none"):
            raise ValueError(f"column {name!r}: normalization must be 'quantile', 'standard' or 'none', "
                             f"got {normalization!r}")
        if normalization == "quantile" and int(n_quantiles) < 2:
            raise ValueError(f"column {name!r}: n_quantiles must be >= 2, got {n_quantiles}")
        if not (fill is None or fill in ("mean", "median") or isinstance(fill, (int, float))):
            raise ValueError(f"column {name!r}: fill must be None, 'mean', 'median' or a number, got {fill!r}")
        self.normalization, self.n_quantiles, self.log1p, self.fill = normalization, int(n_quantiles), log1p, fill
        self.state = state  # fitted: {"fill_value", "boundaries" | "mean", "std"}

    @property
    def fitted(self):
        return self.state is not None

    def _raw(self, data, fill_value):
        x = parse_numbers(_column(data, self.source, f"column {self.name!r}"), self.source, fill_value=fill_value)
        if self.log1p:
            if (x <= -1).any():
                row = int(np.flatnonzero(x <= -1)[0])
                raise ValueError(f"column {self.source!r}, row {row}: log1p needs values > -1, got {x[row]}")
            x = np.log1p(x)
        return x

    def fit(self, data):
        raw = np.asarray(_column(data, self.source, f"column {self.name!r}"))
        if self.fill in ("mean", "median"):  # the statistic of the values that are present
            present = parse_numbers(raw[~_missing_mask(raw)], self.source)
            fill_value = float(np.mean(present) if self.fill == "mean" else np.median(present))
        else:
            fill_value = None if self.fill is None else float(self.fill)
        x = self._raw(data, fill_value)
        state = {"fill_value": fill_value}
        if self.normalization == "quantile":
            state["boundaries"] = np.quantile(x, np.arange(1, self.n_quantiles) / self.n_quantiles).tolist()
        elif self.normalization == "standard":
            std = float(x.std())
            state.update(mean=float(x.mean()), std=std if std > 0 else 1.0)
        self.state = state
        return self

    def values(self, data) -> np.ndarray:
        """The normalised values, (N,) float64."""
        self._require_fitted()
        x = self._raw(data, self.state["fill_value"])
        if self.normalization == "quantile":
            # i − 1 = number of boundaries ≤ x, so the i-th quantile maps to (i − 1)/(n_q − 1)
            return np.searchsorted(self.state["boundaries"], x, side="right") / (self.n_quantiles - 1)
        if self.normalization == "standard":
            return (x - self.state["mean"]) / self.state["std"]
        return x

    def to_dict(self):
        return {"kind": self.kind, "name": self.name, "source": self.source, "normalization": self.normalization,
                "n_quantiles": self.n_quantiles, "log1p": self.log1p, "fill": self.fill, "state": self.state}


COLUMN_KINDS = {cls.kind: cls for cls in (Categorical, Multivalent, Hashed, Bucketized, Crossed, Numeric)}


def column_from_dict(d: dict) -> Column:
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in COLUMN_KINDS:
        raise ValueError(f"unknown column kind {kind!r}; expected one of {sorted(COLUMN_KINDS)}")
    return COLUMN_KINDS[kind](**d)


# ---------------------------------------------------------------------------
# The feature spec
# ---------------------------------------------------------------------------

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
            if isinstance(c, Crossed):
                for n in c.columns:
                    if n not in self.columns or not self.columns[n].categorical or isinstance(self.columns[n], Crossed):
                        raise ValueError(f"crossed column {c.name!r}: {n!r} must name a categorical, hashed, "
                                         "bucketized or multivalent column of the spec")
        for name, dim in self.embeddings.items():
            if int(dim) < 1:
                raise ValueError(f"embeddings: width of {name!r} must be >= 1, got {dim}")

    # -- fitting ------------------------------------------------------------

    @property
    def fitted(self) -> bool:
        return all(c.fitted for c in self.columns.values())

    def fit(self, data) -> "FeatureSpec":
        """Learn vocabularies and quantiles from training columns; returns self."""
        _check_rows(data)
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
        self._require_fitted()
        return sum(self.columns[n].size for n in self.wide)

    def embedding_fields(self) -> list:
        self._require_fitted()
        return [EmbeddingField(n, self.columns[n].size, int(k), multivalent=self.columns[n].multivalent
                               or isinstance(self.columns[n], Crossed),
                               pooling=getattr(self.columns[n], "pooling", "sum"))
                for n, k in self.embeddings.items()]

    def model_kwargs(self) -> dict:
        """Arguments for :class:`~wdnumpy.model.WideDeep` that fit this spec."""
        return {"wide_dim": self.wide_dim if self.wide else 0, "fields": self.embedding_fields(),
                "n_continuous": len(self.continuous)}

    # -- transforming -----------------------------------------------------------

    def tokens(self, name: str, data, cache: dict | None = None) -> Tokens:
        """Tokens of a categorical-like column (computing crossed columns from their parts)."""
        cache = {} if cache is None else cache
        if name not in cache:
            column = self.columns[name]
            if isinstance(column, Crossed):
                cache[name] = column.cross([self.tokens(n, data, cache) for n in column.columns])
            else:
                cache[name] = column.tokens(data)
        return cache[name]

    def transform(self, data, labels=None, weights=None) -> Batch:
        """Raw columns → Batch (wide CSR, embedding ids or bags, continuous matrix)."""
        self._require_fitted()
        n = _check_rows(data)
        cache = {}
        wide = None
        if self.wide:
            rows, cols = [], []
            for name, offset in self.wide_offsets().items():
                t = self.tokens(name, data, cache)
                rows.append(np.repeat(np.arange(n), np.diff(t.indptr)))
                cols.append(t.ids + offset)
            rows, cols = np.concatenate(rows), np.concatenate(cols)
            wide = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, self.wide_dim))
            wide.sum_duplicates()
            wide.data[:] = 1.0  # φ is binary: a feature active twice in a row is still 1
        categorical = {}
        for field in self.embedding_fields():
            t = self.tokens(field.name, data, cache)
            if field.multivalent:
                bags = sp.csr_matrix((np.ones(t.ids.size), t.ids, t.indptr), shape=(n, field.vocab_size))
                bags.sum_duplicates()
                categorical[field.name] = bags
            else:
                categorical[field.name] = t.ids
        continuous = None
        if self.continuous:
            continuous = np.column_stack([self.columns[c].values(data) for c in self.continuous])
        return Batch(wide=wide, categorical=categorical, continuous=continuous,
                     labels=None if labels is None else np.asarray(labels, dtype=np.float64),
                     weights=None if weights is None else np.asarray(weights, dtype=np.float64))

    def wide_feature_names(self, data, row: int) -> list:
        """(wide index, readable name) of each active wide feature of one row,
        e.g. ``(123, "installed=A × impression=C")``."""
        one = {k: v[row:row + 1] for k, v in data.items()}
        cache, names = {}, []
        offsets = self.wide_offsets()
        for name in self.wide:
            column = self.columns[name]
            parts = column.columns if isinstance(column, Crossed) else [name]
            readable = [self._token_names(p, one, cache) for p in parts]
            combos = readable[0]
            for r in readable[1:]:
                combos = [f"{a} × {b}" for a in combos for b in r]
            ids = self.tokens(name, one, cache).ids
            names += [(int(offsets[name] + i), text) for i, text in zip(ids, combos)]
        return names

    def _token_names(self, name, one_row, cache):
        column = self.columns[name]
        ids = self.tokens(name, one_row, cache).ids
        if isinstance(column, Hashed):  # show the raw value rather than its bucket
            return [f"{name}={_as_text(_column(one_row, column.source, name))[0]}"]
        return [f"{name}={column.value_name(int(i))}" for i in ids]

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


def _check_rows(data) -> int:
    """All raw columns must have the same number of rows, and at least one."""
    if not hasattr(data, "items") or not data:
        raise ValueError("expected a non-empty mapping of column name → values")
    lengths = {name: len(values) for name, values in data.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns have different numbers of rows: {lengths}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError("the data has no rows")
    return n
