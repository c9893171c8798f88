"""Serving one request by batch and thread, as in the paper's §4.3 and Table 2.

One request is a user and O(1,000) candidate apps in raw columns. Scoring them
means featurizing (:meth:`~wdnumpy.features.FeatureSpec.transform`) and a forward
pass; the paper splits the batch into smaller batches scored on parallel threads.
Here :func:`score_request` cuts the rows into ``parts`` contiguous pieces and
scores each on its own thread of a :class:`~concurrent.futures.ThreadPoolExecutor`.
Threads only run at once where NumPy releases the GIL (BLAS and most array
operations); the featurization's Python-level work holds it.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def score_request(model, spec, columns: dict, parts: int = 1, executor: ThreadPoolExecutor | None = None):
    """P(install) (N,) of the N rows of raw ``columns``, scored in ``parts`` contiguous pieces.

    With an ``executor`` the pieces are scored on its threads, else one after the
    other; the same pieces give the same scores bit for bit either way. Pieces of
    another size may differ from the whole batch's scores in the last bit (BLAS
    blocks a matrix product by its shape).
    """
    n = len(next(iter(columns.values())))
    bounds = np.linspace(0, n, parts + 1).astype(int)
    pieces = [{k: v[a:b] for k, v in columns.items()} for a, b in zip(bounds[:-1], bounds[1:])]

    def score(piece):
        return model.predict_proba(spec.transform(piece))

    return np.concatenate(list(executor.map(score, pieces) if executor else map(score, pieces)))


def latency_table(model, spec, columns: dict, settings=(1, 2, 4), requests: int = 100, warmup: int = 5) -> list:
    """Latency of scoring the whole request, for each number of parts (= threads), as in Table 2.

    Each setting gets its own pool of that many threads, ``warmup`` unrecorded
    requests and then ``requests`` timed ones (wall clock, ``time.perf_counter``).

    Returns
    -------
    list of dicts: ``batch`` (rows per piece), ``threads``, ``p50_ms``, ``p99_ms``, ``mean_ms``
    """
    n = len(next(iter(columns.values())))
    rows = []
    for threads in settings:
        with ThreadPoolExecutor(max_workers=threads) as executor:
            times = []
            for i in range(warmup + requests):
                started = time.perf_counter()
                score_request(model, spec, columns, threads, executor if threads > 1 else None)
                if i >= warmup:
                    times.append(1000 * (time.perf_counter() - started))
        rows.append({"batch": -(-n // threads), "threads": threads, "p50_ms": float(np.percentile(times, 50)),
                     "p99_ms": float(np.percentile(times, 99)), "mean_ms": float(np.mean(times))})
    return rows


def format_latency_table(rows: list) -> str:
    """Table 2's shape, with the machine's core count."""
    lines = [f"{'Batch size':>10}  {'Number of threads':>17}  {'p50 latency (ms)':>16}  {'p99 latency (ms)':>16}"]
    for r in rows:
        lines.append(f"{r['batch']:>10}  {r['threads']:>17}  {r['p50_ms']:>16.1f}  {r['p99_ms']:>16.1f}")
    return "\n".join(lines) + f"\n(os.cpu_count() = {os.cpu_count()})"


def request_columns(world, user: int, n: int = 1000, seed=0) -> dict:
    """A request: ``n`` candidate apps for one user (drawn with replacement among the world's apps), raw columns."""
    app = np.random.default_rng(seed).integers(0, world.n_apps, n)
    return world.columns(np.full(n, user), app)
