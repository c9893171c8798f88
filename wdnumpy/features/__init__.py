"""Feature columns and the feature spec: raw columns → the Batch a model consumes (paper §3.1, §4.1).

Raw data is a mapping ``column name → (N,) array`` (strings or numbers; for a
multivalent column, a list per row or a string joined by ``"|"``), as the
loaders in :mod:`wdnumpy.datasets` return it. Read the modules in this order:

============================  ==================================================
module                        idea
============================  ==================================================
:mod:`.values`                raw values: missing values, numbers, bags
:mod:`.hashing`               stable 64-bit keys of values and of crosses
:mod:`.tokens`                the ids of N rows, CSR style; the cross of two
                              token sets, φ(x) of §3.1 Eq. 1
:mod:`.base`                  what every column promises (Column, IdColumn)
:mod:`.vocabulary`            Categorical, Multivalent: vocabularies with a
                              minimum count, id 0 out of vocabulary (§4.1)
:mod:`.hashed`                Hashed: ``stable_hash(value) mod buckets``
:mod:`.numeric`               Numeric: CDF quantiles (i − 1)/(n_q − 1) (§4.1);
                              Bucketized: a number's bucket
:mod:`.crossed`               Crossed: the cross-product transformation (§3.1)
:mod:`.columns`               the table of kinds, to rebuild saved columns
:mod:`.spec`                  FeatureSpec: wide, embeddings, continuous → Batch
============================  ==================================================

Hashes are :func:`stable_hash` (BLAKE2b of the UTF-8 text), identical across
runs, processes and platforms — unlike Python's salted ``hash()``.
"""
from .base import Column, IdColumn, NotFittedError
from .columns import COLUMN_KINDS, column_from_dict
from .crossed import Crossed
from .hashed import Hashed
from .hashing import combine_keys, mix64, stable_hash
from .numeric import Bucketized, Numeric, quantile_normalize
from .spec import FeatureSpec
from .tokens import Tokens, cross_tokens
from .values import MISSING, as_columns, as_text, count_rows, missing_mask, parse_numbers, split_bags
from .vocabulary import Categorical, Multivalent

__all__ = ["Bucketized", "COLUMN_KINDS", "Categorical", "Column", "Crossed", "FeatureSpec", "Hashed", "IdColumn",
           "MISSING", "Multivalent", "as_columns", "NotFittedError", "Numeric", "Tokens", "as_text", "column_from_dict",
           "combine_keys", "count_rows", "cross_tokens", "missing_mask", "mix64", "parse_numbers", "quantile_normalize",
           "split_bags", "stable_hash"]
