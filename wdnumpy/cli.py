"""Command line: ``python -m wdnumpy {train,predict,explain}``.

    python -m wdnumpy train --data adult --model wide_deep --epochs 10 --save adult.npz
    python -m wdnumpy predict --model adult.npz --csv rows.csv > probabilities.csv
    python -m wdnumpy explain --model adult.npz --csv rows.csv --row 0
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from .datasets import adult_spec, app_store_spec, load_adult, make_app_store, read_csv
from .explain import explain
from .io import load_model, save_model
from .metrics import evaluate, roc_auc
from .optim import OPTIMIZERS
from .train import KINDS, make_model, train


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
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
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


def load_data(name: str, embedding_dim: int = 8, cross_buckets: int | None = None):
    """(spec, train columns, train labels, test columns, test labels, app store or None) of a bundled data set."""
    buckets = {} if cross_buckets is None else {"cross_buckets": cross_buckets}
    if name == "adult":
        train_columns, train_labels = load_adult("train")
        test_columns, test_labels = load_adult("test")
        return adult_spec(embedding_dim, **buckets), train_columns, train_labels, test_columns, test_labels, None
    store = make_app_store(seed=0)
    return app_store_spec(embedding_dim, **buckets), store.train, store.train_labels, store.test, \
        store.test_labels, store


def train_and_evaluate(data: str = "adult", model: str = "wide_deep", epochs: int = 10, batch_size: int = 256,
                       seed: int = 0, optimizer: str = "paper", hidden=(100, 50), embedding_dim: int = 8,
                       lr: float | None = None, dtype=np.float64, cross_buckets: int | None = None, log=None):
    """Fit the data set's spec, train a model of kind ``model`` and score it on the test split.

    Returns
    -------
    model, spec, result : result holds data, model, auc, accuracy, logloss,
        seconds_per_epoch, epochs, params (and for the app store bayes_auc and
        the AUC of each test slice, with its Bayes-optimal value)
    """
    spec, train_columns, train_labels, test_columns, test_labels, store = load_data(data, embedding_dim,
                                                                                    cross_buckets)
    spec.fit(train_columns)
    train_batch = spec.transform(train_columns, train_labels)
    test_batch = spec.transform(test_columns, test_labels)
    trained = make_model(model, spec, hidden=hidden, seed=seed, dtype=dtype)
    if log:
        log(f"{model} on {data}: {len(train_labels)} training rows, {len(test_labels)} test rows, "
            f"{trained.n_params} parameters, optimizer {optimizer}")
    history = train(trained, train_batch, optimizer, epochs=epochs, batch_size=batch_size, seed=seed, lr=lr,
                    verbose=log is not None, log=log or print)
    histories = history if isinstance(history, dict) else {model: history}
    probability = trained.predict_proba(test_batch)
    result = {"data": data, "model": model, **evaluate(test_labels, probability),
              "seconds_per_epoch": sum(h.seconds_per_epoch for h in histories.values()),
              "epochs": epochs, "params": trained.n_params, "optimizer": optimizer, "seed": seed}
    if store is not None:
        result["bayes_auc"] = roc_auc(test_labels, store.test_prob)
        for part in ("seen", "unseen", "none"):
            rows = store.test_slice == part
            result[f"auc_{part}"] = roc_auc(test_labels[rows], probability[rows])
            result[f"bayes_auc_{part}"] = roc_auc(test_labels[rows], store.test_prob[rows])
    return trained, spec, result


def run_train(args) -> int:
    say = (lambda *a, **k: print(*a, **k, file=sys.stderr)) if args.json else print
    model, spec, result = train_and_evaluate(
        args.data, args.model, args.epochs, args.batch_size, args.seed, args.optimizer, args.hidden,
        args.embedding_dim, args.lr, np.float32 if args.float32 else np.float64, log=say)
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
    out = Path(args.out)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")  # a crash never leaves a half-written file
    try:
        temporary.write_text("\n".join(lines) + "\n")
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
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
