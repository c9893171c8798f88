"""Raw values: what the loaders hand over, before any feature column sees it.

Raw data is a mapping ``column name → (N,) array`` of strings (or bytes, read
as UTF-8 text) or numbers, as :mod:`wdnumpy.datasets` returns it; a multivalent
column holds a list per row or a string joined by ``"|"``. This module reads such values and says, naming
the column and the row, what is wrong with a bad one:

- :data:`MISSING` and :func:`missing_mask` — which values count as missing;
- :func:`as_text` — categorical values as strings (missing → "", bytes decoded as UTF-8);
- :func:`parse_numbers` — numbers, with a fill value for missing ones;
- :func:`split_bags` — the bags of a multivalent column;
- :func:`raw_column` and :func:`count_rows` — looking a column up, and checking
  that all columns have the same number of rows.

Nothing here is learned from data; the columns that learn (vocabularies and
quantiles, paper §4.1) build on these functions.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

MISSING = frozenset({"", "?", "NA", "nan", "NaN", "None"})


def raw_column(data, source: str, who: str) -> np.ndarray:
    """``data[source]``, or a ValueError naming ``who`` asked and which columns exist."""
    if source not in data:
        raise ValueError(f"{who}: unknown column {source!r}; the data has columns {sorted(data)}")
    return data[source]


def as_columns(data) -> dict:
    """Raw tabular data as a dict ``column name → (N,) array``.

    Accepts a mapping of names to arrays or lists, a NumPy structured array, or
    any table with ``.columns`` whose ``table[name]`` gives an array-like (a
    pandas DataFrame works; pandas is not needed). A list of per-row lists (the
    bags of a multivalent column) becomes an object array of lists.
    """
    if isinstance(data, np.ndarray) and data.dtype.names:
        return {name: data[name] for name in data.dtype.names}
    if hasattr(data, "columns") and hasattr(data, "__getitem__") and not isinstance(data, Mapping):
        return {str(name): _as_array(data[name]) for name in list(data.columns)}
    if isinstance(data, Mapping):
        return {name: _as_array(values) for name, values in data.items()}
    raise ValueError("expected columns as a dict of arrays or lists, a NumPy structured array, or a table "
                     f"with .columns such as a pandas DataFrame; got {type(data).__name__}")


def _as_array(values) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values
    if hasattr(values, "to_numpy"):
        return values.to_numpy()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ValueError(f"a column must hold one value per row, got {type(values).__name__}")
    try:
        array = np.asarray(values)
    except ValueError:  # rows of different lengths: bags
        array = None
    if array is None or array.ndim != 1:
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
    return array


def count_rows(data) -> int:
    """N, the number of rows; all raw columns must have the same number of rows, and at least one."""
    if not isinstance(data, Mapping) or not data:
        raise ValueError("expected a non-empty mapping of column name → values (see as_columns)")
    lengths = {name: len(values) for name, values in data.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns have different numbers of rows: {lengths}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError("the data has no rows")
    return n


def text_of(value) -> str:
    """One raw value as text: bytes decoded as UTF-8 (an invalid byte becomes U+FFFD), anything else by str()."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def as_text(values) -> np.ndarray:
    """Raw categorical values as a str array; None and NaN become "" (missing), bytes are decoded
    as UTF-8 (a column read as bytes means the same as one read as text)."""
    values = np.asarray(values)
    if values.dtype.kind == "O":
        return np.array(["" if v is None or (isinstance(v, float) and v != v) else text_of(v) for v in values],
                        dtype=str)
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8", "replace")
    text = values.astype(str)
    if values.dtype.kind == "f":
        text[np.isnan(values)] = ""
    return text


def missing_mask(values) -> np.ndarray:
    """(N,) bool, True where a raw value is missing: "", "?", "NA", "nan", "NaN", "None", None or NaN."""
    values = np.asarray(values)
    if values.dtype.kind in "iub":
        return np.zeros(values.shape, dtype=bool)
    if values.dtype.kind == "f":
        return np.isnan(values)
    return np.isin(as_text(values), list(MISSING))


def parse_numbers(values, column: str, fill_value: float | None = None) -> np.ndarray:
    """Raw values → (N,) float64, with an error naming the column and row of a bad value.

    A missing value raises unless ``fill_value`` is given, which then replaces it.
    Infinite values are an error.
    """
    values = np.asarray(values)
    missing = missing_mask(values)
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
    """Multivalent raw values → (lengths (N,) int64, flat values (P,) str), P = Σ lengths.

    A row is a list/tuple/array of values or a string joined by ``separator``; a
    missing value ("" or None, see :data:`MISSING`) is an empty bag.
    """
    lengths, tokens, take = split_bags_once(values, separator)
    return lengths, tokens[take]


def split_bags_once(values, separator: str = "|"):
    """:func:`split_bags` with each distinct string split once: (lengths (N,), tokens (Q,) str,
    take (P,) int64), the flat values being ``tokens[take]``.

    A user's installed apps repeat on every candidate scored for that user, and on every
    training row of that user: their tokens are split, and can be looked up, once.
    """
    if not (isinstance(values, np.ndarray) and values.dtype.kind in "US" and values.ndim == 1):
        lengths, tokens = _split_each(values, separator)
        return lengths, tokens, np.arange(tokens.size)
    # a run of equal rows (one user's rows) costs one comparison per row, not a place in the sort
    new_run = np.concatenate([[True], values[1:] != values[:-1]])[:values.size]
    distinct, run_to_distinct = np.unique(values[new_run], return_inverse=True)
    row_to_distinct = run_to_distinct[np.cumsum(new_run) - 1]
    distinct_lengths, tokens = _split_each(distinct, separator)
    lengths = distinct_lengths[row_to_distinct]
    # token k of row r is token k of its distinct string: first tokens, then offsets within each bag
    first = np.repeat((np.cumsum(distinct_lengths) - distinct_lengths)[row_to_distinct], lengths)
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return lengths, tokens, first + within


def _split_each(values, separator: str):
    """:func:`split_bags` row by row."""
    rows = [v if isinstance(v, (list, tuple, np.ndarray))
            else ([] if v is None or text_of(v) in MISSING else text_of(v).split(separator)) for v in values]
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat = np.array([text_of(x) for r in rows for x in r], dtype=str)
    return lengths, flat
