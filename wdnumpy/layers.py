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

Caches
------
Each forward returns a small named cache (``AffineCache(x, W, has_bias)`` and so
on), read by name in its backward.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .batch import check_pooling, csr_row_of_entry


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


def sum_by_index(index: np.ndarray, values: np.ndarray, size: int | None = None):
    """Add up the ``values`` that share an index: the scatter-add of every backward here.

    ``dense[index] += values`` with fancy indexing silently keeps only one of
    several repeated indices; this function adds all of them, without a loop.
    Two ways, chosen by cost, give the same rows and sums (up to rounding): a sort
    that groups equal indices (cost grows with P), or, for a table of ``size`` rows
    at most twice P, counting with ``np.bincount`` over the whole table (cost grows
    with ``size``), several times faster on small tables.

    Parameters
    ----------
    index : (P,) int, non-negative
        Row each value belongs to (repeats allowed), in [0, size) when ``size`` is given.
    values : (P,) or (P, K)
    size : rows of the table (optional; without it the sort is used)

    Returns
    -------
    rows : (M,) int64, the distinct indices, sorted
    sums : (M,) or (M, K), ``sums[j] = values[index == rows[j]].sum(axis=0)``
    """
    if index.size == 0:
        return np.zeros(0, dtype=np.int64), values[:0]
    if size is not None and size <= 2 * index.size:
        rows = np.flatnonzero(np.bincount(index, minlength=size))
        if values.ndim == 1:
            sums = np.bincount(index, weights=values, minlength=size)
        else:  # entry (i, k) of the (size, K) table is bin i · K + k
            k = values.shape[1]
            bins = (index.astype(np.int64)[:, None] * k + np.arange(k)).ravel()
            sums = np.bincount(bins, weights=values.ravel(), minlength=size * k).reshape(size, k)
        return rows.astype(np.int64, copy=False), sums[rows].astype(values.dtype, copy=False)
    # one stable sort groups equal indices, each group in its original order. NumPy sorts 16-bit
    # integers stably by radix sort, in linear time (numpy.sort's notes), so the sort goes 16 bits at
    # a time from the lowest (a least-significant-digit radix sort): 2 passes for indices below 2³²
    # (casting to uint16 keeps an integer's low 16 bits, whatever its type)
    bits = int(index.max()).bit_length()
    order = np.argsort(index.astype(np.uint16), kind="stable")
    for shift in range(16, bits, 16):
        order = order[np.argsort((index[order] >> shift).astype(np.uint16), kind="stable")]
    ordered = index[order].astype(np.int64, copy=False)
    # each group starts where the sorted index changes
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return ordered[starts], np.add.reduceat(values.take(order, axis=0), starts, axis=0)  # take: values[order], faster


# ---------------------------------------------------------------------------
# Wide part: the linear layer of the wide model  y = wᵀ[x, φ(x)] + b   (paper §3.1)
# ---------------------------------------------------------------------------

class SparseLinearCache(NamedTuple):
    X: sp.csr_matrix
    w: np.ndarray


def sparse_linear_forward(X: sp.csr_matrix, w: np.ndarray):
    """Wide logit of each example without the bias: ``y = X w``.

    This is the product ``wᵀ[x, φ(x)]`` of the wide model (paper §3.1); the
    columns of ``X`` already hold the raw features x and the cross-product
    transformations φ(x) of paper Eq. 1 (built by :mod:`wdnumpy.features`).

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
    cache : SparseLinearCache(X, w)
    """
    return X @ w, SparseLinearCache(X, w)


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
    X = cache.X
    # entry p of X.data sits in row `row_of_entry[p]`; its gradient is X[n, j] * dy[n]
    rows, values = sum_by_index(X.indices, X.data * dy[csr_row_of_entry(X)], X.shape[1])
    return RowGrad(rows, values.astype(cache.w.dtype, copy=False), cache.w.shape)


# ---------------------------------------------------------------------------
# Deep part: embeddings (paper §3.2)
# ---------------------------------------------------------------------------

class EmbeddingCache(NamedTuple):
    ids: np.ndarray
    table_shape: tuple


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
    cache : EmbeddingCache(ids, table_shape)
    """
    return E.take(ids, axis=0), EmbeddingCache(ids, E.shape)  # E[ids], in NumPy's faster spelling for rows


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
    rows, values = sum_by_index(cache.ids, dout, cache.table_shape[0])
    return RowGrad(rows, values, cache.table_shape)


class BagEmbeddingCache(NamedTuple):
    bags: sp.csr_matrix
    scale: np.ndarray | None  # (N,) per-row factor of mean pooling; None for sum pooling
    table_shape: tuple


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
    cache : BagEmbeddingCache(bags, scale, table_shape)
    """
    check_pooling(pooling)
    if pooling == "sum":
        scale = None
        out = bags @ E
    elif pooling == "mean":
        totals = np.bincount(csr_row_of_entry(bags), weights=bags.data, minlength=bags.shape[0])  # row sums
        scale = np.divide(1.0, totals, out=np.zeros_like(totals, dtype=E.dtype), where=totals > 0)
        out = (bags @ E) * scale[:, None]
    return out, BagEmbeddingCache(bags, scale, E.shape)


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
    bags, scale = cache.bags, cache.scale
    row_of_entry = csr_row_of_entry(bags)
    weight = bags.data if scale is None else bags.data * scale[row_of_entry]
    rows, values = sum_by_index(bags.indices, dout.take(row_of_entry, axis=0) * weight[:, None],  # dout[row_of_entry]
                                 cache.table_shape[0])
    return RowGrad(rows, values.astype(dout.dtype, copy=False), cache.table_shape)


# ---------------------------------------------------------------------------
# Deep part: the MLP  a⁽ˡ⁺¹⁾ = f(W⁽ˡ⁾ a⁽ˡ⁾ + b⁽ˡ⁾)   (paper §3.2, Eq. 2)
#
# Convention: activations are row vectors, one row per example, so the code
# computes a W with W of shape (H_in, H_out); the paper's W⁽ˡ⁾a⁽ˡ⁾ is the same
# product written for column vectors (its W⁽ˡ⁾ is our Wᵀ).
# ---------------------------------------------------------------------------

class AffineCache(NamedTuple):
    x: np.ndarray
    W: np.ndarray
    has_bias: bool


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
    cache : AffineCache(x, W, has_bias)
    """
    out = x @ W
    if b is not None:
        out += b  # in place on the new product, not on an input
    return out, AffineCache(x, W, b is not None)


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
    return dout @ cache.W.T, cache.x.T @ dout, (dout.sum(axis=0) if cache.has_bias else None)


class ReluCache(NamedTuple):
    positive: np.ndarray  # boolean mask x > 0


def relu_forward(x: np.ndarray):
    """Rectified linear unit ``f(x) = max(0, x)``, the activation of paper Eq. 2.

    Parameters
    ----------
    x : any shape

    Returns
    -------
    out : same shape as x
    cache : ReluCache(positive), the boolean mask ``x > 0``
    """
    return np.maximum(x, 0), ReluCache(x > 0)


def relu_backward(dout: np.ndarray, cache):
    """Backward of :func:`relu_forward`: ``dx = dout · [x > 0]`` (a new array).

    Parameters
    ----------
    dout : same shape as the forward's x

    Returns
    -------
    dx : same shape
    """
    return dout * cache.positive


# ---------------------------------------------------------------------------
# Inverted dropout (not in the paper; a common regulariser of the deep part)
# ---------------------------------------------------------------------------

class DropoutCache(NamedTuple):
    keep: np.ndarray | None  # boolean mask of the units kept; None when dropout is off
    scale: float             # 1 / (1 − p)


def dropout_forward(x: np.ndarray, p: float, keep: np.ndarray | None = None, training: bool = True,
                    rng: np.random.Generator | None = None):
    """Inverted dropout: in training, zero each unit with probability ``p`` and
    scale the kept ones by 1/(1 − p), so that evaluation needs no rescaling.

    Parameters
    ----------
    x : (N, H)
    p : drop probability in [0, 1)
    keep : (N, H) bool, optional fixed mask of kept units (gradient checks use one);
        otherwise drawn from ``rng``
    training : False makes the layer the identity

    Returns
    -------
    out : (N, H), ``x · keep / (1 − p)`` in training, ``x`` otherwise
    cache : DropoutCache(keep, scale)
    """
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must lie in [0, 1), got {p}")
    if not training or p == 0:
        return x, DropoutCache(None, 1.0)
    if keep is None:
        if rng is None:
            raise ValueError("dropout in training needs a fixed mask (keep) or a generator (rng)")
        keep = rng.random(x.shape) >= p
    scale = 1.0 / (1.0 - p)
    return x * keep * x.dtype.type(scale), DropoutCache(keep, scale)


def dropout_backward(dout: np.ndarray, cache: DropoutCache):
    """Backward of :func:`dropout_forward`: ``dx = dout · keep / (1 − p)`` (the identity when off)."""
    if cache.keep is None:
        return dout.copy()  # a new array, as every backward returns
    return dout * cache.keep * dout.dtype.type(cache.scale)
