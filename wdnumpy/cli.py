"""Command line: ``python -m wdnumpy {train,predict,explain}``.

    python -m wdnumpy train --data adult --model wide_deep --epochs 10 --save adult.npz
    python -m wdnumpy predict --model adult.npz --csv rows.csv > probabilities.csv
    python -m wdnumpy explain --model adult.npz --csv rows.csv --row 0
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .datasets import read_csv
from .explain import explain
from .io import atomic_write, load_model, save_model
from .optim import OPTIMIZERS
from .runs import train_and_evaluate
from .train import KINDS


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not (np.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def probability(text: str) -> float:
    value = non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {text!r}")
    return value


def hidden_widths(text: str) -> tuple:
    """'100,50' → (100, 50); '' or 'none' → () (no hidden layer)."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(positive_int(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive widths such as 100,50, got {text!r}") \
            from None


def run_train(args) -> int:
    say = (lambda *a, **k: print(*a, **k, file=sys.stderr)) if args.json else print
    model, spec, result = train_and_evaluate(
        args.data, args.model, args.epochs, args.batch_size, args.seed, args.optimizer, args.hidden,
        args.embedding_dim, args.lr, np.float32 if args.float32 else np.float64, dropout=args.dropout,
        l2=args.l2, log=say)
    if args.save:
        save_model(args.save, model, spec, metadata=result)
        say(f"saved to {args.save}")
    summary = ", ".join(f"{k} {result[k]:.4f}" for k in ("auc", "accuracy", "logloss", "seconds_per_epoch"))
    say(f"test: {summary}" + (f", Bayes-optimal AUC {result['bayes_auc']:.4f}" if "bayes_auc" in result else ""))
    if args.json:
        print(json.dumps(result))
    return 0


def _load_for_rows(args):
    model, spec, _ = load_model(args.model)
    if spec is None:
        raise ValueError(f"{args.model}: the model was saved without a feature spec, so raw CSV rows cannot be read")
    return model, spec, read_csv(args.csv)


def run_predict(args) -> int:
    model, spec, columns = _load_for_rows(args)
    probability = model.predict_proba(spec.transform(columns))
    lines = ["probability"] + [f"{p:.6f}" for p in probability]
    if not args.out:
        print("\n".join(lines))
        return 0
    atomic_write(args.out, lambda f: f.write(("\n".join(lines) + "\n").encode("utf-8")))
    return 0


def run_explain(args) -> int:
    model, spec, columns = _load_for_rows(args)
    print(explain(model, spec, columns, args.row))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wdnumpy", description="Wide & Deep in NumPy.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train on a bundled data set and report test metrics")
    p.add_argument("--data", choices=("adult", "app_store"), default="adult")
    p.add_argument("--model", choices=KINDS, default="wide_deep")
    p.add_argument("--epochs", type=positive_int, default=10)
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="paper")
    p.add_argument("--hidden", type=hidden_widths, default=(100, 50), help="hidden widths, e.g. 100,50")
    p.add_argument("--embedding-dim", type=positive_int, default=8)
    p.add_argument("--lr", type=positive_float, default=None, help="learning rate (default: the optimizer's)")
    p.add_argument("--dropout", type=probability, default=0.0,
                   help="drop probability after each hidden layer in training (default 0: off)")
    p.add_argument("--l2", type=non_negative_float, default=0.0, help="L2 penalty on the deep weights (default 0)")
    p.add_argument("--float32", action="store_true", help="train in single precision")
    p.add_argument("--save", metavar="PATH", help="write the trained model and its feature spec here (.npz)")
    p.add_argument("--json", action="store_true", help="end with one JSON line of results (progress to stderr)")
    p.set_defaults(run=run_train)

    p = sub.add_parser("predict", help="write P(Y=1) for each row of a CSV")
    p.add_argument("--model", required=True, metavar="PATH")
    p.add_argument("--csv", required=True, metavar="FILE")
    p.add_argument("--out", metavar="FILE", help="output CSV (default: standard output)")
    p.set_defaults(run=run_predict)

    p = sub.add_parser("explain", help="split one row's logit into bias, wide weights and deep logit")
    p.add_argument("--model", required=True, metavar="PATH")
    p.add_argument("--csv", required=True, metavar="FILE")
    p.add_argument("--row", required=True, type=non_negative_int, help="0-based data row of the CSV")
    p.set_defaults(run=run_explain)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:  # bad files and values: a message, not a traceback
        print(f"error: {error}", file=sys.stderr)
        return 1
