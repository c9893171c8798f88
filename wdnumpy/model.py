"""The Wide & Deep model: two logits summed, one loss (paper §3.3, Eq. 3).

    P(Y = 1 | x) = σ( w_wideᵀ [x, φ(x)]  +  w_deepᵀ a⁽ˡᶠ⁾  +  b )
                      └─ wide part ─┘     └─ deep part ┘   bias

- wide part: :func:`~wdnumpy.layers.sparse_linear_forward` over the CSR batch;
- deep part: each categorical field's embedding (a row gather, or a pooled bag),
  concatenated with the continuous features, then (affine → ReLU) × L, then an
  affine map to one logit, without a bias of its own since ``b`` is shared;
- joint: the logits are added and one sigmoid cross-entropy is taken, so the
  same error ``p − y`` reaches both parts in every backward pass.

``mode="wide"`` or ``mode="deep"`` keeps one part only (plus the bias); an
*ensemble* is two such models trained apart (see :mod:`wdnumpy.ensemble`).
Shapes follow the glossary in :mod:`wdnumpy.layers`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

from . import layers
from .batch import Batch, EmbeddingField
from .losses import sigmoid, sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward

MODES = ("wide", "deep", "wide_deep")


class Gradients(Mapping):
    """The gradient of the last backward pass for every parameter, keyed like ``params``.

    ``grads[name]`` is always a dense ndarray shaped like ``params[name]``. For
    the sparse parameters (wide weights and embedding tables) the backward keeps
    only the touched rows, available unexpanded as ``grads.row_grad(name)``, so
    an optimizer can update those rows alone; the dense form is built on demand.
    """

    def __init__(self, params: Mapping[str, np.ndarray]):
        self._params = params
        self._grads: dict[str, np.ndarray | layers.RowGrad] = {}
        self._dense: dict[str, np.ndarray] = {}  # dense forms of RowGrads, built when asked for

    def __getitem__(self, name: str) -> np.ndarray:
        grad = self._grads.get(name)
        if grad is None:
            return np.zeros_like(self._params[name])
        if isinstance(grad, layers.RowGrad):
            if name not in self._dense:
                self._dense[name] = grad.to_dense()
            return self._dense[name]
        return grad

    def __iter__(self):
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def row_grad(self, name: str) -> layers.RowGrad | None:
        """The touched rows of a sparse parameter's gradient, or None for a dense parameter."""
        grad = self._grads.get(name)
        return grad if isinstance(grad, layers.RowGrad) else None

    def _store(self, name: str, grad) -> None:
        self._grads[name] = grad
        self._dense.pop(name, None)


class WideDeep:
    """Wide & Deep logistic model with hand-written forward and backward passes.

    Parameters
    ----------
    wide_dim : int
        D, the number of wide features (columns of ``Batch.wide``). Needed when the
        mode uses the wide part.
    fields : sequence of EmbeddingField
        The categorical fields of the deep part.
    n_continuous : int
        C, the number of continuous features of the deep part.
    hidden : sequence of int
        Widths of the hidden ReLU layers, e.g. ``(100, 50)``; may be empty.
    mode : "wide_deep", "wide" or "deep"
    dtype : np.float64 (default, needed for gradient checks) or np.float32
    seed : int, seeds ``np.random.default_rng`` for the initial weights

    Attributes
    ----------
    params : dict name → ndarray
        ``bias`` (1,); ``wide.w`` (D,); ``deep.embedding.<field>`` (V, K);
        ``deep.W<l>`` (H_in, H_out) and ``deep.b<l>`` (H_out,) for each hidden layer;
        ``deep.w_out`` (H_L, 1).
    grads : Gradients, same keys as ``params``, filled by :meth:`backward`
    """

    def __init__(self, wide_dim: int = 0, fields=(), n_continuous: int = 0, hidden=(100, 50),
                 mode: str = "wide_deep", dtype=np.float64, seed: int = 0):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.wide_dim = int(wide_dim)
        self.fields = tuple(f if isinstance(f, EmbeddingField) else EmbeddingField(**f) for f in fields)
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"field names must be distinct, got {names}")
        self.n_continuous = int(n_continuous)
        self.hidden = tuple(int(h) for h in hidden)
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden widths must be >= 1, got {self.hidden}")
        if self.uses_wide and self.wide_dim < 1:
            raise ValueError(f"mode {mode!r} uses the wide part, so wide_dim must be >= 1, got {wide_dim}")
        if self.uses_deep and not self.fields and self.n_continuous < 1:
            raise ValueError(f"mode {mode!r} uses the deep part, which needs fields or n_continuous >= 1")
        self.seed = seed
        self.params: dict[str, np.ndarray] = {}
        self._init_params(np.random.default_rng(seed))
        self.grads = Gradients(self.params)
        self._cache = None

    # -- construction -------------------------------------------------------

    @property
    def uses_wide(self) -> bool:
        return self.mode in ("wide", "wide_deep")

    @property
    def uses_deep(self) -> bool:
        return self.mode in ("deep", "wide_deep")

    @property
    def deep_input_dim(self) -> int:
        """Width of the deep tower's input: Σ_f K_f + C."""
        return sum(f.dim for f in self.fields) + self.n_continuous

    def config(self) -> dict:
        """The constructor arguments, as plain JSON-able values."""
        return {"wide_dim": self.wide_dim, "fields": [asdict(f) for f in self.fields],
                "n_continuous": self.n_continuous, "hidden": list(self.hidden), "mode": self.mode,
                "dtype": self.dtype.name, "seed": self.seed}

    @property
    def n_params(self) -> int:
        """Number of trainable scalars."""
        return int(sum(p.size for p in self.params.values()))

    def _init_params(self, rng: np.random.Generator) -> None:
        def normal(std, shape):
            return (rng.standard_normal(shape) * std).astype(self.dtype)

        self.params["bias"] = np.zeros(1, dtype=self.dtype)
        if self.uses_wide:
            self.params["wide.w"] = np.zeros(self.wide_dim, dtype=self.dtype)  # as TF's linear model
        if self.uses_deep:
            for f in self.fields:  # std 1/√K, as TF's embedding_column
                self.params[f"deep.embedding.{f.name}"] = normal(1.0 / np.sqrt(f.dim), (f.vocab_size, f.dim))
            fan_in = self.deep_input_dim
            for layer, width in enumerate(self.hidden, start=1):  # He initialisation for ReLU layers
                self.params[f"deep.W{layer}"] = normal(np.sqrt(2.0 / fan_in), (fan_in, width))
                self.params[f"deep.b{layer}"] = np.zeros(width, dtype=self.dtype)
                fan_in = width
            self.params["deep.w_out"] = normal(np.sqrt(1.0 / fan_in), (fan_in, 1))

    # -- forward and backward -----------------------------------------------

    def forward(self, batch: Batch, return_parts: bool = False, check: bool = True):
        """Logits of a batch.

        ``check=False`` skips :meth:`check_batch`, for batches cut from data that
        was checked once as a whole (the trainer does this).

        Returns
        -------
        z : (N,) logits, ``z = wide + deep + b``
        parts : dict with "wide", "deep" (each (N,), zeros for a part the mode
            lacks) and "bias" (float); only if ``return_parts``
        """
        n = self.check_batch(batch) if check else len(batch)
        p = self.params
        cache = {}
        if self.uses_wide:
            wide, cache["wide"] = layers.sparse_linear_forward(self._as_dtype(batch.wide), p["wide.w"])
        else:
            wide = np.zeros(n, dtype=self.dtype)
        if self.uses_deep:
            pieces, cache["embeddings"] = [], []
            for f in self.fields:
                table, values = p[f"deep.embedding.{f.name}"], batch.categorical[f.name]
                if f.multivalent:
                    out, c = layers.bag_embedding_forward(self._as_dtype(values), table, f.pooling)
                else:
                    out, c = layers.embedding_forward(values, table)
                pieces.append(out)
                cache["embeddings"].append(c)
            if self.n_continuous:
                pieces.append(np.asarray(batch.continuous, dtype=self.dtype))
            a = np.concatenate(pieces, axis=1) if len(pieces) > 1 else pieces[0]
            cache["mlp"] = []
            for layer in range(1, len(self.hidden) + 1):
                h, c_affine = layers.affine_forward(a, p[f"deep.W{layer}"], p[f"deep.b{layer}"])
                a, c_relu = layers.relu_forward(h)
                cache["mlp"].append((c_affine, c_relu))
            out, cache["out"] = layers.affine_forward(a, p["deep.w_out"], None)
            deep = out[:, 0]
        else:
            deep = np.zeros(n, dtype=self.dtype)
        z = wide + deep + p["bias"][0]
        self._cache = cache
        if return_parts:
            return z, {"wide": wide, "deep": deep, "bias": float(p["bias"][0])}
        return z

    def backward(self, dz: np.ndarray) -> None:
        """Fill ``self.grads`` from ∂L/∂z (N,) of the last :meth:`forward`.

        The same ``dz`` (for the logistic loss, ``(p − y)/N``) feeds the bias,
        the wide part and the deep part.
        """
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() first")
        cache, p, g = self._cache, self.params, self.grads
        g._store("bias", np.array([dz.sum()], dtype=self.dtype))
        if self.uses_wide:
            g._store("wide.w", layers.sparse_linear_backward(dz, cache["wide"]))
        if self.uses_deep:
            da, dw_out, _ = layers.affine_backward(dz[:, None], cache["out"])
            g._store("deep.w_out", dw_out)
            for layer in range(len(self.hidden), 0, -1):
                c_affine, c_relu = cache["mlp"][layer - 1]
                da, dW, db = layers.affine_backward(layers.relu_backward(da, c_relu), c_affine)
                g._store(f"deep.W{layer}", dW)
                g._store(f"deep.b{layer}", db)
            start = 0
            for f, c in zip(self.fields, cache["embeddings"]):
                piece = da[:, start:start + f.dim]
                start += f.dim
                backward = layers.bag_embedding_backward if f.multivalent else layers.embedding_backward
                g._store(f"deep.embedding.{f.name}", backward(piece, c))

    def loss(self, batch: Batch, backward: bool = True, check: bool = True) -> float:
        """Mean logistic loss of a labelled batch; with ``backward`` also fills ``grads``."""
        if batch.labels is None:
            raise ValueError("loss() needs a batch with labels")
        z = self.forward(batch, check=check)
        labels = np.asarray(batch.labels, dtype=self.dtype)
        weights = None if batch.weights is None else np.asarray(batch.weights, dtype=self.dtype)
        value, cache = sigmoid_cross_entropy_forward(z, labels, weights)
        if backward:
            self.backward(sigmoid_cross_entropy_backward(cache))
        return value

    def predict_proba(self, batch: Batch) -> np.ndarray:
        """P(Y = 1 | x) for each example, shape (N,)."""
        return sigmoid(self.forward(batch))

    # -- input checks ---------------------------------------------------------

    def _as_dtype(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """A sparse input in the model's dtype, so float32 models compute in float32."""
        return X if X.dtype == self.dtype else X.astype(self.dtype)

    def check_batch(self, batch: Batch) -> int:
        """Raise ValueError, saying what was expected and what came, if the batch does not fit.

        Returns the number of examples N. Normalises the batch in place where
        that loses nothing: other sparse formats become CSR, id lists become arrays.
        """
        if not isinstance(batch, Batch):
            raise ValueError(f"expected a wdnumpy Batch, got {type(batch).__name__}")
        sizes = {}
        if self.uses_wide:
            X = batch.wide
            if X is None:
                raise ValueError(f"mode {self.mode!r} needs batch.wide, an (N, {self.wide_dim}) CSR matrix; got None")
            if not sp.issparse(X):
                raise ValueError(f"batch.wide must be a scipy.sparse CSR matrix, got {type(X).__name__}")
            if X.format != "csr":
                batch.wide = X = X.tocsr()
            if X.shape[1] != self.wide_dim:
                raise ValueError(f"batch.wide has {X.shape[1]} columns but the wide part has "
                                 f"{self.wide_dim} weights (wide_dim)")
            if X.nnz and not np.all(np.isfinite(X.data)):
                raise ValueError("batch.wide contains NaN or infinite entries")
            sizes["batch.wide"] = X.shape[0]
        if self.uses_deep:
            expected = [f.name for f in self.fields]
            given = list(batch.categorical)
            if sorted(given) != sorted(expected):
                raise ValueError(f"batch has {len(given)} categorical fields {sorted(given)}, "
                                 f"but the model expects {len(expected)}: {sorted(expected)}")
            for f in self.fields:
                sizes[f"field {f.name!r}"] = self._check_field(batch, f)
            if self.n_continuous:
                x = batch.continuous
                if x is None:
                    raise ValueError(f"the model expects {self.n_continuous} continuous features; "
                                     "batch.continuous is None")
                x = batch.continuous = np.asarray(x)
                if x.ndim != 2 or x.shape[1] != self.n_continuous:
                    raise ValueError(f"batch.continuous must have shape (N, {self.n_continuous}), got {x.shape}")
                bad = ~np.isfinite(x)
                if bad.any():
                    row, col = np.argwhere(bad)[0]
                    raise ValueError(f"batch.continuous has NaN or infinite values, the first at row {row}, "
                                     f"column {col}")
                sizes["batch.continuous"] = x.shape[0]
        if batch.labels is not None:
            y = batch.labels = np.asarray(batch.labels)
            if y.ndim != 1:
                raise ValueError(f"labels must have shape (N,), got {y.shape}")
            bad = ~((y == 0) | (y == 1))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise ValueError(f"labels must be 0 or 1; row {row} has {y[row].item()!r}")
            sizes["labels"] = y.shape[0]
        if batch.weights is not None:
            s = batch.weights = np.asarray(batch.weights, dtype=float)
            if s.ndim != 1 or not np.all(np.isfinite(s)) or (s < 0).any() or s.sum() <= 0:
                raise ValueError("weights must be an (N,) array of finite non-negative numbers with a positive sum")
            sizes["weights"] = s.shape[0]
        if not sizes:
            raise ValueError("the batch holds none of the inputs this model needs")
        if len(set(sizes.values())) > 1:
            raise ValueError(f"the parts of the batch have different numbers of rows: {sizes}")
        return next(iter(sizes.values()))

    @staticmethod
    def _check_field(batch: Batch, f: EmbeddingField) -> int:
        values = batch.categorical[f.name]
        if f.multivalent:
            if not sp.issparse(values):
                raise ValueError(f"field {f.name!r} is multivalent: expected an (N, {f.vocab_size}) CSR matrix "
                                 f"of id counts (see batch.bags_from_lists), got {type(values).__name__}")
            if values.format != "csr":
                values = batch.categorical[f.name] = values.tocsr()
            if values.shape[1] != f.vocab_size:
                raise ValueError(f"field {f.name!r}: bag matrix has {values.shape[1]} columns, "
                                 f"expected the vocabulary size {f.vocab_size}")
            if values.nnz and (values.data < 0).any():
                raise ValueError(f"field {f.name!r}: bag counts must be non-negative")
            return values.shape[0]
        ids = np.asarray(values)
        if ids.ndim != 1:
            raise ValueError(f"field {f.name!r} is single-valued: expected ids of shape (N,), got {ids.shape}")
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"field {f.name!r}: ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= f.vocab_size):
            bad = int(np.flatnonzero((ids < 0) | (ids >= f.vocab_size))[0])
            raise ValueError(f"field {f.name!r}: ids must lie in [0, {f.vocab_size}); row {bad} has {ids[bad]}")
        batch.categorical[f.name] = ids
        return ids.shape[0]
