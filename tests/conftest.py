"""Shared fixtures: a small model and batch that exercise every kind of input; and the hook that
starts the collected notebooks in the background (notebook_runs.py)."""
import os

# One BLAS thread for the test process: its matrices are small, and the notebooks' kernels run
# beside it (must be set before NumPy is first imported).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse as sp  # noqa: E402

import notebook_runs  # noqa: E402
from wdnumpy import Batch, EmbeddingField, WideDeep, bags_from_lists  # noqa: E402


def pytest_collection_finish(session):
    """Start every notebook this session will test, so they run while the other tests do."""
    if session.config.option.collectonly:
        return
    notebook_runs.schedule([item.callspec.params["path"] for item in session.items
                            if getattr(item, "originalname", "") == "test_notebook_runs_in_a_fresh_kernel"])


N = 8
WIDE_DIM = 11


def make_fields():
    """The test fields, built on each call (not once at import, so that every test exercises
    EmbeddingField's checks, including under a mutation-testing tool)."""
    return (
        EmbeddingField("country", vocab_size=5, dim=3),
        EmbeddingField("installed", vocab_size=7, dim=2, multivalent=True, pooling="sum"),
        EmbeddingField("genres", vocab_size=4, dim=2, multivalent=True, pooling="mean"),
    )


def make_batch(seed=0):
    """A batch with weighted wide entries, repeated ids in a field, in a bag and across bags,
    an empty bag, continuous features and per-example weights."""
    rng = np.random.default_rng(seed)
    n = N
    rows = np.repeat(np.arange(n), 3)
    cols = rng.integers(0, WIDE_DIM, rows.size)  # the same column in many rows
    vals = rng.choice([1.0, 1.0, 0.5, 2.0], rows.size)  # binary and weighted entries
    wide = sp.csr_matrix((vals, (rows, cols)), shape=(n, WIDE_DIM))
    country = np.array([0, 1, 1, 4, 0, 0, 2, 1])  # repeated ids across rows
    installed = bags_from_lists([[1, 1, 2], [3], [], [5, 0, 5, 5], [1], [2, 2, 6], [4], [1, 3]], 7)
    genres = bags_from_lists([[0, 1], [1, 1], [3], [], [2, 0], [0], [1, 2, 3], [3, 3]], 4)
    return Batch(
        wide=wide,
        categorical={"country": country, "installed": installed, "genres": genres},
        continuous=rng.standard_normal((n, 2)),
        labels=rng.integers(0, 2, n).astype(float),
        weights=rng.random(n) + 0.2,
    )


def make_model(mode="wide_deep", seed=1, dtype=np.float64, hidden=(6, 4)):
    model = WideDeep(wide_dim=WIDE_DIM, fields=make_fields(), n_continuous=2, hidden=hidden, mode=mode,
                     dtype=dtype, seed=seed)
    if model.uses_wide:  # wide weights start at zero; make them non-trivial for the checks
        model.params["wide.w"][:] = np.random.default_rng(seed + 100).standard_normal(WIDE_DIM)
    model.params["bias"][:] = 0.3
    return model


@pytest.fixture
def batch():
    return make_batch()


@pytest.fixture
def rng():
    """A fresh seeded generator for each test."""
    return np.random.default_rng(42)
