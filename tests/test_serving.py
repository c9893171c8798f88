"""serving.py's promises that test_simulate.py does not check: score_request with parts that do not divide the
request, latency_table's pool per setting, rows per piece and percentiles (on a fake clock: no timing is
measured), Table 2's header, and request_columns' draws."""
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np

from wdnumpy import serving


class CountingModel:
    """A stand-in model: P = 0.5 for each row; records the thread of each call, and each call moves the fake
    clock on: the k-th request of ``parts`` pieces takes k milliseconds."""

    def __init__(self, clock, parts=1):
        self.clock, self.parts = clock, parts
        self.threads = set()
        self.calls = 0
        self.lock = threading.Lock()  # the pieces of a request may be scored at once

    def predict_proba(self, batch):
        with self.lock:
            self.threads.add(threading.get_ident())
            self.calls += 1
            self.clock.now += ((self.calls - 1) // self.parts + 1) / 1000 / self.parts
        return np.full(len(batch), 0.5)


class FakeClock:
    """perf_counter() in seconds, moved on only by CountingModel."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class IdentitySpec:
    def transform(self, piece):
        return piece["x"]


class EchoModel:
    """A stand-in model whose P of a row is the row's own value; records the size of each piece it scores."""

    def __init__(self):
        self.pieces = []
        self.lock = threading.Lock()

    def predict_proba(self, batch):
        with self.lock:
            self.pieces.append(len(batch))
        return np.asarray(batch, dtype=float)


def test_score_request_scores_each_row_once_in_order_for_any_number_of_parts():
    # score_request: P (N,) of the N rows, "scored in parts contiguous pieces", also when parts does not divide N
    x = np.arange(10.0) / 10
    for parts in (1, 3, 4, 7, 10):
        model = EchoModel()
        np.testing.assert_array_equal(serving.score_request(model, IdentitySpec(), {"x": x}, parts), x)
        assert len(model.pieces) == parts and sum(model.pieces) == x.size
        with ThreadPoolExecutor(3) as executor:
            np.testing.assert_array_equal(serving.score_request(EchoModel(), IdentitySpec(), {"x": x}, parts,
                                                                executor), x)


def test_score_request_scores_the_whole_request_as_one_piece_by_default():
    """score_request's default ``parts=1``: one piece of all N rows, scored in this thread (no executor)."""
    x = np.arange(7.0) / 7
    model = EchoModel()
    np.testing.assert_array_equal(serving.score_request(model, IdentitySpec(), {"x": x}), x)
    assert model.pieces == [7]


def test_latency_table_scores_on_a_pool_of_that_many_threads(monkeypatch):
    pools = []
    real = serving.ThreadPoolExecutor

    def pool(max_workers=None):
        pools.append(max_workers)
        return real(max_workers=max_workers)

    monkeypatch.setattr(serving, "ThreadPoolExecutor", pool)
    columns = {"x": np.arange(10.0)}
    for threads in (1, 2):
        clock = FakeClock()
        monkeypatch.setattr(serving, "time", SimpleNamespace(perf_counter=clock))
        model = CountingModel(clock)
        (row,) = serving.latency_table(model, IdentitySpec(), columns, settings=(threads,), requests=20, warmup=2)
        assert row["threads"] == threads and row["batch"] == -(-10 // threads)  # rows per piece, rounded up
        if threads == 1:
            assert model.threads == {threading.get_ident()}  # one part: scored in this thread
        else:
            assert threading.get_ident() not in model.threads  # the pieces go to the pool's threads
    assert pools == [1, 2]


def test_latency_table_rows_per_piece_and_percentiles_of_the_timed_requests(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(serving, "time", SimpleNamespace(perf_counter=clock))
    model = CountingModel(clock, parts=3)
    (row,) = serving.latency_table(model, IdentitySpec(), {"x": np.arange(7.0)}, settings=(3,), requests=100, warmup=5)
    assert row["batch"] == 3 and row["threads"] == 3
    times = np.arange(6, 106, dtype=float)  # requests 1..5 are the unrecorded warm-up
    np.testing.assert_allclose([row["p50_ms"], row["mean_ms"], row["p99_ms"]],
                               [np.percentile(times, 50), np.mean(times), np.percentile(times, 99)], rtol=1e-9)
    assert row["p99_ms"] < times.max()  # the 99th percentile, not the slowest request


def test_format_latency_table_has_table_2s_header():
    text = serving.format_latency_table([{"batch": 1000, "threads": 1, "p50_ms": 1.94, "p99_ms": 2.06}])
    header, row, cores = text.splitlines()
    assert header.split("  ") == ["Batch size", "Number of threads", "p50 latency (ms)", "p99 latency (ms)"]
    assert row.split() == ["1000", "1", "1.9", "2.1"] and cores.startswith("(os.cpu_count() = ")


class ToyWorld:
    n_apps = 3

    def columns(self, user, app):
        return {"user": user, "app": app}


def test_request_columns_draws_every_app_with_the_seed():
    one = serving.request_columns(ToyWorld(), user=4, n=300, seed=7)
    assert np.array_equal(one["app"], serving.request_columns(ToyWorld(), user=4, n=300, seed=7)["app"])
    assert not np.array_equal(one["app"], serving.request_columns(ToyWorld(), user=4, n=300, seed=8)["app"])
    assert set(one["app"]) == {0, 1, 2} and np.all(one["user"] == 4) and len(one["app"]) == 300


def test_latency_table_defaults_are_settings_1_2_4_and_100_timed_requests_after_5_warm_ups(monkeypatch):
    """latency_table's documented defaults: settings (1, 2, 4), ``warmup`` 5 unrecorded requests, then ``requests``
    100 timed ones; each setting's percentiles are of its own timed requests."""
    clock = FakeClock()
    monkeypatch.setattr(serving, "time", SimpleNamespace(perf_counter=clock))
    model = CountingModel(clock)
    rows = serving.latency_table(model, IdentitySpec(), {"x": np.arange(8.0)})
    assert [(row["threads"], row["batch"]) for row in rows] == [(1, 8), (2, 4), (4, 2)]
    assert model.calls == 105 * (1 + 2 + 4)  # every request scores each of its pieces once
    # one piece a request: the k-th request takes k ms, and requests 1..5 are the warm-up
    one = rows[0]
    times = np.arange(6, 106, dtype=float)
    np.testing.assert_allclose([one["p50_ms"], one["mean_ms"], one["p99_ms"]],
                               [np.percentile(times, 50), np.mean(times), np.percentile(times, 99)], rtol=1e-9)
