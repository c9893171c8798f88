"""Evaluation metrics in NumPy: ROC AUC, log loss, accuracy, reliability curve.

All take ``y`` (N,) labels in {0, 1} and ``p`` (N,) predicted P(Y = 1).
"""
from __future__ import annotations

import numpy as np


def _check(y, p):
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels and predictions must be 1-D of the same length, got {y.shape} and {p.shape}")
    if y.size == 0:
        raise ValueError("no examples to score")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    return y, p


def roc_auc(y, p) -> float:
    """Area under the ROC curve by ranks (Mann–Whitney U):

        AUC = (Σ ranks of positives − n₊(n₊ + 1)/2) / (n₊ n₋)

    Tied predictions get their average rank, so a tie counts as half a correct pair.
    A NaN prediction makes the AUC NaN (it cannot be ranked).
    """
    y, p = _check(y, p)
    n_pos = y.sum()
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both positive and negative labels")
    if np.isnan(p).any():
        return float("nan")
    # 1-based ranks; the `counts` tied values after `before` smaller ones share rank before + (counts + 1)/2
    _, tie_group, counts = np.unique(p, return_inverse=True, return_counts=True)
    before = np.cumsum(counts) - counts
    ranks = (before + (counts + 1) / 2)[tie_group]
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(y, p, eps: float = 1e-15) -> float:
    """Mean of −y log p − (1 − y) log(1 − p), with p clipped to [eps, 1 − eps]."""
    y, p = _check(y, p)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def accuracy(y, p, threshold: float = 0.5) -> float:
    """Fraction of examples where ``p ≥ threshold`` equals the label."""
    y, p = _check(y, p)
    return float(np.mean((p >= threshold) == (y == 1)))


def reliability_curve(y, p, n_bins: int = 10):
    """Calibration: bin predictions into ``n_bins`` equal-width bins of [0, 1].

    Returns
    -------
    mean_predicted : (B,) mean p in each non-empty bin
    fraction_positive : (B,) fraction of positive labels in it
    count : (B,) number of examples in it
    """
    y, p = _check(y, p)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    keep = count > 0
    mean_predicted = np.bincount(bins, weights=p, minlength=n_bins)[keep] / count[keep]
    fraction_positive = np.bincount(bins, weights=y, minlength=n_bins)[keep] / count[keep]
    return mean_predicted, fraction_positive, count[keep]


def evaluate(y, p) -> dict:
    """AUC, accuracy and log loss in one dict."""
    return {"auc": roc_auc(y, p), "accuracy": accuracy(y, p), "logloss": log_loss(y, p)}
