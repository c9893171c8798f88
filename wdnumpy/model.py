"""The Wide & Deep model: two logits summed, one loss (paper §3.3, Eq. 3).

    P(Y = 1 | x) = σ( w_wideᵀ [x, φ(x)]  +  w_deepᵀ a⁽ˡᶠ⁾  +  b )
                      └─ wide part ─┘     └─ deep part ┘   bias

- wide part: :func:`~wdnumpy.layers.sparse_linear_forward` over the CSR batch;
- deep part: each categorical field's embedding (a row gather, or a pooled bag),
  concatenated with the continuous features, then the tower of
  :mod:`wdnumpy.tower` — (affine → ReLU [→ dropout]) × L, then an affine map
  to one logit, without a bias of its own since ``b`` is shared;
- joint: the logits are added and one sigmoid cross-entropy is taken, so the
  same error ``p − y`` reaches both parts in every backward pass.

The training interface is the one of CS231n's ``Solver``::

    loss, grads = model.loss(batch)          # grads: a plain dict keyed like model.params
    optimizer.step(model.params, grads)      # updates the parameters in place

and ``model.trace(batch)`` shows, by name, everything a forward pass computes.

Shared buffers
--------------
Each parameter is a named array, but several of them are views into one
buffer, so that a step needs fewer, larger NumPy calls (at Adult's shapes a
call costs more than its arithmetic):

- consecutive single-valued fields of equal width K share one table
  (ΣV, K): ``params["deep.embedding.<field>"]`` is the field's block of rows.
  The forward does one gather for all of them and the backward one
  scatter-add, then hands each field the rows of its block;
- ``bias`` and the tower's weights live in one flat buffer, so an optimizer
  updates them all in one vectorised call (see :mod:`wdnumpy.optim`).

The views are ordinary writable arrays: assign into them
(``model.params[name][...] = values``), do not replace them.

``mode="wide"`` or ``mode="deep"`` keeps one part only (plus the bias); an
*ensemble* is two such models trained apart (see :mod:`wdnumpy.ensemble`).
Shapes follow the glossary in :mod:`wdnumpy.layers`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from . import layers
from .batch import Batch, EmbeddingField
from . import losses
from .losses import sigmoid
from .tower import Affine, build_tower, tower_backward, tower_forward

MODES = ("wide", "deep", "wide_deep")


class ModelCache(NamedTuple):
    """What :meth:`WideDeep.backward` needs from a forward pass."""

    wide: layers.SparseLinearCache | None   # None without a wide part
    fields: list                             # one embedding cache per field (deep part)
    tower: list                              # one cache per layer of the tower (deep part)
    tables: tuple = ()                       # one embedding cache per shared table, over all its fields' ids


@dataclass
class Trace:
    """Everything one forward pass computed, by name, for N examples.

    logit : (N,) z = wide_logit + deep_logit + bias
    probability : (N,) σ(z)
    wide_logit : (N,) w_wideᵀ[x, φ(x)] (zeros without a wide part)
    deep_logit : (N,) w_deepᵀ a⁽ˡᶠ⁾ (zeros without a deep part)
    bias : float, b
    embeddings : dict field → (N, K), each field's embedding (pooled for a bag)
    deep_input : (N, ΣK + C) the concatenated input of the tower, a⁽⁰⁾ (None without a deep part)
    layers : dict layer name → output, in forward order: ``h1`` (pre-activation
        a⁽⁰⁾W¹ + b¹), ``a1`` (its ReLU), [``dropout1``], ``h2``, ``a2``, …, ``deep_logit`` (N, 1)
    last_hidden : (N, H_L) a⁽ˡᶠ⁾, the input of the output layer (None without a deep part)
    """

    logit: np.ndarray
    probability: np.ndarray
    wide_logit: np.ndarray
    deep_logit: np.ndarray
    bias: float
    embeddings: dict
    deep_input: np.ndarray | None
    layers: dict
    last_hidden: np.ndarray | None


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
    seed : int, seeds the initial weights and the dropout masks
    dropout : drop probability after each hidden ReLU in training (0 = off)
    l2 : L2 penalty ``l2/2 · Σ‖W‖²`` on the deep weight matrices (``deep.W<l>`` and
        ``deep.w_out``; not the biases, not the embeddings), added to the loss
    id_dropout : cold-start handling: a rate for every field that has an
        out-of-vocabulary id (``EmbeddingField.oov_id``, 0 for a vocabulary column),
        or a dict field name → rate for some of them (``{"user_id": 0.05}``). A field
        with a rate > 0 has its OOV row of ``deep.embedding.<field>`` (V, K) start at
        zero and, in training only, each of its ids (each entry of a bag) replaced by
        the OOV id with that probability, drawn from a generator seeded by ``seed``.
        The OOV row then learns what an unseen value (a new user) looks like on
        average instead of feeding the tower its random initial vector. Predictions
        never drop ids. 0 = off (the OOV row is initialised and trained like any other).

    Attributes
    ----------
    params : dict name → ndarray
        ``bias`` (1,); ``wide.w`` (D,); ``deep.embedding.<field>`` (V, K);
        ``deep.W<l>`` (H_in, H_out) and ``deep.b<l>`` (H_out,) for each hidden layer;
        ``deep.w_out`` (H_L, 1). Views into shared buffers (see the module docstring).
    tower : list of the deep part's layers (see :mod:`wdnumpy.tower`)
    blocks : the deep input's pieces in field order: a :class:`SharedTable` of
        consecutive single-valued fields of equal width, or a multivalent field
    """

    def __init__(self, wide_dim: int = 0, fields=(), n_continuous: int = 0, hidden=(100, 50),
                 mode: str = "wide_deep", dtype=np.float64, seed: int = 0, dropout: float = 0.0,
                 l2: float = 0.0, id_dropout: float | dict = 0.0):
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
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        if not (np.isfinite(l2) and l2 >= 0):
            raise ValueError(f"l2 must be a finite number >= 0, got {l2}")
        self.seed, self.dropout, self.l2 = seed, float(dropout), float(l2)
        self.id_dropout = dict(id_dropout) if isinstance(id_dropout, dict) else float(id_dropout)
        per_field = isinstance(self.id_dropout, dict)
        rates = list(self.id_dropout.values()) if per_field else [self.id_dropout]
        unknown = set(self.id_dropout) - set(names) if per_field else set()
        if unknown or not all(0 <= r < 1 for r in rates):
            raise ValueError(f"id_dropout must be a rate in [0, 1) or a dict of such rates keyed by field names "
                             f"{names}, got {id_dropout}")
        self.tower = build_tower(len(self.hidden), self.dropout) if self.uses_deep else []
        self.params: dict[str, np.ndarray] = {}
        self._init_params(np.random.default_rng(seed))
        self.blocks = self._share_buffers()
        self._dropout_rng = np.random.default_rng((seed, 1))  # masks: the same seed gives the same masks
        self._id_dropout_rng = np.random.default_rng((seed, 2))  # which ids become the OOV id

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

    def id_dropout_rate(self, field: EmbeddingField) -> float:
        """The probability that training replaces an id of ``field`` by its OOV id (0 without one)."""
        if field.oov_id is None:
            return 0.0
        if isinstance(self.id_dropout, dict):
            return float(self.id_dropout.get(field.name, 0.0))
        return self.id_dropout

    @property
    def l2_names(self) -> tuple:
        """The parameters the L2 penalty applies to: the tower's weight matrices."""
        return tuple(layer.weight for layer in self.tower if isinstance(layer, Affine))

    def config(self) -> dict:
        """The constructor arguments, as plain JSON-able values."""
        return {"wide_dim": self.wide_dim, "fields": [asdict(f) for f in self.fields],
                "n_continuous": self.n_continuous, "hidden": list(self.hidden), "mode": self.mode,
                "dtype": self.dtype.name, "seed": self.seed, "dropout": self.dropout, "l2": self.l2,
                "id_dropout": self.id_dropout}

    @property
    def n_params(self) -> int:
        """Number of trainable scalars."""
        return int(sum(p.size for p in self.params.values()))

    def __repr__(self) -> str:
        width = max(len(n) for n in self.params)
        lines = [f"WideDeep(mode={self.mode!r}, hidden={self.hidden}, dtype={self.dtype.name}, "
                 f"dropout={self.dropout}, l2={self.l2}, id_dropout={self.id_dropout})",
                 f"  {'parameter':<{width}}  {'shape':<14}  {'count':>10}"]
        lines += [f"  {n:<{width}}  {str(p.shape):<14}  {p.size:>10,}" for n, p in self.params.items()]
        lines.append(f"  {'total':<{width}}  {'':<14}  {self.n_params:>10,}")
        return "\n".join(lines)

    def _init_params(self, rng: np.random.Generator) -> None:
        def normal(std, shape):
            return (rng.standard_normal(shape) * std).astype(self.dtype)

        self.params["bias"] = np.zeros(1, dtype=self.dtype)
        if self.uses_wide:
            self.params["wide.w"] = np.zeros(self.wide_dim, dtype=self.dtype)  # as TF's linear model
        if self.uses_deep:
            for f in self.fields:  # std 1/√K, as TF's embedding_column
                table = self.params[f"deep.embedding.{f.name}"] = normal(1.0 / np.sqrt(f.dim), (f.vocab_size, f.dim))
                if self.id_dropout_rate(f):
                    table[f.oov_id] = 0  # an unseen value starts as no information

            fan_in = self.deep_input_dim
            for layer, width in enumerate(self.hidden, start=1):  # He initialisation for ReLU layers
                self.params[f"deep.W{layer}"] = normal(np.sqrt(2.0 / fan_in), (fan_in, width))
                self.params[f"deep.b{layer}"] = np.zeros(width, dtype=self.dtype)
                fan_in = width
            self.params["deep.w_out"] = normal(np.sqrt(1.0 / fan_in), (fan_in, 1))

    def _share_buffers(self) -> list:
        """Move the initialised parameters into shared buffers and make ``params`` views of them.

        Returns the deep input's blocks in field order (see the class docstring). The values,
        the names and the order of ``params`` do not change.
        """
        blocks = []
        for f in self.fields if self.uses_deep else ():
            last = blocks[-1] if blocks else None
            if f.multivalent:
                blocks.append(f)
            elif isinstance(last, SharedTable) and last.dim == f.dim:
                last.fields.append(f)
            else:
                blocks.append(SharedTable([f], f.dim))
        for block in blocks:
            if isinstance(block, SharedTable):
                names = [f"deep.embedding.{f.name}" for f in block.fields]
                block.table = np.concatenate([self.params[n] for n in names])
                block.offsets = np.cumsum([0] + [f.vocab_size for f in block.fields])
                for n, start, stop in zip(names, block.offsets[:-1], block.offsets[1:]):
                    self.params[n] = block.table[start:stop]
        dense = [n for n in self.params if n == "bias" or n.startswith("deep.") and not n.startswith("deep.embedding.")]
        buffer = np.concatenate([self.params[n].ravel() for n in dense])
        start = 0
        for n in dense:
            shape = self.params[n].shape
            self.params[n] = buffer[start:start + self.params[n].size].reshape(shape)
            start += self.params[n].size
        return blocks

    def __setstate__(self, state: dict) -> None:
        """After a copy or an unpickling, which keep no views: share the buffers again."""
        self.__dict__.update(state)
        self.blocks = self._share_buffers()

    def _table(self, block: "SharedTable") -> np.ndarray:
        """The shared table of ``block``, after checking that ``params`` still holds views of it."""
        for f in block.fields:
            if self.params[f"deep.embedding.{f.name}"].base is not block.table:
                raise ValueError(f"params['deep.embedding.{f.name}'] was replaced by another array; the model "
                                 "reads its shared table, so assign into the parameter instead: "
                                 f"model.params['deep.embedding.{f.name}'][...] = values")
        return block.table

    # -- forward and backward -----------------------------------------------

    def forward(self, batch: Batch, training: bool = False, check: bool = True) -> np.ndarray:
        """Logits z (N,) of a batch, ``z = wide + deep + b``.

        ``training`` switches dropout on; ``check=False`` skips :meth:`check_batch`,
        for batches cut from data that was checked once as a whole (the trainer does this).
        """
        return self._forward(batch, training, check)[0]

    def _forward(self, batch: Batch, training: bool, check: bool, record: dict | None = None,
                 dropout_rng: np.random.Generator | None = None, id_dropout_rng: np.random.Generator | None = None):
        """Logits and the ModelCache; with ``record``, every intermediate result by name."""
        n = self.check_batch(batch) if check else len(batch)
        p = self.params
        wide = deep = np.zeros(n, dtype=self.dtype)
        wide_cache, field_caches, tower_caches, table_caches = None, [], [], []
        if self.uses_wide:
            wide, wide_cache = layers.sparse_linear_forward(self._as_dtype(batch.wide), p["wide.w"])
        if self.uses_deep:
            pieces = []
            for block in self.blocks:
                if isinstance(block, SharedTable):  # one gather for all the block's fields
                    ids = []
                    for f in block.fields:
                        values = batch.categorical[f.name]
                        rate = self.id_dropout_rate(f) if training else 0.0
                        if rate:
                            values = drop_ids(values, f.oov_id, rate, id_dropout_rng or self._id_dropout_rng)
                        ids.append(values)
                        field_caches.append(layers.EmbeddingCache(values, (f.vocab_size, f.dim)))
                    # (N, F) ids into the shared table, flattened row by row: example n's fields side by side
                    rows = (np.stack(ids, axis=1) + block.offsets[:-1]).ravel()
                    out, cache = layers.embedding_forward(rows, self._table(block))
                    table_caches.append(cache)
                    out = out.reshape(n, len(block.fields) * block.dim)  # (N, F·K), the fields concatenated
                    pieces.append(out)
                    if record is not None:
                        for j, f in enumerate(block.fields):
                            record[f"embedding.{f.name}"] = out[:, j * block.dim:(j + 1) * block.dim]
                    continue
                f = block
                values = batch.categorical[f.name]
                rate = self.id_dropout_rate(f) if training else 0.0
                if rate:
                    values = drop_ids(values, f.oov_id, rate, id_dropout_rng or self._id_dropout_rng)
                out, cache = layers.bag_embedding_forward(self._as_dtype(values), p[f"deep.embedding.{f.name}"],
                                                          f.pooling)
                pieces.append(out)
                field_caches.append(cache)
                if record is not None:
                    record[f"embedding.{f.name}"] = out
            if self.n_continuous:
                pieces.append(np.asarray(batch.continuous, dtype=self.dtype))
            a = np.concatenate(pieces, axis=1) if len(pieces) > 1 else pieces[0]
            if record is not None:
                record["deep_input"] = a
            out, tower_caches = tower_forward(self.tower, a, p, training, dropout_rng or self._dropout_rng, record)
            deep = out[:, 0]
        z = wide + deep + p["bias"][0]
        if record is not None:
            record.update(wide_logit=wide, deep_logit_vector=deep)
        return z, ModelCache(wide_cache, field_caches, tower_caches, tuple(table_caches))

    def backward(self, dz: np.ndarray, cache: ModelCache) -> dict:
        """Gradients of every parameter from ∂L/∂z (N,) and the cache of the forward pass.

        The same ``dz`` (for the logistic loss, ``(p − y)/N``) feeds the bias,
        the wide part and the deep part.

        Returns
        -------
        grads : dict keyed like ``params``: an ndarray for a dense parameter, a
            :class:`~wdnumpy.layers.RowGrad` (touched rows only) for ``wide.w`` and
            the embedding tables
        """
        grads = {"bias": np.array([dz.sum()], dtype=self.dtype)}
        if self.uses_wide:
            grads["wide.w"] = layers.sparse_linear_backward(dz, cache.wide)
        if self.uses_deep:
            da, tower_grads = tower_backward(self.tower, dz[:, None], cache.tower)
            grads.update(tower_grads)
            start, tables, field_caches = 0, iter(cache.tables), iter(cache.fields)
            for block in self.blocks:
                if isinstance(block, SharedTable):  # one scatter-add for all the block's fields
                    width = len(block.fields) * block.dim
                    piece = da[:, start:start + width].reshape(-1, block.dim)  # (N·F, K), as the forward's rows
                    whole = layers.embedding_backward(piece, next(tables))
                    # the table's touched rows are sorted, so each field's rows are one run of them
                    ends = np.searchsorted(whole.rows, block.offsets) if isinstance(whole, layers.RowGrad) else None
                    for j, f in enumerate(block.fields):
                        next(field_caches)  # the field's own cache serves a per-field backward (the exercises')
                        start_row, stop_row = block.offsets[j], block.offsets[j + 1]
                        if ends is None:  # a dense (ΣV, K) gradient (an exercise's embedding_backward may give one)
                            grads[f"deep.embedding.{f.name}"] = whole[start_row:stop_row]
                            continue
                        first, last = ends[j], ends[j + 1]
                        grads[f"deep.embedding.{f.name}"] = layers.RowGrad(
                            whole.rows[first:last] - start_row, whole.values[first:last], (f.vocab_size, f.dim))
                else:
                    width = block.dim
                    grads[f"deep.embedding.{block.name}"] = layers.bag_embedding_backward(
                        da[:, start:start + width], next(field_caches))
                start += width
        return {name: grads[name] for name in self.params}

    def loss(self, batch: Batch, training: bool = True, backward: bool = True, check: bool = True,
             dropout_seed: int | None = None):
        """Mean logistic loss of a labelled batch (plus the L2 penalty) and its gradients.

        Parameters
        ----------
        training : dropout on (the default here, since the loss is what training minimises)
        backward : False skips the backward pass (``grads`` is then None)
        dropout_seed : draw the dropout masks (and the ids id dropout replaces) from
            generators seeded by this, so that repeated calls drop the same (gradient
            checks); by default the model's own generators, seeded by ``seed``

        Returns
        -------
        loss : float
        grads : dict keyed like ``params`` (see :meth:`backward`), or None
        """
        if batch.labels is None:
            raise ValueError("loss() needs a batch with labels")
        rng = id_rng = None
        if dropout_seed is not None:
            rng, id_rng = np.random.default_rng(dropout_seed), np.random.default_rng((dropout_seed, 2))
        z, cache = self._forward(batch, training, check, dropout_rng=rng, id_dropout_rng=id_rng)
        labels = np.asarray(batch.labels, dtype=self.dtype)
        weights = None if batch.weights is None else np.asarray(batch.weights, dtype=self.dtype)
        value, loss_cache = losses.sigmoid_cross_entropy_forward(z, labels, weights)
        if self.l2:
            value += 0.5 * self.l2 * sum(float(np.sum(self.params[n] ** 2)) for n in self.l2_names)
        if not backward:
            return value, None
        grads = self.backward(losses.sigmoid_cross_entropy_backward(loss_cache), cache)
        for name in self.l2_names if self.l2 else ():
            grads[name] = grads[name] + self.l2 * self.params[name]
        return value, grads

    def predict_proba(self, batch: Batch) -> np.ndarray:
        """P(Y = 1 | x) for each example, shape (N,) (evaluation mode: no dropout)."""
        return sigmoid(self.forward(batch))

    def trace(self, batch: Batch, training: bool = False) -> Trace:
        """One forward pass with every intermediate result kept, by name (see :class:`Trace`)."""
        record = {}
        z, _ = self._forward(batch, training, True, record)
        embeddings = {f.name: record[f"embedding.{f.name}"] for f in self.fields} if self.uses_deep else {}
        tower_out = {layer.name: record[layer.name] for layer in self.tower} if self.uses_deep else {}
        last_hidden = None
        if self.uses_deep:
            before_output = [layer.name for layer in self.tower][:-1]
            last_hidden = tower_out[before_output[-1]] if before_output else record["deep_input"]
        return Trace(logit=z, probability=sigmoid(z), wide_logit=record["wide_logit"],
                     deep_logit=record["deep_logit_vector"], bias=float(self.params["bias"][0]),
                     embeddings=embeddings, deep_input=record.get("deep_input"), layers=tower_out,
                     last_hidden=last_hidden)

    # -- inputs -----------------------------------------------------------------

    def check_batch(self, batch: Batch) -> int:
        """Raise ValueError, saying what was expected and what came, if the batch does not fit
        this model (see :meth:`Batch.validate`); returns the number of examples N."""
        if not isinstance(batch, Batch):
            raise ValueError(f"expected a wdnumpy Batch, got {type(batch).__name__}")
        return batch.validate(self.wide_dim if self.uses_wide else None, self.fields if self.uses_deep else (),
                              self.n_continuous if self.uses_deep else 0)

    def _as_dtype(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """A sparse input in the model's dtype, so float32 models compute in float32."""
        return X if X.dtype == self.dtype else X.astype(self.dtype)


class SharedTable:
    """Consecutive single-valued fields of one width K whose embedding tables are blocks of one table.

    fields : the fields, in order
    dim : K
    table : (ΣV, K) the shared table; ``params["deep.embedding.<field>"]`` is its block
        ``table[offsets[j]:offsets[j + 1]]`` for the j-th field
    offsets : (F + 1,) where each field's block starts, then the number of rows
    """

    def __init__(self, fields: list, dim: int):
        self.fields, self.dim = fields, dim
        self.table = self.offsets = None

    def __repr__(self) -> str:
        return f"SharedTable({', '.join(f.name for f in self.fields)}; K={self.dim})"


def drop_ids(values, oov_id: int, rate: float, rng: np.random.Generator):
    """Id dropout: each id (each stored entry of a bag) replaced by ``oov_id`` with probability ``rate``.

    ``values`` is a field's (N,) ids or (N, V) CSR bag of counts; returns the same kind,
    never changing ``values`` itself. A bag entry keeps its count and joins the OOV
    entry of its row.
    """
    if not sp.issparse(values):
        return np.where(rng.random(values.shape[0]) < rate, oov_id, values)
    indices = np.where(rng.random(values.nnz) < rate, oov_id, values.indices)
    bags = sp.csr_matrix((values.data.copy(), indices, values.indptr.copy()), shape=values.shape)
    bags.sum_duplicates()
    return bags
