"""Solutions of the exercises in ``notebooks/exercises/`` (try them yourself first!).

Each function has the name and the signature of the library function it replaces,
so ``wdnumpy.exercises.use(**{name: getattr(solutions, name) ...})`` runs the library
on them. They are written out here on purpose, sometimes another way than the library
does it (a sparse one-hot product instead of a sort, a mask instead of a shrink), so
that there are two implementations to compare. Shapes follow the glossary in
:mod:`wdnumpy.layers`.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import layers
from ..features.hashing import combine_keys
from ..features.tokens import Tokens
from ..layers import RowGrad


# -- 1. the wide part (paper §3.1) --------------------------------------------------------

def sparse_linear_backward(dy, cache):
    """dw of y = X w: each stored entry X[n, j] adds X[n, j] · dy[n] to dw[j]; a RowGrad of the touched columns."""
    X, w = cache.X, cache.w
    row_of_entry = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    touched, position = np.unique(X.indices, return_inverse=True)   # distinct columns, and each entry's slot
    values = np.bincount(position, weights=X.data * dy[row_of_entry], minlength=touched.size)  # adds repeats
    return RowGrad(touched.astype(np.int64), values.astype(w.dtype, copy=False), w.shape)


# -- 2. embeddings (paper §3.2) --------------------------------------------------------------

def embedding_backward(dout, cache):
    """dE of out = E[ids]: an id's row gets the sum of dout over the examples that looked it up."""
    touched, position = np.unique(cache.ids, return_inverse=True)
    n = position.size
    # (M, N) one-hot matrix: row m has a 1 in the column of every example whose id is touched[m]
    onehot = sp.csr_matrix((np.ones(n, dtype=dout.dtype), (position, np.arange(n))), shape=(touched.size, n))
    return RowGrad(touched.astype(np.int64), onehot @ dout, cache.table_shape)


def bag_embedding_backward(dout, cache):
    """dE of out = scale · (bags @ E): an id's row gets Σ_n bags[n, id] · scale[n] · dout[n]."""
    bags, scale = cache.bags, cache.scale
    scaled = dout if scale is None else dout * scale[:, None]   # mean pooling scaled each row in the forward
    touched = np.unique(bags.indices)
    values = bags[:, touched].T @ scaled                        # (M, N) @ (N, K); counts weigh repeats
    return RowGrad(touched.astype(np.int64), np.asarray(values, dtype=dout.dtype), cache.table_shape)


# -- 3. the MLP (paper §3.2, Eq. 2) -------------------------------------------------------------

def affine_backward(dout, cache):
    """out = x W + b  ⇒  dx = dout Wᵀ (N, H_in), dW = xᵀ dout (H_in, H_out), db = Σ_n dout[n] (or None)."""
    dx = dout @ cache.W.T
    dW = cache.x.T @ dout
    db = dout.sum(axis=0) if cache.has_bias else None
    return dx, dW, db


def relu_backward(dout, cache):
    """dout where the forward's input was positive, 0 elsewhere; a new array (dout is not touched)."""
    return np.where(cache.positive, dout, 0.0)


# -- 4. the loss (paper §3.3) ---------------------------------------------------------------------

def sigmoid_cross_entropy_forward(z, y, weights=None):
    """Mean of log(1 + e^z) − y z (weighted mean with weights), computed with logaddexp; cache (z, y, weights)."""
    per_example = np.logaddexp(0.0, z) - y * z          # log(e^0 + e^z): no overflow for any z
    if weights is None:
        loss = per_example.sum() / z.shape[0]
    else:
        loss = (weights * per_example).sum() / weights.sum()
    return float(loss), (z, y, weights)


def _sigmoid(z):
    """σ(z) from e^(−|z|) ≤ 1, so that nothing overflows."""
    small = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + small), small / (1.0 + small))


def sigmoid_cross_entropy_backward(cache):
    """dz = (σ(z) − y)/N, or s (σ(z) − y)/Σs with weights s."""
    z, y, weights = cache
    error = _sigmoid(z) - y
    if weights is None:
        return error / z.shape[0]
    return error * weights / weights.sum()


# -- 5. one FTRL-Proximal step (paper §3.3; McMahan et al., 2013) -------------------------------

def ftrl_update(w, z, n, g, alpha, beta, l1, l2):
    """One FTRL-Proximal step on new arrays: σ from the old n, z from the old w, then the closed form."""
    n_new = n + g * g
    sigma = (np.sqrt(n_new) - np.sqrt(n)) / alpha
    z_new = z + g - sigma * w
    w_new = np.zeros_like(z_new)
    active = np.abs(z_new) > l1                        # the other weights are exactly 0: sparsity
    za = z_new[active]
    w_new[active] = -(za - np.sign(za) * l1) / ((beta + np.sqrt(n_new[active])) / alpha + l2)
    return w_new, z_new, n_new


# -- 6. the cross-product transformation (paper §3.1, Eq. 1) ----------------------------------------

def cross_tokens(a, b):
    """Every pair (a token of a, a token of b) within each row, a's token first; keys combine_keys(a, b)."""
    len_a, len_b = np.diff(a.indptr), np.diff(b.indptr)
    row_of_a = np.repeat(np.arange(len_a.size), len_a)         # the row of each token of a
    partners = len_b[row_of_a]                                 # how many b-tokens each a-token meets
    i = np.repeat(np.arange(row_of_a.size), partners)          # the a-token of every cross, a-major
    start = np.cumsum(partners) - partners                     # where each a-token's crosses begin
    j = np.repeat(b.indptr[row_of_a], partners) + np.arange(partners.sum()) - np.repeat(start, partners)
    keys = combine_keys(a.keys[i], b.keys[j])
    indptr = np.concatenate([[0], np.cumsum(len_a * len_b)]).astype(np.int64)
    return Tokens(indptr, np.zeros(keys.size, dtype=np.int64), keys)


# -- 7. the CDF quantile normalisation (paper §4.1) ----------------------------------------------------

def quantile_normalize(x, boundaries, n_quantiles):
    """(i − 1)/(n_q − 1) for a value in the i-th quantile, i − 1 being the number of boundaries ≤ x."""
    at_or_below = np.searchsorted(np.asarray(boundaries, dtype=np.float64), x, side="right")
    return at_or_below / (n_quantiles - 1)


# -- 8. the joint backward (paper §3.3, Eq. 3) ----------------------------------------------------------

def backward(self, dz, cache):
    """WideDeep.backward: the same dz reaches the bias, the wide part and the deep part.

    Calls the layers through the module (``layers.<name>``), so that with
    ``wdnumpy.exercises.use`` your own layer functions run inside it too.
    """
    grads = {"bias": np.array([dz.sum()], dtype=self.dtype)}        # b is added to every logit
    if self.uses_wide:
        grads["wide.w"] = layers.sparse_linear_backward(dz, cache.wide)
    if self.uses_deep:
        d = dz[:, None]                                               # the tower's output is (N, 1)
        for layer, layer_cache in zip(reversed(self.tower), reversed(cache.tower)):
            d, layer_grads = layer.backward(d, layer_cache)           # last layer first
            grads.update(layer_grads)
        start = 0                                                     # d: the gradient of [embeddings, continuous]
        for field, field_cache in zip(self.fields, cache.fields):
            piece = d[:, start:start + field.dim]
            start += field.dim
            backward_of = layers.bag_embedding_backward if field.multivalent else layers.embedding_backward
            grads[f"deep.embedding.{field.name}"] = backward_of(piece, field_cache)
    return {name: grads[name] for name in self.params}


ALL = ("sparse_linear_backward", "embedding_backward", "bag_embedding_backward", "affine_backward",
       "relu_backward", "sigmoid_cross_entropy_forward", "sigmoid_cross_entropy_backward", "ftrl_update",
       "cross_tokens", "quantile_normalize", "backward")


def functions() -> dict:
    """Every solution by its switchable name: ``use(**solutions.functions())``."""
    return {name: globals()[name] for name in ALL}
