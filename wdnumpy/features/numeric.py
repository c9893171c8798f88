"""Numeric columns: continuous values to [0, 1] by their empirical CDF (paper §4.1), or into buckets.

- :class:`Numeric` feeds the deep part one number per row. The paper
  normalises a continuous feature by its cumulative distribution function
  P(X ≤ x), divided into n_q quantiles: a value in the i-th quantile maps to
  (i − 1)/(n_q − 1). Standardising, or the raw value, are options.
- :class:`Bucketized` gives the wide part an id per row: the bucket a number
  falls in among fixed boundaries (age 18–25, 25–30, ...), a categorical
  column that can be crossed.
"""
from __future__ import annotations

import warnings

import numpy as np

from .base import Column, IdColumn
from .hashing import stable_hash
from .tokens import Tokens
from .values import missing_mask, parse_numbers, raw_column


def quantile_normalize(x: np.ndarray, boundaries, n_quantiles: int) -> np.ndarray:
    """The paper's CDF normalisation (§4.1): a value in the i-th of n_q quantiles maps to (i − 1)/(n_q − 1).

    Parameters
    ----------
    x : (N,) values
    boundaries : the n_q − 1 increasing quantile boundaries of the training data (a list or
        an array, ties allowed); the i-th quantile holds the values with exactly i − 1
        boundaries ≤ x, so a value on a boundary belongs to the quantile above it
    n_quantiles : n_q ≥ 2

    Returns
    -------
    (N,) float64 in [0, 1]: 0 below the first boundary, 1 at or above the last
    """
    # i − 1 = number of boundaries ≤ x
    return np.searchsorted(boundaries, x, side="right") / (n_quantiles - 1)


RAW_LIMIT = 1e150   # |x| above this: x² overflows float64, and so do the gradients of a raw input
RAW_WARNING = 1e6   # |x| above this, unscaled, usually makes training diverge


class Numeric(Column):
    """A continuous column for the deep part.

    normalization:
      - ``"quantile"`` (default, paper §4.1): the empirical CDF of the training
        data in ``n_quantiles`` quantiles; a value in the i-th quantile maps to
        (i − 1)/(n_q − 1), so every output lies in [0, 1];
      - ``"standard"``: (x − mean) / std of the training data;
      - ``"none"``: the raw value. Values whose square overflows float64
        (|x| > :data:`RAW_LIMIT`) are refused, naming the column and row, and
        fitting warns when the training values exceed :data:`RAW_WARNING`.
    log1p : apply ``log(1 + x)`` first (values must be > −1).
    fill : None (a missing value is an error naming column and row), "mean",
        "median", or a number to put in place of missing values.
    state : the fitted state, ``{"fill_value", "boundaries" | "mean", "std"}``;
        None until :meth:`fit`.
    """

    kind = "numeric"

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
        self.state = state

    @property
    def fitted(self):
        return self.state is not None

    def _raw(self, data, fill_value):
        """(N,) float64 values, missing ones filled, after log1p if asked."""
        x = parse_numbers(raw_column(data, self.source, f"column {self.name!r}"), self.source, fill_value=fill_value)
        if self.log1p:
            if (x <= -1).any():
                row = int(np.flatnonzero(x <= -1)[0])
                raise ValueError(f"column {self.source!r}, row {row}: log1p needs values > -1, got {x[row]}")
            x = np.log1p(x)
        return x

    def fit(self, data):
        raw = np.asarray(raw_column(data, self.source, f"column {self.name!r}"))
        if self.fill in ("mean", "median"):  # the statistic of the values that are present
            present = parse_numbers(raw[~missing_mask(raw)], self.source)
            fill_value = float(_mean_and_std(present)[0] if self.fill == "mean" else np.median(present))
        else:
            fill_value = None if self.fill is None else float(self.fill)
        x = self._raw(data, fill_value)
        state = {"fill_value": fill_value}
        if self.normalization == "quantile":
            state["boundaries"] = np.quantile(x, np.arange(1, self.n_quantiles) / self.n_quantiles).tolist()
        elif self.normalization == "standard":
            mean, std = _mean_and_std(x)
            state.update(mean=mean, std=std if std > 0 else 1.0)
        else:
            self._check_raw(x)
            if x.size and np.abs(x).max() > RAW_WARNING:
                warnings.warn(f"column {self.source!r}: raw values up to {np.abs(x).max():.3g} go to the deep part "
                              "unscaled, which usually makes training diverge; use normalization='quantile' "
                              "or 'standard', or log1p=True", stacklevel=2)
        self.state = state
        return self

    def _check_raw(self, x: np.ndarray) -> None:
        too_large = np.abs(x) > RAW_LIMIT
        if too_large.any():
            row = int(np.flatnonzero(too_large)[0])
            raise ValueError(f"column {self.source!r}, row {row}: {x[row]:g} is too large to use unscaled "
                             f"(above {RAW_LIMIT:g}); use normalization='quantile' or 'standard', or log1p=True")

    def values(self, data) -> np.ndarray:
        """The normalised values, (N,) float64."""
        self._require_fitted()
        x = self._raw(data, self.state["fill_value"])
        if self.normalization == "quantile":
            return quantile_normalize(x, self.state["boundaries"], self.n_quantiles)
        if self.normalization == "standard":
            mean, std = self.state["mean"], self.state["std"]
            with np.errstate(over="ignore", invalid="ignore"):
                z = (x - mean) / std
                if not np.all(np.isfinite(z)):  # x − mean overflowed: divide first
                    z = x / std - mean / std
            if not np.all(np.isfinite(z)):
                row = int(np.flatnonzero(~np.isfinite(z))[0])
                raise ValueError(f"column {self.source!r}, row {row}: {x[row]:g} standardises to {z[row]}; "
                                 "rescale the column or use log1p=True")
            return z
        self._check_raw(x)
        return x

    def to_dict(self):
        return {"kind": self.kind, "name": self.name, "source": self.source, "normalization": self.normalization,
                "n_quantiles": self.n_quantiles, "log1p": self.log1p, "fill": self.fill, "state": self.state}


class Bucketized(IdColumn):
    """A number's bucket: id ``i`` for boundaries[i−1] ≤ x < boundaries[i] (ids 0..len(boundaries)).

    ``fill`` replaces a missing value (None: a missing value is an error).
    """

    kind = "bucketized"

    def __init__(self, name, source=None, boundaries=(), fill: float | None = None):
        super().__init__(name, source)
        self.boundaries = [float(b) for b in boundaries]
        if not self.boundaries or np.any(np.diff(self.boundaries) <= 0):
            raise ValueError(f"column {name!r}: boundaries must be a non-empty increasing list, got {boundaries}")
        self.fill = fill

    @property
    def size(self):
        return len(self.boundaries) + 1

    def tokens(self, data, parents=()) -> Tokens:
        x = parse_numbers(raw_column(data, self.source, f"column {self.name!r}"), self.source, fill_value=self.fill)
        ids = np.searchsorted(self.boundaries, x, side="right")
        keys = stable_hash(np.arange(self.size).astype(str))  # bucket i's key: the hash of "i"
        return Tokens.single(ids, keys[ids])

    def value_name(self, i):
        lo = "-inf" if i == 0 else f"{self.boundaries[i - 1]:g}"
        hi = "inf" if i == len(self.boundaries) else f"{self.boundaries[i]:g}"
        return f"[{lo}, {hi})"

    def to_dict(self):
        return {"kind": self.kind, "name": self.name, "source": self.source, "boundaries": self.boundaries,
                "fill": self.fill}


def _mean_and_std(x: np.ndarray) -> tuple:
    """Mean and standard deviation, computed on ``x / max|x|`` when the plain sums would
    overflow (values near the float limit); both are then at most max|x|."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = float(np.mean(x)), float(np.std(x))
    if np.isfinite(mean) and np.isfinite(std):
        return mean, std
    scale = float(np.max(np.abs(x)))
    return float(np.mean(x / scale)) * scale, float(np.std(x / scale)) * scale
