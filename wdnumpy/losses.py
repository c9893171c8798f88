"""The joint output of Wide & Deep and its logistic loss (paper §3.3, Eq. 3).

    P(Y = 1 | x) = σ(w_wideᵀ [x, φ(x)] + w_deepᵀ a⁽ˡᶠ⁾ + b)

The model adds the two logits and the bias (see :mod:`wdnumpy.model`); this
module turns a logit ``z`` into a probability and a loss, computed from the
logit so that no ``|z|`` overflows (tested up to 1e4 and beyond).
Shapes follow the glossary in :mod:`wdnumpy.layers`.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit


def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1 / (1 + e^(−z)) without overflow for any finite z (SciPy's ``expit``)."""
    return expit(z)


def sigmoid_cross_entropy_forward(z: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None):
    """Mean binary cross-entropy of labels ``y`` under logits ``z``.

    Per example ``ℓ_n = log(1 + e^(z_n)) − y_n z_n``, which equals
    ``−y log σ(z) − (1 − y) log(1 − σ(z))`` but is computed with
    ``np.logaddexp(0, z)`` so that it never overflows.

    The loss is the **mean** over the batch, ``L = Σ_n ℓ_n / N``; with
    per-example weights ``s`` it is the weighted mean ``L = Σ_n s_n ℓ_n / Σ_n s_n``,
    which reduces to the plain mean when all weights are equal.

    Parameters
    ----------
    z : (N,) logits
    y : (N,) labels in {0, 1}
    weights : (N,) non-negative, optional

    Returns
    -------
    loss : float
    cache : (z, y, weights) for the backward
    """
    per_example = np.logaddexp(0.0, z) - y * z
    if weights is None:
        loss = per_example.mean()
    else:
        loss = np.dot(weights, per_example) / weights.sum()
    return float(loss), (z, y, weights)


def sigmoid_cross_entropy_backward(cache) -> np.ndarray:
    """Gradient of the mean loss with respect to the logits.

    ``∂L/∂z_n = (σ(z_n) − y_n) / N``, or ``s_n (σ(z_n) − y_n) / Σ s`` with weights.
    This one vector ``p − y`` is what flows back into both the wide and the
    deep part under joint training.

    Returns
    -------
    dz : (N,)
    """
    z, y, weights = cache
    error = sigmoid(z) - y
    if weights is None:
        return error / z.shape[0]
    return error * (weights / weights.sum())
