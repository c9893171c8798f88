"""Reproduce the README's training table: wide, deep, joint W&D and an ensemble on Adult and the
app store, and joint versus ensemble for several sizes of the wide part.

    python benchmarks/training_figures.py            # all tables, about two minutes on 2 cores
    python benchmarks/training_figures.py --quick    # 2 epochs, to check the script runs

Writes the tables as Markdown to standard output and every figure to
benchmarks/results/training_figures.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from wdnumpy.runs import train_and_evaluate  # noqa: E402

KINDS = ("wide", "deep", "wide_deep", "ensemble")
WIDE_SIZES = {"adult": (10, 100, 1000, 10_000), "app_store": (2 ** 8, 2 ** 11, 2 ** 14, 2 ** 17)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs instead of 10")
    parser.add_argument("--optimizer", default="paper")
    args = parser.parse_args()
    epochs = 2 if args.quick else 10
    rows = []
    started = time.perf_counter()
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}, "
          f"NumPy {np.__version__}; optimizer {args.optimizer}, {epochs} epochs, batch 256, hidden 100,50, "
          "8-dim embeddings, seed 0\n")

    for data in ("adult", "app_store"):
        print(f"### {data}\n")
        extra = " | Bayes AUC | AUC seen pairs | AUC unseen pairs" if data == "app_store" else ""
        print(f"| model | AUC | accuracy | log loss | s/epoch | parameters{extra} |")
        print("|---" * (6 + (3 if extra else 0)) + "|")
        for kind in KINDS:
            _, _, r = train_and_evaluate(data, kind, epochs=epochs, optimizer=args.optimizer)
            rows.append(r)
            line = (f"| {kind} | {r['auc']:.4f} | {r['accuracy']:.4f} | {r['logloss']:.4f} | "
                    f"{r['seconds_per_epoch']:.2f} | {r['params']:,}")
            if data == "app_store":
                line += (f" | {r['bayes_auc']:.4f} | {r['auc_seen']:.4f} (Bayes {r['bayes_auc_seen']:.4f}) | "
                         f"{r['auc_unseen']:.4f} (Bayes {r['bayes_auc_unseen']:.4f})")
            print(line + " |", flush=True)
        print()

    for data, sizes in WIDE_SIZES.items():
        print(f"### joint versus ensemble by size of the wide part ({data}: hash buckets per cross)\n")
        print("| buckets per cross | joint AUC | ensemble AUC | joint log loss | ensemble log loss |")
        print("|---|---|---|---|---|")
        for buckets in sizes:
            found = {}
            for kind in ("wide_deep", "ensemble"):
                _, _, r = train_and_evaluate(data, kind, epochs=epochs, optimizer=args.optimizer,
                                             cross_buckets=buckets)
                rows.append({**r, "cross_buckets": buckets})
                found[kind] = r
            print(f"| {buckets:,} | {found['wide_deep']['auc']:.4f} | {found['ensemble']['auc']:.4f} | "
                  f"{found['wide_deep']['logloss']:.4f} | {found['ensemble']['logloss']:.4f} |", flush=True)
        print()

    out = Path(__file__).resolve().parent / "results" / "training_figures.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"epochs": epochs, "optimizer": args.optimizer, "machine": platform.machine(),
                               "rows": rows}, indent=1))
    print(f"({time.perf_counter() - started:.0f} s; figures in {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
