"""What every feature column promises: the two abstract bases the column kinds extend.

A *feature column* reads raw columns (see :mod:`.values`) and gives the model
either ids or a number per row:

- :class:`Column` — a name, the raw column it reads (``source``), and fitted
  state learned from training data (paper §4.1: vocabularies, quantiles).
- :class:`IdColumn` — a categorical-like column: each row becomes zero or more
  ids in ``[0, size)`` (:class:`~.tokens.Tokens`). Its ids are the wide part's
  binary features x and φ(x) of y = wᵀ[x, φ(x)] + b (§3.1, Eq. 1) and the rows
  of the deep part's embedding table (§3.2).

:class:`~.spec.FeatureSpec`, :func:`wdnumpy.explain.explain` and
:func:`wdnumpy.warmstart.warm_start` only talk to columns through these
methods, so a new kind of column is one new subclass (plus its entry in
:data:`~.columns.COLUMN_KINDS`, so a saved spec can rebuild it):

==========================  ====================================================
``kind``                    the name saved in ``to_dict()["kind"]``
``categorical``             True: gives ids (IdColumn); False: gives a number
``parents``                 names of the columns it is computed from (a cross's
                            columns); empty for a column that reads raw data
``fit(data)``, ``fitted``   learn state from training data / whether it has it
``to_dict()``               a JSON-able description; ``cls(**d)`` rebuilds it
``size``                    number of ids (IdColumn)
``tokens(data, parents)``   the ids of each row (IdColumn)
``multivalent, pooling``    how the deep part embeds it (IdColumn)
``oov_id``                  the id of unseen values, or None if it has none
                            (IdColumn; see :class:`~wdnumpy.model.WideDeep`'s
                            ``id_dropout`` for how its embedding is trained)
``value_name(i)``           readable name of id i (IdColumn)
``token_names(...)``        readable names of one row's active tokens (IdColumn)
``id_correspondence(old)``  which of its ids mean the same as an older
                            column's ids, for warm-starting (IdColumn, §4.2)
==========================  ====================================================
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..batch import EmbeddingField
from .tokens import Tokens


class NotFittedError(ValueError):
    """A feature spec or column was used before ``fit``."""


class Column(ABC):
    """Base of all feature columns: a name, a raw source column, and fitted state.

    Parameters
    ----------
    name : the column's name in the spec (and in saved files)
    source : the raw column it reads; defaults to ``name``
    """

    kind: str  # set by every concrete kind; the key in COLUMN_KINDS
    categorical = False  # True for columns that give ids (see IdColumn)

    def __init__(self, name: str, source: str | None = None):
        if not name or not isinstance(name, str):
            raise ValueError(f"a column needs a non-empty name, got {name!r}")
        self.name = name
        self.source = source or name

    @property
    def parents(self) -> tuple:
        """Names of the spec's columns this column is computed from; () when it reads raw data."""
        return ()

    @property
    def fitted(self) -> bool:
        """Whether the column has what it learns from training data (nothing to learn: True)."""
        return True

    def fit(self, data) -> "Column":
        """Learn from the training columns ``data``; returns self. Nothing to learn by default."""
        return self

    def _require_fitted(self):
        if not self.fitted:
            raise NotFittedError(f"column {self.name!r} is not fitted; call FeatureSpec.fit(train_data) first")

    @abstractmethod
    def to_dict(self) -> dict:
        """JSON-able description, fitted state included: ``{"kind": ..., **arguments of __init__}``."""


class IdColumn(Column):
    """A categorical-like column: each row becomes zero or more ids in ``[0, size)``.

    Single-valued kinds give exactly one id per row; ``multivalent`` kinds give a
    bag (possibly empty), which the deep part embeds by pooling the bag's
    embeddings with ``pooling`` ("sum" or "mean").
    """

    categorical = True
    multivalent = False
    pooling = "sum"
    oov_id = None  # the id of out-of-vocabulary values, for kinds that have one

    @property
    @abstractmethod
    def size(self) -> int:
        """V, the number of ids: ids lie in [0, V)."""

    @abstractmethod
    def tokens(self, data, parents: list = ()) -> Tokens:
        """The ids (and stable keys) of each row of the raw columns ``data``.

        ``parents`` are the tokens of :attr:`parents`, in order (computed by
        :meth:`FeatureSpec.tokens`); a column that reads raw data ignores them.
        """

    @abstractmethod
    def value_name(self, i: int) -> str:
        """Readable name of id ``i`` (a value, a bucket's interval, ...)."""

    def token_names(self, data, tokens: Tokens, parent_names: list = ()) -> list:
        """Readable ``"name=value"`` of each token of one row, for explanations.

        ``data`` is the raw columns of that row, ``tokens`` the column's tokens of
        it, and ``parent_names`` the token names of each parent, in order.
        """
        return [f"{self.name}={self.value_name(int(i))}" for i in tokens.ids]

    def embedding_field(self, dim: int) -> EmbeddingField:
        """The deep part's field that embeds this column in ``dim`` (K) dimensions."""
        self._require_fitted()
        return EmbeddingField(self.name, self.size, int(dim), multivalent=self.multivalent, pooling=self.pooling,
                              oov_id=self.oov_id)

    def id_correspondence(self, old: "Column"):
        """Pairs of ids (new, old) that stand for the same thing in this column and ``old``.

        Used to warm-start a new model from an older one (paper §4.2). By default
        ids are a function of the column's definition: if ``old`` has the same
        description (``to_dict()``, fitted state included), every id matches
        itself; otherwise nothing matches. Kinds whose ids depend on learned
        state (a vocabulary) override this to match by value.

        Returns
        -------
        new_ids, old_ids : (M,) int64 arrays
        """
        self._require_fitted()
        if self.to_dict() == old.to_dict():
            ids = np.arange(self.size, dtype=np.int64)
            return ids, ids.copy()
        none = np.zeros(0, dtype=np.int64)
        return none, none.copy()
