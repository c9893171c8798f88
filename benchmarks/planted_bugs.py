"""Planted bugs: does the test suite catch realistic mistakes? (a developer tool: not part of CI)

A mutation score says how many *mechanical* changes (``<`` to ``<=``, a constant
plus one) the tests notice. This script is an independent check of the same
thing with the kind of bugs people actually write: an off-by-one in early
stopping, an optimizer state read with ``take`` and never written back, a
command-line option parsed but not passed on, a warm start that maps ids by
position instead of by value. Each bug was chosen by reading the library's code
and documentation only (``wdnumpy/``, ``README.md``), never the tests, and each
changes behaviour that a docstring or the README promises.

Each bug is one textual replacement in one file: ``(id, file, old text, new
text, description)``. The old text must occur exactly once in the file. For
every bug the runner copies the files git tracks (as they are in the working
tree) to a temporary folder, applies the replacement there (the checkout itself
is never touched), and runs the fast test suite in that copy::

    python -m pytest -q -x -p no:cacheprovider --ignore=tests/test_notebooks.py

with one BLAS thread and a timeout. The bug is *caught* if the tests fail,
*missed* if they pass, *timeout* if they run too long, and *broken* if its old
text no longer occurs exactly once (the code moved on: update the bug). Two
*controls* change nothing the library does (a local variable renamed within one
line); they should be missed, and the caught rate counts only the other bugs.
Before the bugs, an unchanged copy is tested once (``--no-baseline`` skips it):
if it fails, every bug would look caught, so the run stops. The copies are of
the working tree, uncommitted edits included, taken when each bug's run starts:
someone editing a test during a run can fail the baseline or a bug's run.

Usage, from the repository's root::

    python benchmarks/planted_bugs.py                       # every bug, one at a time
    python benchmarks/planted_bugs.py --only optim-adam-beta-mixup train-best-params-alias
    python benchmarks/planted_bugs.py --list                # the bugs, without running anything
    python benchmarks/planted_bugs.py --jobs 2 --json /tmp/planted.json

A full run takes one test-suite run per bug (most caught bugs stop at the first
failure, a missed one runs the whole suite): about half an hour on two cores.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--ignore=tests/test_notebooks.py"]


@dataclass(frozen=True)
class Bug:
    id: str
    file: str
    old: str
    new: str
    description: str
    control: bool = False

    @property
    def module(self) -> str:
        """The group the bug counts in: the file's name without ``wdnumpy/`` and ``.py``."""
        return self.file.removeprefix("wdnumpy/").removesuffix(".py")


BUGS = [
    # -- training loop (train.py) -------------------------------------------------------------------
    Bug("train-early-stop-late", "wdnumpy/train.py",
        "self.waited >= self.patience",
        "self.waited > self.patience",
        "early stopping waits one epoch more than `patience` epochs without improvement"),
    Bug("train-best-params-alias", "wdnumpy/train.py",
        "best_params = {k: v.copy() for k, v in model.params.items()}",
        "best_params = dict(model.params)",
        "the best epoch's weights are kept as views, so early stopping restores the last epoch's weights"),
    Bug("train-drop-last-batch", "wdnumpy/train.py",
        "for first in range(0, len(rows), batch_size):",
        "for first in range(0, len(rows) - batch_size + 1, batch_size):",
        "an epoch skips the last, partial mini-batch (data smaller than a batch is never trained on)"),
    Bug("train-same-shuffle", "wdnumpy/train.py",
        "order = rng.permutation(n)",
        "order = np.random.default_rng(seed).permutation(n)",
        "every epoch visits the rows in the same shuffled order instead of a new one"),
    Bug("train-ensemble-shared-optimizer", "wdnumpy/train.py",
        "copy.deepcopy(optimizer), epochs",
        "optimizer, epochs",
        "the ensemble's members share one optimizer (and its state) instead of each its own copy"),

    # -- optimizers (optim.py) ----------------------------------------------------------------------
    Bug("optim-adagrad-lazy-state", "wdnumpy/optim.py",
        "        if not isinstance(index, slice):\n            state[\"accumulator\"][index] = accumulator\n",
        "",
        "AdaGrad's lazy update never writes the touched rows' accumulator back (rows_of gave a copy)"),
    Bug("optim-adam-beta-mixup", "wdnumpy/optim.py",
        "step = self.lr * correction / (1 - self.beta1 ** self.steps)",
        "step = self.lr * correction / (1 - self.beta2 ** self.steps)",
        "Adam's first-moment bias correction uses beta2 instead of beta1"),
    Bug("optim-ftrl-cold-state", "wdnumpy/optim.py",
        "z = -param * ((self.beta + np.sqrt(n)) / self.alpha + self.l2) - np.sign(param) * self.l1",
        "z = np.zeros_like(param)",
        "FTRL starts z at 0, so the first step of a warm-started model throws its weights away"),
    Bug("optim-perpart-bias", "wdnumpy/optim.py",
        "if not n.startswith(\"wide.\")})",
        "if n.startswith(\"deep.\")})",
        "PerPart gives the deep optimizer only deep.* gradients: the shared bias is never trained"),
    Bug("optim-make-adam-lr", "wdnumpy/optim.py",
        "return Adam(lr or 0.001)",
        "return Adam(0.001)",
        "make_optimizer('adam', lr) ignores the learning rate it was given"),

    # -- features -----------------------------------------------------------------------------------
    Bug("features-min-count-strict", "wdnumpy/features/vocabulary.py",
        "uniques[counts >= min_count]",
        "uniques[counts > min_count]",
        "a value seen exactly min_count times is left out of the vocabulary"),
    Bug("features-missing-in-vocabulary", "wdnumpy/features/vocabulary.py",
        "np.unique(text[~missing_mask(text)], return_counts=True)",
        "np.unique(text, return_counts=True)",
        "missing values ('', '?', NA) get a vocabulary id instead of the out-of-vocabulary id 0"),
    Bug("features-unseen-neighbour-id", "wdnumpy/features/vocabulary.py",
        "return np.where(values[at] == text, ids[at], 0)",
        "return ids[at]",
        "an unseen value takes the id of its sorted neighbour instead of the out-of-vocabulary id 0"),
    Bug("features-quantile-boundary-side", "wdnumpy/features/numeric.py",
        "return np.searchsorted(boundaries, x, side=\"right\") / (n_quantiles - 1)",
        "return np.searchsorted(boundaries, x, side=\"left\") / (n_quantiles - 1)",
        "a value on a quantile boundary is put in the quantile below it instead of above"),
    Bug("features-bucketized-boundary-side", "wdnumpy/features/numeric.py",
        "ids = np.searchsorted(self.boundaries, x, side=\"right\")",
        "ids = np.searchsorted(self.boundaries, x, side=\"left\")",
        "Bucketized puts a value equal to a boundary in the bucket below (documented: b[i-1] <= x < b[i])"),
    Bug("features-fill-mean-median-swapped", "wdnumpy/features/numeric.py",
        "if self.fill == \"mean\" else np.median(present)",
        "if self.fill == \"median\" else np.median(present)",
        "fill='mean' fills with the median and fill='median' with the mean"),
    Bug("features-cross-key-symmetric", "wdnumpy/features/hashing.py",
        "return mix64(mix64(a) ^ b)",
        "return mix64(a ^ b)",
        "combine_keys(a, b) == combine_keys(b, a): a x b and b x a become the same cross"),
    Bug("features-cross-oov-bucket-ignored", "wdnumpy/features/crossed.py",
        "crossed.ids = np.where(crossed.oov_mask(), 0, hashed)",
        "crossed.ids = hashed",
        "with oov_bucket=True a cross with an unseen part is hashed like a seen one, not sent to id 0"),
    Bug("features-missing-bag-not-empty", "wdnumpy/features/values.py",
        "[] if v is None or text_of(v) in MISSING else",
        "[] if v is None else",
        "a missing bag ('' or '?') becomes a bag holding that one value instead of an empty bag"),

    # -- model and layers ---------------------------------------------------------------------------
    Bug("layers-dropout-at-eval", "wdnumpy/layers.py",
        "if not training or p == 0:",
        "if p == 0:",
        "dropout also drops units when predicting (training=False)"),
    Bug("layers-mean-pool-backward-unscaled", "wdnumpy/layers.py",
        "weight = bags.data if scale is None else bags.data * scale[row_of_entry]",
        "weight = bags.data",
        "the backward of mean pooling forgets to divide by the bag's size"),
    Bug("model-l2-on-biases", "wdnumpy/model.py",
        "return tuple(layer.weight for layer in self.tower if isinstance(layer, Affine))",
        "return tuple(name for layer in self.tower if isinstance(layer, Affine) for name in layer.param_names)",
        "the L2 penalty also applies to the hidden layers' biases (documented: weight matrices only)"),
    Bug("model-id-dropout-oov-row-random", "wdnumpy/model.py",
        "                if self.id_dropout_rate(f):\n"
        "                    table[f.oov_id] = 0  # an unseen value starts as no information\n",
        "",
        "with id_dropout the OOV embedding row keeps its random start instead of starting at zero"),

    # -- saving and loading (io.py, files.py) -------------------------------------------------------
    Bug("io-ensemble-combine-not-saved", "wdnumpy/io.py",
        "            \"combine\": getattr(model, \"combine\", None),\n",
        "",
        "an ensemble's combine rule is not saved, so a loaded ensemble sums the logits"),
    Bug("io-metadata-not-saved", "wdnumpy/io.py",
        "\"metadata\": metadata or {}}",
        "\"metadata\": {}}",
        "save_model drops the metadata it was given; load_model returns an empty dict"),
    Bug("files-stale-temporaries-kept", "wdnumpy/files.py",
        "    _remove_stale_temporaries(target, prefix)\n",
        "",
        "temporary files left by a killed save are never removed by the next save"),
    Bug("files-symlink-replaced", "wdnumpy/files.py",
        "target = Path(os.path.realpath(text))",
        "target = Path(os.path.abspath(text))",
        "writing through a symlink replaces the link itself instead of its target"),

    # -- warm start ---------------------------------------------------------------------------------
    Bug("warmstart-wide-old-offset", "wdnumpy/warmstart.py",
        "old[\"wide.w\"][old_offsets[column] + old_ids]",
        "old[\"wide.w\"][offset + old_ids]",
        "wide weights are read from the old model at the new spec's offsets (wrong when blocks moved)"),
    Bug("warmstart-ids-by-position", "wdnumpy/features/vocabulary.py",
        "(i, old_index[v])",
        "(i, i)",
        "warm start matches vocabulary ids by position instead of by value"),

    # -- ensemble, explain, metrics, splits ---------------------------------------------------------
    Bug("ensemble-mean-logit-sums", "wdnumpy/ensemble.py",
        "return 0.5, 0.5, 0.0",
        "return 1.0, 1.0, 0.0",
        "combine='mean_logit' sums the members' logits instead of averaging them"),
    Bug("ensemble-stacking-columns-swapped", "wdnumpy/ensemble.py",
        "X = np.column_stack([z[\"wide\"], z[\"deep\"], np.ones(len(batch))])",
        "X = np.column_stack([z[\"deep\"], z[\"wide\"], np.ones(len(batch))])",
        "fit_stacking fits (b, a, c): the wide member's coefficient is applied to the deep logit"),
    Bug("explain-ensemble-deep-unscaled", "wdnumpy/explain.py",
        "deep = deep_scale * float(deep_model.trace(batch).deep_logit[0]) if deep_model else 0.0",
        "deep = float(deep_model.trace(batch).deep_logit[0]) if deep_model else 0.0",
        "an ensemble's explanation leaves the deep term unweighted, so the terms do not add up to the logit"),
    Bug("metrics-auc-ties-lowest-rank", "wdnumpy/metrics.py",
        "ranks = (before + (counts + 1) / 2)[tie_group]",
        "ranks = (before + 1)[tie_group]",
        "tied predictions get the lowest rank of their group instead of the average (a tie is not half)"),
    Bug("metrics-accuracy-strict-threshold", "wdnumpy/metrics.py",
        "(p >= threshold)",
        "(p > threshold)",
        "accuracy counts p == threshold as a prediction of 0 (documented: p >= threshold is 1)"),
    Bug("splits-test-size-truncated", "wdnumpy/splits.py",
        "n_test = min(n - 1, max(1, int(round(n * test_fraction))))",
        "n_test = int(n * test_fraction)",
        "the test part is truncated, not rounded, and may be empty (documented: at least one row each)"),

    # -- command line and runs ----------------------------------------------------------------------
    Bug("cli-dropout-not-passed", "wdnumpy/cli.py",
        "dropout=args.dropout, l2=args.l2,",
        "l2=args.l2,",
        "`train --dropout` is parsed but never reaches the model"),
    Bug("runs-split-seed-not-passed", "wdnumpy/runs.py",
        "split(columns, labels, by, column, fraction, seed)",
        "split(columns, labels, by, column, fraction)",
        "train_csv's random split ignores the seed (documented: seeded by seed)"),

    # -- serving, retraining, CSV files, spec files, batches ----------------------------------------
    Bug("serving-last-rows-dropped", "wdnumpy/serving.py",
        "bounds = np.linspace(0, n, parts + 1).astype(int)",
        "bounds = np.arange(parts + 1) * (n // parts)",
        "a request cut into parts that do not divide it loses its last rows"),
    Bug("retraining-gate-logloss-sign", "wdnumpy/retraining.py",
        "if candidate[\"logloss\"] > serving[\"logloss\"] + tolerance:",
        "if candidate[\"logloss\"] > serving[\"logloss\"] - tolerance:",
        "the dry run blocks a candidate whose log loss is within the tolerance of the serving model's"),
    Bug("csv-threshold-strict", "wdnumpy/csvfiles.py",
        "(parse_numbers(values, column) >= threshold)",
        "(parse_numbers(values, column) > threshold)",
        "threshold= labels a value equal to the threshold 0 (documented: >= threshold is 1)"),
    Bug("csv-blank-lines-not-skipped", "wdnumpy/csvfiles.py",
        "if not fields or (len(fields) == 1 and not fields[0].strip()):",
        "if not fields:",
        "a line of spaces is read as a row with one field instead of being skipped as blank"),
    Bug("specfiles-hash-buckets-halved", "wdnumpy/specfiles.py",
        "1 << int(np.ceil(np.log2(2 * distinct)))",
        "1 << int(np.ceil(np.log2(distinct)))",
        "draft_spec hashes into about as many buckets as values, not about twice as many"),
    Bug("batch-negative-labels-accepted", "wdnumpy/batch.py",
        "bad = ~((y == 0) | (y == 1))",
        "bad = y > 1",
        "validate accepts labels such as -1 or 0.5 (documented: labels must be 0 or 1)"),

    # -- controls: cannot change behaviour, should be missed -----------------------------------------
    Bug("control-hashed-rename", "wdnumpy/features/hashed.py",
        "return [f\"{self.name}={value}\" for value in self._text(data)]",
        "return [f\"{self.name}={text}\" for text in self._text(data)]",
        "control: a comprehension's variable renamed", control=True),
    Bug("control-explain-rename", "wdnumpy/explain.py",
        "return self.bias + sum(c for _, c in self.wide) + self.deep",
        "return self.bias + sum(term for _, term in self.wide) + self.deep",
        "control: a generator's variable renamed", control=True),
]


def tracked_files(root: Path) -> list:
    """The paths git tracks in ``root`` (relative), those present in the working tree."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, check=True, capture_output=True).stdout
    return [p for p in out.decode("utf-8").split("\0") if p and (root / p).is_file()]


def copy_checkout(root: Path, files: list, into: Path) -> None:
    for relative in files:
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target)


def check_bug(root: Path, bug: Bug) -> str | None:
    """None if the bug applies to the checkout as it is, else why not."""
    path = root / bug.file
    if not path.is_file():
        return f"{bug.file} does not exist"
    count = path.read_text(encoding="utf-8").count(bug.old)
    if count != 1:
        return f"the old text occurs {count} times in {bug.file} (expected once)"
    if bug.old == bug.new:
        return "the new text is the old text"
    return None


def first_failure(output: str) -> str:
    """The first FAILED/ERROR line of pytest's short summary, or its last line."""
    lines = [line for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("FAILED ", "ERROR ")):
            return line
    return lines[-1] if lines else ""


def run_tests(copy: Path, timeout: float) -> tuple:
    """(result, seconds, detail) of the fast test suite in ``copy``."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)  # `python -m pytest` in the copy imports the copy's wdnumpy
    started = time.perf_counter()
    process = subprocess.Popen(PYTEST, cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the whole group: pytest and anything it started
        process.communicate()
        return "timeout", time.perf_counter() - started, f"no result after {timeout:g} s"
    seconds = time.perf_counter() - started
    if process.returncode == 0:
        return "missed", seconds, first_failure(output)
    return "caught", seconds, f"exit {process.returncode}: {first_failure(output)}"


def run_one(root: Path, files: list, bug: Bug | None, timeout: float) -> dict:
    """Copy the checkout, plant ``bug`` (None: the unchanged baseline) and run the tests."""
    record = {"id": "baseline" if bug is None else bug.id}
    if bug is not None:
        record.update(module=bug.module, file=bug.file, description=bug.description, control=bug.control)
        problem = check_bug(root, bug)
        if problem:
            return {**record, "result": "broken", "seconds": 0.0, "detail": problem}
    with tempfile.TemporaryDirectory(prefix="planted-") as folder:
        copy = Path(folder)
        copy_checkout(root, files, copy)
        if bug is not None:
            path = copy / bug.file
            path.write_text(path.read_text(encoding="utf-8").replace(bug.old, bug.new), encoding="utf-8")
        result, seconds, detail = run_tests(copy, timeout)
    return {**record, "result": result, "seconds": round(seconds, 1), "detail": detail}


def summary(records: list) -> dict:
    """Caught / counted over the non-control bugs that ran (not broken), overall and per module."""
    per_module = {}
    for r in records:
        if r.get("control") or r["result"] == "broken":
            continue
        caught, total = per_module.get(r["module"], (0, 0))
        per_module[r["module"]] = (caught + (r["result"] == "caught"), total + 1)
    caught = sum(c for c, _ in per_module.values())
    total = sum(t for _, t in per_module.values())
    return {"caught": caught, "total": total, "rate": caught / total if total else None,
            "per_module": {m: {"caught": c, "total": t} for m, (c, t) in sorted(per_module.items())},
            "controls": {r["id"]: r["result"] for r in records if r.get("control")},
            "broken": [r["id"] for r in records if r["result"] == "broken"]}


def print_table(records: list) -> None:
    width_id = max(len(r["id"]) for r in records)
    width_module = max(len(r.get("module", "")) for r in records)
    print(f"{'id':<{width_id}}  {'module':<{width_module}}  {'result':<8}  {'s':>5}  description")
    for r in records:
        print(f"{r['id']:<{width_id}}  {r.get('module', ''):<{width_module}}  {r['result']:<8}  "
              f"{r['seconds']:>5.0f}  {r.get('description', '')}{' [control]' if r.get('control') else ''}")
        if r["result"] in ("broken", "timeout"):
            print(f"{'':<{width_id}}  {'':<{width_module}}  -> {r['detail']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these bugs")
    parser.add_argument("--jobs", type=int, default=1, help="bugs tested at once (default 1)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per test run (default 600)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    parser.add_argument("--list", action="store_true", help="list the bugs (and whether they apply), run nothing")
    parser.add_argument("--no-baseline", action="store_true", help="skip the test run of the unchanged copy")
    args = parser.parse_args(argv)

    ids = [b.id for b in BUGS]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        parser.error(f"bug ids must be distinct: {duplicates}")
    bugs = BUGS
    if args.only:
        unknown = sorted(set(args.only) - set(ids))
        if unknown:
            parser.error(f"unknown bug ids {unknown}; see --list")
        bugs = [b for b in BUGS if b.id in args.only]
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")

    if args.list:
        for b in bugs:
            problem = check_bug(ROOT, b)
            flag = "control" if b.control else ""
            print(f"{b.id:<36} {b.file:<32} {flag:<8} {b.description}" + (f"  [BROKEN: {problem}]" if problem else ""))
        return 0

    files = tracked_files(ROOT)
    if not args.no_baseline:
        print("baseline: the unchanged checkout ...", flush=True)
        base = run_one(ROOT, files, None, args.timeout)
        print(f"baseline: {'tests pass' if base['result'] == 'missed' else base['result']} "
              f"({base['seconds']:.0f} s)", flush=True)
        if base["result"] != "missed":
            print(f"the tests fail without any planted bug ({base['detail']}); fix that first", file=sys.stderr)
            return 1

    def run(bug):
        record = run_one(ROOT, files, bug, args.timeout)
        print(f"  {record['id']}: {record['result']} ({record['seconds']:.0f} s)", flush=True)
        return record

    print(f"{len(bugs)} planted bugs, {args.jobs} at a time", flush=True)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        records = list(pool.map(run, bugs))

    print()
    print_table(records)
    totals = summary(records)
    print()
    if totals["total"]:
        print(f"caught {totals['caught']} of {totals['total']} non-control bugs: {100 * totals['rate']:.1f}%")
    for module, counts in totals["per_module"].items():
        print(f"  {module:<24} {counts['caught']}/{counts['total']}")
    for control, result in totals["controls"].items():
        note = "" if result == "missed" else "  <- a control should be missed: check the baseline"
        print(f"control {control}: {result}{note}")
    if totals["broken"]:
        print(f"broken (old text not found once; update these bugs): {', '.join(totals['broken'])}")
    missed = [r["id"] for r in records if r["result"] == "missed" and not r.get("control")]
    if missed:
        print(f"missed: {' '.join(missed)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"records": records, "summary": totals}, indent=1) + "\n",
                                   encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
