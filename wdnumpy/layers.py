"""Layers of Wide & Deep, each a forward and a backward written by hand.

Every layer is a pair of functions in the style of CS231n's ``layers.py``:
``*_forward(...)`` returns ``(out, cache)`` and ``*_backward(dout, cache)``
returns the gradients. No function here changes ``dout`` or any input in place.

Shape glossary (used in every docstring of the package)
-------------------------------------------------------
N  examples in a batch
D  width of the wide part: number of sparse (crossed) features, ``x`` and ``φ(x)``
V  vocabulary size of one categorical field
K  embedding width of one field
F  number of categorical fields
C  number of continuous features
H  width of a hidden layer (``H_in`` / ``H_out`` for an affine layer)
M  number of distinct rows a batch touched (≤ N·bag size, ≤ V or D)

Sparse gradients
----------------
The wide weights and the embedding tables can be huge while a batch touches
only a few of their rows. Their backward passes therefore return a
:class:`RowGrad`: the touched row indices and the gradient of those rows only.
``RowGrad.to_dense()`` turns it into the ordinary dense gradient, which the
gradient checks use; optimizers can update just the touched rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class RowGrad:
    """Gradient of a parameter that is non-zero only in some rows.

    Attributes
    ----------
    rows : (M,) int64, sorted and distinct
        Indices of the rows (wide coordinates or vocabulary ids) the batch touched.
    values : (M,) or (M, K)
        Gradient of those rows. Repeated ids are already summed.
    shape : tuple
        Shape of the full parameter, ``(D,)`` or ``(V, K)``.
    """

    rows: np.ndarray
    values: np.ndarray
    shape: tuple

    def to_dense(self) -> np.ndarray:
        """The gradient as a full array of ``shape`` (zeros outside ``rows``)."""
        dense = np.zeros(self.shape, dtype=self.values.dtype)
        dense[self.rows] = self.values  # rows are distinct, so plain assignment is exact
        return dense


def sum_by_index(index: np.ndarray, values: np.ndarray):
    """Add up the ``values`` that share an index: the scatter-add of every backward here.

    ``dense[index] += values`` with fancy indexing silently keeps only one of
    several repeated indices; this function adds all of them, without a loop.

    Parameters
    ----------
    index : (P,) int
        Row each value belongs to (repeats allowed).
    values : (P,) or (P, K)

    Returns
    -------
    rows : (M,) int64, the distinct indices, sorted
    sums : (M,) or (M, K), ``sums[j] = values[index == rows[j]].sum(axis=0)``
    """
    if index.size == 0:
        return np.zeros(0, dtype=np.int64), values[:0]
    # one sort groups equal indices; each group starts where the sorted index changes
    order = np.argsort(index, kind="stable")
    ordered = index[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return ordered[starts].astype(np.int64, copy=False), np.add.reduceat(values[order], starts, axis=0)


# ---------------------------------------------------------------------------
# Wide part: sparse linear layer  y = wᵀ[x, φ(x)]   (paper §3.1, Eq. 1)
# ---------------------------------------------------------------------------

def sparse_linear_forward(X: sp.csr_matrix, w: np.ndarray):
    """Wide logit of each example: ``y = X w`` (paper Eq. 1, without the bias).

    Parameters
    ----------
    X : (N, D) scipy.sparse CSR
        One row per example; a column is a raw binary feature or a cross-product
        transformation φ_k(x). Entries are 1 for binary features, or any weight.
    w : (D,)
        Wide weights.

    Returns
    -------
    y : (N,)
    cache : (X, w)
    """
    return X @ w, (X, w)


def sparse_linear_backward(dy: np.ndarray, cache):
    """Backward of :func:`sparse_linear_forward`.

    ``∂L/∂w_j = Σ_n X[n, j] · dy[n]``, i.e. ``Xᵀ dy``, computed only for the
    columns the batch touched. (``∂L/∂X`` is not needed: the input is data.)

    Parameters
    ----------
    dy : (N,)
    cache : from the forward

    Returns
    -------
    dw : RowGrad of shape (D,)
    """
    X, w = cache
    # Entry p of X.data sits in row `row_of_entry[p]`; its gradient is X[n, j] * dy[n].
    row_of_entry = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    rows, values = sum_by_index(X.indices, X.data * dy[row_of_entry])
    return RowGrad(rows, values.astype(w.dtype, copy=False), w.shape)


# ---------------------------------------------------------------------------
# Deep part: embeddings (paper §3.2)
# ---------------------------------------------------------------------------

def embedding_forward(ids: np.ndarray, E: np.ndarray):
    """Embedding lookup of a single-valued categorical field: a row gather.

    Equivalent to ``onehot(ids) @ E`` with an (N, V) one-hot matrix.

    Parameters
    ----------
    ids : (N,) int, each in [0, V)
    E : (V, K) embedding table

    Returns
    -------
    out : (N, K), ``out[n] = E[ids[n]]``
    cache : (ids, E.shape)
    """
    return E[ids], (ids, E.shape)


def embedding_backward(dout: np.ndarray, cache):
    """Backward of :func:`embedding_forward`: ``dE[v] = Σ_{n: ids[n]=v} dout[n]``.

    An id that occurs in several rows of the batch receives the sum of their
    gradients.

    Parameters
    ----------
    dout : (N, K)

    Returns
    -------
    dE : RowGrad of shape (V, K)
    """
    ids, shape = cache
    rows, values = sum_by_index(ids, dout)
    return RowGrad(rows, values, shape)


def bag_embedding_forward(bags: sp.csr_matrix, E: np.ndarray, pooling: str = "sum"):
    """Embedding of a multivalent field (a bag of ids per row), pooled by sum or mean.

    ``bags`` is an (N, V) CSR matrix whose entry (n, v) is how often (or with
    what weight) id v occurs in row n's bag, so a sum-pooled bag is the sparse
    product ``bags @ E``. Mean pooling divides by the row's total weight; an
    empty bag gives a zero vector.

    Parameters
    ----------
    bags : (N, V) scipy.sparse CSR, non-negative entries
    E : (V, K)
    pooling : "sum" or "mean"

    Returns
    -------
    out : (N, K)
    cache : (bags, scale, E.shape), ``scale`` (N,) the per-row factor of the pooling
    """
    if pooling == "sum":
        scale = None
        out = bags @ E
    elif pooling == "mean":
        totals = np.asarray(bags.sum(axis=1)).ravel()
        scale = np.divide(1.0, totals, out=np.zeros_like(totals, dtype=E.dtype), where=totals > 0)
        out = (bags @ E) * scale[:, None]
    else:
        raise ValueError(f"pooling must be 'sum' or 'mean', got {pooling!r}")
    return out, (bags, scale, E.shape)


def bag_embedding_backward(dout: np.ndarray, cache):
    """Backward of :func:`bag_embedding_forward`.

    ``dE[v] = Σ_n bags[n, v] · scale[n] · dout[n]`` — an id repeated inside one
    bag or across bags of the batch gets all of its contributions.

    Parameters
    ----------
    dout : (N, K)

    Returns
    -------
    dE : RowGrad of shape (V, K)
    """
    bags, scale, shape = cache
    row_of_entry = np.repeat(np.arange(bags.shape[0]), np.diff(bags.indptr))
    weight = bags.data if scale is None else bags.data * scale[row_of_entry]
    rows, values = sum_by_index(bags.indices, dout[row_of_entry] * weight[:, None])
    return RowGrad(rows, values.astype(dout.dtype, copy=False), shape)


# ---------------------------------------------------------------------------
# Deep part: the MLP  a⁽ˡ⁺¹⁾ = f(W⁽ˡ⁾ a⁽ˡ⁾ + b⁽ˡ⁾)   (paper §3.2, Eq. 2)
# ---------------------------------------------------------------------------

def affine_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None):
    """Dense affine layer ``out = x W + b`` (the inner part of paper Eq. 2).

    Parameters
    ----------
    x : (N, H_in)
    W : (H_in, H_out)
    b : (H_out,) or None for a layer without bias

    Returns
    -------
    out : (N, H_out)
    cache : (x, W, has_bias)
    """
    out = x @ W
    if b is not None:
        out = out + b
    return out, (x, W, b is not None)


def affine_backward(dout: np.ndarray, cache):
    """Backward of :func:`affine_forward`.

    Parameters
    ----------
    dout : (N, H_out)

    Returns
    -------
    dx : (N, H_in) = dout Wᵀ
    dW : (H_in, H_out) = xᵀ dout
    db : (H_out,) = Σ_n dout[n], or None if the layer has no bias
    """
    x, W, has_bias = cache
    return dout @ W.T, x.T @ dout, (dout.sum(axis=0) if has_bias else None)


def relu_forward(x: np.ndarray):
    """Rectified linear unit ``f(x) = max(0, x)``, the activation of paper Eq. 2.

    Parameters
    ----------
    x : any shape

    Returns
    -------
    out : same shape as x
    cache : the boolean mask ``x > 0``
    """
    mask = x > 0
    return np.maximum(x, 0), mask


def relu_backward(dout: np.ndarray, cache):
    """Backward of :func:`relu_forward`: ``dx = dout · [x > 0]`` (a new array).

    Parameters
    ----------
    dout : same shape as the forward's x

    Returns
    -------
    dx : same shape
    """
    return dout * cache
