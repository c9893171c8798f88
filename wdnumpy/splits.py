"""Splitting raw columns into training and test rows: at random (seeded) or by time.

    train_columns, train_labels, test_columns, test_labels = split(columns, labels, by="time",
                                                                   column="timestamp", test_fraction=0.2)

A time split keeps the latest rows for testing, as the paper's daily retraining
does (§4.2: a model trained on the past is judged on what comes next); a
random split mixes past and future. Columns are anything
:func:`~wdnumpy.features.as_columns` accepts; rows keep their order within
each part.
"""
from __future__ import annotations

import numpy as np

from .features import as_columns, count_rows, parse_numbers

SPLITS = ("random", "time")


def split_rows(n: int, test_fraction: float, by: str = "random", order_by=None, seed: int = 0):
    """Row indices (train, test) of ``n`` rows, each sorted.

    Parameters
    ----------
    test_fraction : share of rows in the test part, in (0, 1); at least one row goes to each part
    by : "random" (seeded by ``seed``) or "time" (the rows with the largest ``order_by`` values
        are the test part; ties keep the rows' order)
    order_by : (n,) numbers, needed for ``by="time"``
    """
    if by not in SPLITS:
        raise ValueError(f"split by must be one of {SPLITS}, got {by!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    if n < 2:
        raise ValueError(f"cannot split {n} row(s) into a training and a test part")
    n_test = min(n - 1, max(1, int(round(n * test_fraction))))
    if by == "random":
        order = np.random.default_rng(seed).permutation(n)
    else:
        if order_by is None or len(order_by) != n:
            raise ValueError("a time split needs one time value per row (order_by)")
        order = np.argsort(order_by, kind="stable")
    return np.sort(order[:n - n_test]), np.sort(order[n - n_test:])


def split(columns, labels=None, by: str = "random", column: str | None = None, test_fraction: float = 0.2,
          seed: int = 0):
    """Split raw columns (and labels) into a training and a test part.

    ``by="time"`` needs ``column``, a numeric column (for example a Unix
    timestamp); its latest ``test_fraction`` of rows become the test part.

    Returns
    -------
    train_columns, train_labels, test_columns, test_labels (labels None if none were given)
    """
    columns = as_columns(columns)
    n = count_rows(columns)
    order_by = None
    if by == "time":
        if column is None:
            raise ValueError("a time split needs column=, the name of a numeric time column")
        if column not in columns:
            raise ValueError(f"time column {column!r} is not among the columns {sorted(columns)}")
        order_by = parse_numbers(columns[column], column)
    train_rows, test_rows = split_rows(n, test_fraction, by, order_by, seed)
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels have {len(labels)} rows but the columns have {n}")

    def part(rows):
        return ({name: values[rows] for name, values in columns.items()},
                None if labels is None else np.asarray(labels)[rows])

    (train_columns, train_labels), (test_columns, test_labels) = part(train_rows), part(test_rows)
    return train_columns, train_labels, test_columns, test_labels


def parse_split(text: str):
    """The command line's ``--split``: "random:0.2" → ("random", None, 0.2);
    "time:timestamp:0.2" → ("time", "timestamp", 0.2)."""
    parts = text.split(":")
    try:
        if parts[0] == "random" and len(parts) == 2:
            return "random", None, float(parts[1])
        if parts[0] == "time" and len(parts) == 3 and parts[1]:
            return "time", parts[1], float(parts[2])
    except ValueError:
        pass
    raise ValueError(f"expected random:FRACTION or time:COLUMN:FRACTION, got {text!r}")
