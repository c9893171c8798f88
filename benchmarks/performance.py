"""Speed and scale benchmarks (the README's performance table).

    python benchmarks/performance.py all          # every benchmark, each in its own process
    python benchmarks/performance.py adult        # or table-size, million, float32, serving, out-of-core,
                                                  # threads, breakdown

Each benchmark prints its figures as one JSON line; ``all`` runs each in turn, prints its line as it
finishes, and writes them all to benchmarks/results/performance.json. Peak memory is the
process's peak resident set size (``ru_maxrss``), data generation included.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from wdnumpy.metrics import roc_auc  # noqa: E402
from wdnumpy.model import WideDeep  # noqa: E402
from wdnumpy.optim import Adam  # noqa: E402
from wdnumpy.train import train  # noqa: E402


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_floor(model: WideDeep, batch_size: int, steps: int, repeats: int = 3) -> float:
    """Seconds for the MLP's matrix products alone (forward and backward) for ``steps`` steps."""
    rng = np.random.default_rng(0)
    weights = [model.params[f"deep.W{i}"] for i in range(1, len(model.hidden) + 1)] + [model.params["deep.w_out"]]
    x = rng.standard_normal((batch_size, model.deep_input_dim)).astype(model.dtype)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            activations = [x]
            for W in weights:
                activations.append(activations[-1] @ W)
            grad = np.ones_like(activations[-1])
            for W, a in zip(reversed(weights), reversed(activations[:-1])):
                _ = a.T @ grad          # dW
                grad = grad @ W.T       # dx (also into the embeddings for the first layer)
        best = min(best, time.perf_counter() - start)
    return best


def bench_adult(args) -> dict:
    """Epochs and the matrix-product floor in turn (5 of each), so that both meet the same load
    on a shared machine; the ratio is the median of the per-pair ratios (and, less sensitive to
    bursts of load, the fastest epoch over the fastest floor)."""
    from wdnumpy.datasets import adult_spec, load_adult
    train_columns, train_labels = load_adult("train")
    spec = adult_spec().fit(train_columns)
    data = spec.transform(train_columns, train_labels)
    model = WideDeep(**spec.model_kwargs(), hidden=(100, 50), seed=0)
    optimizer = Adam()
    train(model, data.take(np.arange(2048)), optimizer, epochs=1, batch_size=256)  # warm up, allocate state
    steps = -(-len(data) // 256)
    epochs, floors = [], []
    for epoch in range(5):
        epochs.append(train(model, data, optimizer, epochs=1, batch_size=256, seed=epoch).column("seconds")[0])
        floors.append(matmul_floor(model, 256, steps, repeats=1))
    seconds, ratios = float(np.median(epochs)), np.array(epochs) / np.array(floors)
    return {"benchmark": "adult", "seconds_per_epoch": seconds, "examples_per_second": len(data) / seconds,
            "matmul_floor_seconds": float(np.median(floors)), "ratio_to_floor": float(np.median(ratios)),
            "per_epoch_ratios": np.round(ratios, 2).tolist(), "ratio_of_minima": min(epochs) / min(floors)}


def timed(work, rounds: int = 5) -> float:
    """Fastest of ``rounds`` runs of ``work()``, in seconds."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def bench_breakdown(args) -> dict:
    """Where the time goes, in milliseconds. An Adult training step (W&D, batch 256, Adam), each part
    timed on its own over the same 127 mini-batches (an epoch): cutting the batch, the forward pass, the
    backward pass, the optimizer; within the two passes, the tower (and its matrix products alone)
    and the wide part. And one serving request (the ``serving`` benchmark's): the feature transform
    (within it the raw columns' tokens, the crosses, the numeric columns, the sparse matrices) and the
    forward pass (within it the batch check, the tower, and the tower's matrix products alone)."""
    from wdnumpy import layers
    from wdnumpy.datasets import adult_spec, load_adult
    from wdnumpy.features.spec import count_csr, wide_matrix
    from wdnumpy.tower import tower_backward, tower_forward
    from wdnumpy.train import wide_in_dtype
    train_columns, train_labels = load_adult("train")
    spec = adult_spec().fit(train_columns)
    data = spec.transform(train_columns, train_labels)
    model, optimizer = WideDeep(**spec.model_kwargs(), hidden=(100, 50), seed=0), Adam()
    train(model, data.take(np.arange(2048)), optimizer, epochs=1, batch_size=256)  # warm up, allocate state
    rows = wide_in_dtype(data.take(np.random.default_rng(0).permutation(len(data))[:256 * (len(data) // 256)]), model)
    batches = [rows.take(slice(i, i + 256)) for i in range(0, len(rows), 256)]
    grads = [model.loss(b, check=False)[1] for b in batches]
    _, caches = zip(*(model._forward(b, True, False) for b in batches))
    deep_inputs = [c.tower[0].x for c in caches]
    ones = np.ones((256, 1))

    def tower():
        for x in deep_inputs:
            out, tower_caches = tower_forward(model.tower, x, model.params, training=True)
            tower_backward(model.tower, ones, tower_caches)

    def wide():
        for b in batches:
            _, cache = layers.sparse_linear_forward(b.wide, model.params["wide.w"])
            layers.sparse_linear_backward(ones[:, 0], cache)

    step = {"whole step": timed(lambda: [optimizer.step(model.params, model.loss(rows.take(slice(i, i + 256)),
                                                                                  check=False)[1])
                                         for i in range(0, len(rows), 256)]),
            "cutting the batch": timed(lambda: [rows.take(slice(i, i + 256)) for i in range(0, len(rows), 256)]),
            "forward": timed(lambda: [model.loss(b, check=False, backward=False) for b in batches]),
            "forward and backward": timed(lambda: [model.loss(b, check=False) for b in batches]),
            "optimizer": timed(lambda: [optimizer.step(model.params, g) for g in grads]),
            "tower, forward and backward": timed(tower),
            "tower's matrix products alone": matmul_floor(model, 256, len(batches), repeats=5),
            "wide part, forward and backward": timed(wide)}
    step = {k: 1e3 * v / len(batches) for k, v in step.items()}

    model, spec, candidates = serving_setup()
    batch = spec.transform(candidates)
    weights = [model.params[f"deep.W{i}"] for i in range(1, len(model.hidden) + 1)] + [model.params["deep.w_out"]]
    record = {}
    model._forward(batch, False, True, record)
    deep_input = record["deep_input"]
    raw = [name for name, c in spec.columns.items() if c.categorical and not c.parents]
    crossed = [name for name, c in spec.columns.items() if c.parents]
    tokens = {name: spec.tokens(name, candidates) for name in raw}
    tokens.update({name: spec.tokens(name, candidates, dict(tokens)) for name in crossed})

    def crosses():
        for name in crossed:
            spec.columns[name].tokens(candidates, [tokens[p] for p in spec.columns[name].parents])

    def matrices():
        wide_matrix([(tokens[name], offset) for name, offset in spec.wide_offsets().items()], len(batch), spec.wide_dim)
        for name in spec.embeddings:
            if spec.columns[name].multivalent:
                count_csr(tokens[name].ids, tokens[name].indptr, (len(batch), spec.columns[name].size))

    def products():
        out = deep_input
        for W in weights:
            out = out @ W

    serving = {"transform": timed(lambda: spec.transform(candidates), 50),
               "transform: tokens of the raw categorical columns": timed(
                   lambda: [spec.columns[name].tokens(candidates) for name in raw], 50),
               "transform: crosses, from their columns' tokens": timed(crosses, 50),
               "transform: numeric columns": timed(lambda: [spec.columns[n].values(candidates) for n in spec.continuous],
                                                   50),
               "transform: wide and bag matrices": timed(matrices, 50),
               "forward": timed(lambda: model.predict_proba(batch), 50),
               "forward: checking the batch": timed(lambda: model.check_batch(batch), 50),
               "forward: tower": timed(lambda: tower_forward(model.tower, deep_input, model.params), 50),
               "forward: tower's matrix products alone": timed(products, 50)}
    return {"benchmark": "breakdown", "adult_step_ms": {k: round(v, 4) for k, v in step.items()},
            "serving_request_ms": {k: round(1e3 * v, 4) for k, v in serving.items()}}


def openblas_threads():
    """(set, get) of the number of threads of the OpenBLAS bundled with NumPy, or None if not found."""
    import ctypes
    import glob
    for path in glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*.so*")):
        lib = ctypes.CDLL(path)
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                set_name, get_name = f"{prefix}_set_num_threads{suffix}", f"{prefix}_get_num_threads{suffix}"
                if hasattr(lib, set_name):
                    return getattr(lib, set_name), getattr(lib, get_name)
    return None


def bench_threads(args) -> dict:
    """One and two BLAS threads in turn in one process (3 rounds): an Adult epoch (batch 256) and
    the MLP's matrix products alone at batch 256 and 1024; medians and the 2-thread ÷ 1-thread ratios."""
    from wdnumpy.datasets import adult_spec, load_adult
    threads = openblas_threads()
    if threads is None:
        return {"benchmark": "threads", "error": "NumPy's OpenBLAS not found"}
    set_threads, get_threads = threads
    train_columns, train_labels = load_adult("train")
    spec = adult_spec().fit(train_columns)
    data = spec.transform(train_columns, train_labels)
    model, optimizer = WideDeep(**spec.model_kwargs(), hidden=(100, 50), seed=0), Adam()
    train(model, data.take(np.arange(2048)), optimizer, epochs=1, batch_size=256)
    steps = -(-len(data) // 256)
    seconds = {n: {"epoch": [], "products_256": [], "products_1024": []} for n in (1, 2)}
    for round_ in range(3):
        for n in (1, 2):
            set_threads(n)
            assert get_threads() == n
            seconds[n]["epoch"].append(train(model, data, optimizer, epochs=1, seed=round_).column("seconds")[0])
            seconds[n]["products_256"].append(matmul_floor(model, 256, steps, repeats=1))
            seconds[n]["products_1024"].append(matmul_floor(model, 1024, steps // 4, repeats=1))
    return {"benchmark": "threads",
            **{f"{k}_{n}_threads": float(np.median(v)) for n in (1, 2) for k, v in seconds[n].items()},
            **{f"{k}_2_over_1": float(np.median(np.array(seconds[2][k]) / np.array(seconds[1][k])))
               for k in seconds[1]}}


def click_model(hash_bits: int, dtype=np.float64) -> WideDeep:
    from clicklog import N_NUMERIC, fields
    return WideDeep(wide_dim=2 ** hash_bits, fields=fields(), n_continuous=N_NUMERIC, hidden=(100, 50),
                    dtype=dtype, seed=0)


def bench_table_size(args) -> dict:
    """Seconds per 10⁵ examples at 2¹⁶ to 2²² hash buckets. The sizes take turns on chunks of 20,000
    rows (20 steps; the order reversed every round, 10 rounds), so that all meet the same load on a
    shared machine; each size's time is its median chunk, the ratio the median of the rounds' ratios."""
    from clicklog import make_click_log
    sizes, chunk = (16, 18, 20, 22), 20_000
    runs = {}
    for bits in sizes:
        data = make_click_log(200_000, hash_bits=bits, seed=1)
        model, optimizer = click_model(bits), Adam()
        train(model, data.take(np.arange(chunk)), optimizer, epochs=1, batch_size=1024)  # warm up
        runs[bits] = (data, model, optimizer, [])
    for round_ in range(10):
        for bits in sizes[::1 if round_ % 2 == 0 else -1]:
            data, model, optimizer, seconds = runs[bits]
            rows = data.take(slice(round_ * chunk, (round_ + 1) * chunk))
            seconds.append(train(model, rows, optimizer, epochs=1, batch_size=1024, seed=round_).column("seconds")[0])
    rows = {bits: float(np.median(seconds)) / chunk * 1e5 for bits, (_, _, _, seconds) in runs.items()}
    for bits in sizes:
        print(f"  2^{bits}: {rows[bits]:.3f} s per 1e5 examples", file=sys.stderr, flush=True)
    ratios = np.array(runs[22][3]) / np.array(runs[16][3])
    return {"benchmark": "table-size", "seconds_per_1e5": {f"2^{b}": s for b, s in rows.items()},
            "ratio_2^22_to_2^16": float(np.median(ratios)), "per_round_ratios": np.round(ratios, 2).tolist()}


def bench_million(args) -> dict:
    from clicklog import make_click_log
    dtype = np.float32 if args.float32 else np.float64
    data = make_click_log(1_000_000, hash_bits=20, seed=2)
    test = make_click_log(100_000, hash_bits=20, seed=3)
    model = click_model(20, dtype)
    history = train(model, data, Adam(), epochs=1, batch_size=1024, seed=0)
    auc = roc_auc(test.labels, model.predict_proba(test))
    return {"benchmark": "million" + ("-float32" if args.float32 else ""), "dtype": np.dtype(dtype).name,
            "seconds_per_epoch": history.seconds_per_epoch, "examples_per_second": 1e6 / history.seconds_per_epoch,
            "test_auc": auc, "peak_memory_mb": peak_memory_mb()}


def bench_float32(args) -> dict:
    """One pass over the same 10⁶ click-log rows in float64 and in float32, in one process, in turns of
    200,000 rows (alternating which goes first), so that both meet the same load on a shared machine."""
    from clicklog import make_click_log
    data = make_click_log(args.rows_million, hash_bits=20, seed=2)
    test = make_click_log(100_000, hash_bits=20, seed=3)
    dtypes = (np.float64, np.float32)
    models = {dtype: (click_model(20, dtype), Adam()) for dtype in dtypes}
    seconds = {dtype: 0.0 for dtype in dtypes}
    chunk = 200_000
    for turn, first in enumerate(range(0, len(data), chunk)):
        rows = data.take(slice(first, first + chunk))
        for dtype in dtypes[::1 if turn % 2 == 0 else -1]:
            model, optimizer = models[dtype]
            seconds[dtype] += train(model, rows, optimizer, epochs=1, batch_size=1024, seed=turn).column("seconds")[0]
    out = {"benchmark": "float32"}
    for dtype, (model, _) in models.items():
        name = np.dtype(dtype).name
        out[f"{name}_seconds"] = seconds[dtype]
        out[f"{name}_test_auc"] = roc_auc(test.labels, model.predict_proba(test))
    out["float64_over_float32"] = out["float64_seconds"] / out["float32_seconds"]
    out["auc_difference"] = out["float32_test_auc"] - out["float64_test_auc"]
    return out


def serving_setup():
    """(model, spec, candidates): a W&D model trained one epoch on the app store, and the raw
    columns of 1,000 candidate apps for one user."""
    from wdnumpy.datasets import app_store_spec, make_app_store
    store = make_app_store(n_train=100_000, n_test=1_000, n_users=20_000, n_apps=1_000, n_niche=500, seed=0)
    spec = app_store_spec().fit(store.train)
    model = WideDeep(**spec.model_kwargs(), hidden=(100, 50), seed=0)
    train(model, spec.transform(store.train, store.train_labels), Adam(), epochs=1, batch_size=256)
    apps = np.array(spec.columns["impression"].vocabulary)
    category = dict(zip(store.train["impression"], store.train["impression_category"]))
    user = {k: v[0] for k, v in store.test.items()}
    candidates = {k: np.repeat(np.asarray([v]), apps.size) for k, v in user.items()}
    candidates["impression"] = apps
    candidates["impression_category"] = np.array([category[a] for a in apps])
    return model, spec, candidates


def bench_serving(args) -> dict:
    """Score 1,000 candidate apps for one user from raw columns, single-threaded BLAS: the float64
    model, then a float32 copy of it (the same weights rounded), in turns of 50 requests so that
    both meet the same load on a shared machine."""
    model, spec, candidates = serving_setup()
    single = WideDeep(**spec.model_kwargs(), hidden=model.hidden, seed=0, dtype=np.float32)
    for name, value in model.params.items():
        single.params[name][...] = value  # assigned in place: the shared tables' views stay views
    latencies = {model: [], single: []}
    for turn in range(12):
        for m in (model, single)[::1 if turn % 2 == 0 else -1]:
            for _ in range(50):
                start = time.perf_counter()
                scores = m.predict_proba(spec.transform(candidates))
                latencies[m].append(time.perf_counter() - start)
    out = {"benchmark": "serving", "candidates": int(scores.size)}
    for m, prefix in ((model, ""), (single, "float32_")):
        times = np.array(latencies[m][50:]) * 1e3  # the first turn warms up
        out.update({f"{prefix}p50_ms": float(np.percentile(times, 50)), f"{prefix}p99_ms": float(np.percentile(times, 99))})
    batch = spec.transform(candidates)
    out["float32_max_score_difference"] = float(np.abs(single.predict_proba(batch) - model.predict_proba(batch)).max())
    return out


def bench_out_of_core(args) -> dict:
    """Write a CSV of ``args.rows`` rows in chunks, then train on it one chunk at a time."""
    from wdnumpy.datasets import iter_csv
    from wdnumpy.features import Crossed, FeatureSpec, Hashed, Numeric
    rng = np.random.default_rng(0)
    path = Path(args.workdir or tempfile.gettempdir()) / f"clicks_{args.rows}.csv"
    n_cat, n_num, chunk = 8, 4, 200_000
    vocab = np.geomspace(100, 100_000, n_cat).astype(np.int64)
    effect = [np.random.default_rng(f).normal(0, 0.5, v) for f, v in enumerate(vocab)]
    started = time.perf_counter()
    if not path.exists():
        with open(path, "w") as f:
            f.write(",".join([f"c{i}" for i in range(n_cat)] + [f"n{i}" for i in range(n_num)] + ["click"]) + "\n")
            for first in range(0, args.rows, chunk):
                n = min(chunk, args.rows - first)
                ids = (vocab * rng.random((n, n_cat)) ** 3).astype(np.int64)
                counts = rng.poisson(3.0, (n, n_num))
                z = -1.0 + sum(effect[c][ids[:, c]] for c in range(n_cat)) + 0.1 * (counts[:, 0] - 3)
                click = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
                table = np.concatenate([ids, counts, click[:, None]], axis=1)
                np.savetxt(f, table, fmt="%d", delimiter=",")
    write_seconds = time.perf_counter() - started
    columns = [Hashed(f"c{i}", buckets=2 ** 18) for i in range(n_cat)]
    columns += [Numeric(f"n{i}", normalization="standard", log1p=True) for i in range(n_num)]
    columns += [Crossed(f"c{i}_x_c{i + 1}", [f"c{i}", f"c{i + 1}"], buckets=2 ** 20) for i in range(0, n_cat, 2)]
    spec = FeatureSpec(columns, wide=[c.name for c in columns if not isinstance(c, Numeric)],
                       embeddings={f"c{i}": 8 for i in range(n_cat)}, continuous=[f"n{i}" for i in range(n_num)])
    model, optimizer = None, Adam()
    rows_read, labels_seen, started = 0, 0.0, time.perf_counter()
    for columns_chunk in iter_csv(path, chunk_rows=chunk):
        labels = columns_chunk.pop("click").astype(np.float64)
        if model is None:  # fit the numeric statistics on the first chunk
            spec.fit(columns_chunk)
            model = WideDeep(**spec.model_kwargs(), hidden=(100, 50), seed=0)
        train(model, spec.transform(columns_chunk, labels), optimizer, epochs=1, batch_size=1024, seed=rows_read)
        rows_read += labels.size
        labels_seen += labels.sum()
    seconds = time.perf_counter() - started
    return {"benchmark": "out-of-core", "rows": rows_read, "file_mb": path.stat().st_size / 2 ** 20,
            "write_seconds": write_seconds, "train_seconds": seconds, "rows_per_second": rows_read / seconds,
            "peak_memory_mb": peak_memory_mb()}


BENCHMARKS = {"adult": bench_adult, "table-size": bench_table_size, "million": bench_million,
              "float32": bench_float32, "serving": bench_serving, "out-of-core": bench_out_of_core,
              "threads": bench_threads, "breakdown": bench_breakdown}


def run_all(args) -> None:
    results = []
    for name, extra in [("adult", []), ("table-size", []), ("million", []), ("million", ["--float32"]),
                        ("float32", []), ("serving", []), ("out-of-core", ["--rows", str(args.rows)]),
                        ("threads", []), ("breakdown", [])]:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1") if name == "serving" else \
            {"OPENBLAS_NUM_THREADS": "1", **os.environ}  # wdnumpy's default, unless the caller set one
        out = subprocess.run([sys.executable, __file__, name, *extra], capture_output=True, text=True, env=env)
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            raise SystemExit(f"benchmark {name} failed")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    info = {"machine": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "results": results}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "performance.json").write_text(json.dumps(info, indent=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=[*BENCHMARKS, "all"])
    parser.add_argument("--float32", action="store_true", help="million: train in float32")
    parser.add_argument("--rows", type=int, default=10_000_000, help="out-of-core: rows in the CSV")
    parser.add_argument("--rows-million", type=int, default=1_000_000, help="float32: rows of the click log")
    parser.add_argument("--workdir", help="out-of-core: where to write the CSV (default: the temp folder)")
    args = parser.parse_args()
    if args.benchmark == "all":
        run_all(args)
    else:
        print(json.dumps(BENCHMARKS[args.benchmark](args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
