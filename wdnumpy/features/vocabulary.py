"""Vocabulary columns: values seen at least ``min_count`` times get ids, the rest share id 0 (paper §4.1).

The paper's data generation step maps each categorical string to an integer
id through a vocabulary of the values that occur at least a minimum number of
times in training. Here:

- :class:`Categorical` — one value per row;
- :class:`Multivalent` — a bag of values per row (the user's installed apps),
  embedded in the deep part by pooling the bag.

Ids 1..V−1 are the vocabulary in sorted order; id 0 is the out-of-vocabulary
id, shared by unseen, rare and missing values. Because ids depend on the
training data, a warm start (§4.2) matches ids of two vocabularies by value.
"""
from __future__ import annotations

import warnings

import numpy as np

from .base import IdColumn
from .hashing import stable_hash
from .tokens import Tokens
from .values import as_text, missing_mask, raw_column, split_bags_once

OOV_KEY_TEXT = "\x00<out-of-vocabulary>"  # hashed to the key of id 0, for crosses
LIKELY_SEPARATORS = ("|", ",", ";", "/", ":", " ")


def learn_vocabulary(text: np.ndarray, min_count: int) -> list:
    """Sorted distinct values of ``text`` that are not missing and occur at least ``min_count`` times."""
    uniques, counts = np.unique(text[~missing_mask(text)], return_counts=True)
    return sorted(uniques[counts >= min_count].tolist())


def vocabulary_ids(text: np.ndarray, values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Map strings to vocabulary ids (0 = out of vocabulary) by binary search: ``values`` is the
    vocabulary sorted, ``ids`` the id of each of them. (n,) strings → (n,) int64."""
    text = np.asarray(text).ravel()
    if values.size == 0:
        return np.zeros(text.size, dtype=np.int64)
    at = np.searchsorted(values, text).clip(max=values.size - 1)
    return np.where(values[at] == text, ids[at], 0)


class Categorical(IdColumn):
    """A single-valued categorical column with a vocabulary learned from training data.

    Values seen at least ``min_count`` times get ids 1..V−1 (sorted); id 0 is the
    out-of-vocabulary id for unseen, rare and missing values. ``vocabulary`` is
    the fitted state (None until :meth:`fit`).
    """

    kind = "categorical"
    oov_id = 0

    def __init__(self, name, source=None, min_count: int = 1, vocabulary=None):
        super().__init__(name, source)
        if int(min_count) < 1:
            raise ValueError(f"column {name!r}: min_count must be >= 1, got {min_count}")
        self.min_count = int(min_count)
        self.vocabulary = None if vocabulary is None else list(vocabulary)
        if self.vocabulary is not None and len(set(self.vocabulary)) < len(self.vocabulary):
            seen = set()
            repeated = next(v for v in self.vocabulary if v in seen or seen.add(v))  # add() gives None
            raise ValueError(f"column {name!r}: the vocabulary holds {repeated!r} more than once; "
                             "each value needs one id")
        self._sorted = self._keys = None  # sorted values with their ids, and each id's key: built on first use

    @property
    def fitted(self):
        return self.vocabulary is not None

    @property
    def size(self) -> int:
        self._require_fitted()
        return len(self.vocabulary) + 1

    def fit(self, data):
        self.vocabulary = learn_vocabulary(self._text(data), self.min_count)
        self._sorted = self._keys = None
        return self

    def _text(self, data):
        """The column's raw values as strings (for a bag column: every value of every bag)."""
        return as_text(raw_column(data, self.source, f"column {self.name!r}"))

    def _lookup(self, text):
        """(ids, keys) of the strings ``text``."""
        if self._sorted is None:
            values = np.array(self.vocabulary, dtype=str)
            order = np.argsort(values, kind="stable")
            self._sorted = values[order], order.astype(np.int64) + 1
            self._keys = stable_hash([OOV_KEY_TEXT] + self.vocabulary)
        ids = vocabulary_ids(text, *self._sorted)
        return ids, self._keys[ids]

    def tokens(self, data, parents=()) -> Tokens:
        self._require_fitted()
        ids, keys = self._lookup(self._text(data))
        return Tokens.single(ids, keys, ids == 0)

    def value_name(self, i: int) -> str:
        return "<unknown>" if i == 0 else self.vocabulary[i - 1]

    def id_correspondence(self, old):
        """Ids matched by value: ``installed=app42`` keeps its row even if its id moved.

        Id 0 (out of vocabulary) matches id 0; a value that is not in ``old``'s
        vocabulary has no partner. A column of another kind matches nothing.
        """
        self._require_fitted()
        if old.kind != self.kind:
            none = np.zeros(0, dtype=np.int64)
            return none, none.copy()
        old._require_fitted()
        old_index = {v: i for i, v in enumerate(old.vocabulary, start=1)}
        pairs = [(0, 0)] + [(i, old_index[v]) for i, v in enumerate(self.vocabulary, start=1) if v in old_index]
        new_ids, old_ids = np.array(pairs, dtype=np.int64).T
        return new_ids, old_ids

    def to_dict(self):
        return {"kind": self.kind, "name": self.name, "source": self.source, "min_count": self.min_count,
                "vocabulary": self.vocabulary}


class Multivalent(Categorical):
    """A bag of categorical values per row (installed apps), with a vocabulary.

    A row is a list of values or a string joined by ``separator``. In the deep
    part the bag's embeddings are pooled by ``pooling`` ("sum" or "mean").
    """

    kind = "multivalent"
    multivalent = True

    def __init__(self, name, source=None, min_count: int = 1, vocabulary=None, separator: str = "|",
                 pooling: str = "mean"):
        super().__init__(name, source, min_count, vocabulary)
        if pooling not in ("sum", "mean"):
            raise ValueError(f"column {name!r}: pooling must be 'sum' or 'mean', got {pooling!r}")
        self.separator = separator
        self.pooling = pooling

    def fit(self, data):
        self._warn_if_separator_looks_wrong(raw_column(data, self.source, f"column {self.name!r}"))
        return super().fit(data)

    def _warn_if_separator_looks_wrong(self, values) -> None:
        """Warn when no value holds the separator but most hold another usual one
        (a wrong separator would silently make each joined string one value)."""
        text = [v for v in values if isinstance(v, str) and v.strip()]
        if not text or any(self.separator in v for v in text):
            return
        for other in LIKELY_SEPARATORS:
            share = sum(other in v for v in text) / len(text)
            if other != self.separator and share >= 0.5:
                warnings.warn(f"column {self.name!r}: no value contains the separator {self.separator!r}, but "
                              f"{share:.0%} contain {other!r}; did you mean separator={other!r}?", stacklevel=3)
                return

    def _bags(self, data):
        """(lengths (N,), tokens (Q,), take (P,)): the rows' bags, their flat values ``tokens[take]``."""
        return split_bags_once(raw_column(data, self.source, f"column {self.name!r}"), self.separator)

    def _text(self, data):
        _, tokens, take = self._bags(data)
        return tokens[take]

    def tokens(self, data, parents=()) -> Tokens:
        self._require_fitted()
        lengths, tokens, take = self._bags(data)
        ids, keys = self._lookup(tokens)
        ids, keys = ids[take], keys[take]
        return Tokens(np.concatenate([[0], np.cumsum(lengths)]), ids, keys, ids == 0)

    def to_dict(self):
        return {**super().to_dict(), "separator": self.separator, "pooling": self.pooling}
