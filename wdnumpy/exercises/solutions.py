"""Reference solutions of the classroom exercises (try them yourself first!).

Each function has the signature its exercise notebook asks for. Where the
library already implements the same step, the solution calls it, so there is
one implementation to trust; read that function in :mod:`wdnumpy.layers`,
:mod:`wdnumpy.losses` or :mod:`wdnumpy.optim` for the written-out code.
"""
from __future__ import annotations

import numpy as np

from .. import layers
from ..losses import sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward


def wide_backward(dy, X, w):
    """dw = Xᵀ dy: every row adds X[n, j] · dy[n] to column j (see ``layers.sparse_linear_backward``)."""
    return X.T @ dy


def embedding_backward(dout, bags, vocab_size):
    """dE = bagsᵀ dout: each id gets the gradient of every row whose bag holds it, times its count."""
    return bags.T @ dout


def affine_relu_backward(dout, x, W, b):
    """Backward of relu(x W + b), using the library's layer pairs."""
    h, affine_cache = layers.affine_forward(x, W, b)
    _, relu_cache = layers.relu_forward(h)
    return layers.affine_backward(layers.relu_backward(dout, relu_cache), affine_cache)


def sigmoid_cross_entropy(z, y):
    """Mean loss log(1 + e^z) − y z and its gradient (σ(z) − y)/N (see :mod:`wdnumpy.losses`)."""
    loss, cache = sigmoid_cross_entropy_forward(z, y)
    return loss, sigmoid_cross_entropy_backward(cache)


def ftrl_step(w, z, n, g, alpha, beta, l1, l2):
    """One FTRL-Proximal step (McMahan et al., 2013, Algorithm 1), on new arrays."""
    sigma = (np.sqrt(n + g * g) - np.sqrt(n)) / alpha
    z = z + g - sigma * w
    n = n + g * g
    shrunk = np.sign(z) * np.maximum(np.abs(z) - l1, 0.0)
    return -shrunk / ((beta + np.sqrt(n)) / alpha + l2), z, n
