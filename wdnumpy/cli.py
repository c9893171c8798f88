"""Command line: ``python -m wdnumpy {train,predict,explain,spec,experiment}``.

    python -m wdnumpy train --data adult --model wide_deep --epochs 10 --save adult.npz
    python -m wdnumpy spec --csv ratings.csv --label rating --out spec.json
    python -m wdnumpy train --csv ratings.csv --spec spec.json --label rating --threshold 4 \
        --split time:timestamp:0.2 --save model.npz
    python -m wdnumpy predict --model adult.npz --csv rows.csv > probabilities.csv
    python -m wdnumpy explain --model adult.npz --csv rows.csv --row 0
    python -m wdnumpy experiment --days 3 --users 5000 --seed 0

User errors never print a traceback: a usage error exits 2, a problem with a
file or its data exits 1, each with one line that names the argument, file,
column or row.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from .csvfiles import iter_csv, read_csv
from .explain import explain
from .files import atomic_write, check_output_path
from .io import load_model, save_model
from .optim import OPTIMIZERS
from .runs import DATASETS, train_and_evaluate, train_csv
from .specfiles import draft_spec
from .splits import parse_split
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


def _number(text: str, accept, wanted: str) -> float:
    """``text`` as a finite float for which ``accept(value)`` holds; else a usage error saying ``wanted``."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (np.isfinite(value) and accept(value)):
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    return _number(text, lambda v: v > 0, "a finite positive number")


def non_negative_float(text: str) -> float:
    return _number(text, lambda v: v >= 0, "a finite number >= 0")


def probability(text: str) -> float:
    return _number(text, lambda v: 0 <= v < 1, "a probability in [0, 1)")


def finite_float(text: str) -> float:
    return _number(text, lambda v: True, "a finite number")


def rates_by_column(text: str):
    """'0.05' → 0.05 (every vocabulary column); 'user_id:0.05,item_id:0.02' → {'user_id': 0.05, ...}."""
    if ":" not in text:
        return probability(text)
    rates = {}
    for part in text.split(","):
        name, _, rate = part.partition(":")
        if not name.strip():
            raise argparse.ArgumentTypeError(f"expected RATE or COLUMN:RATE[,COLUMN:RATE], got {text!r}")
        rates[name.strip()] = probability(rate)
    return rates


def fraction(text: str) -> float:
    value = finite_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction strictly between 0 and 1, got {text!r}")
    return value


def split_spec(text: str):
    try:
        by, column, value = parse_split(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"the split's fraction must lie strictly between 0 and 1, got {text!r}")
    return by, column, value


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
    if args.save is not None:
        check_output_path(args.save, "--save")  # before any work, not after training
    common = dict(model=args.model, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                  optimizer=args.optimizer, hidden=args.hidden, lr=args.lr,
                  dtype=np.float32 if args.float32 else np.float64, dropout=args.dropout, l2=args.l2,
                  id_dropout=args.id_dropout, validation=args.validation, patience=args.patience, log=say)
    if args.csv is None:
        for option in ("spec", "label", "positive", "threshold", "split", "test"):
            if getattr(args, option) is not None:
                raise UsageError(f"--{option} needs --csv (it describes your own data, not --data)")
        model, spec, result = train_and_evaluate(args.data or "adult", embedding_dim=args.embedding_dim, **common)
    else:
        if args.data is not None:
            raise UsageError("give --data (a bundled data set) or --csv (your own file), not both")
        for option in ("spec", "label"):
            if getattr(args, option) is None:
                raise UsageError(f"--csv needs --{option}")
        if args.split is not None and args.test is not None:
            raise UsageError("give --split or --test, not both")
        model, spec, result = train_csv(args.csv, args.spec, args.label, args.positive, args.threshold,
                                        args.split, args.test, args.encoding, **common)
    if args.save is not None:
        save_model(args.save, model, spec, metadata=result)
        say(f"saved to {args.save}")
    if "auc" in result:
        summary = ", ".join(f"{k} {result[k]:.4f}" for k in ("auc", "accuracy", "logloss") if k in result)
        bayes = f", Bayes-optimal AUC {result['bayes_auc']:.4f}" if "bayes_auc" in result else ""
        say(f"test: {summary}{bayes}")
    else:
        say("no test rows (give --split or --test to score the model)")
    if args.json:
        print(json.dumps(result))
    return 0


def run_spec(args) -> int:
    check_output_path(args.out, "--out")
    sample = next(iter_csv(args.csv, chunk_rows=args.rows, encoding=args.encoding))
    if args.label is not None and args.label not in sample:
        raise ValueError(f"{args.csv}: unknown label column {args.label!r}; the file has {sorted(sample)}")
    text = json.dumps(draft_spec(sample, args.label, args.embedding_dim), indent=1) + "\n"
    write_output(args.out, text)
    return 0


def _load_for_rows(args):
    model, spec, _ = load_model(args.model)
    if spec is None:
        raise ValueError(f"{args.model}: the model was saved without a feature spec, so raw CSV rows cannot be read")
    return model, spec, read_csv(args.csv, args.encoding)


def run_predict(args) -> int:
    check_output_path(args.out, "--out")
    model, spec, columns = _load_for_rows(args)
    probability = model.predict_proba(spec.transform(columns))
    write_output(args.out, "\n".join(["probability"] + [f"{p:.6f}" for p in probability]) + "\n")
    return 0


def write_output(out: str, text: str) -> None:
    """``--out``: "-" is standard output; anything else a file written atomically."""
    if out == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        atomic_write(out, lambda f: f.write(text.encode("utf-8")), "--out")


def run_explain(args) -> int:
    model, spec, columns = _load_for_rows(args)
    print(explain(model, spec, columns, args.row))
    return 0


def run_experiment(args) -> int:
    """The paper's experiment on the app store (:mod:`wdnumpy.simulate`, :mod:`wdnumpy.serving`): the A/B
    table, ``--days`` of warm-started retraining whose last day's candidate is trained with a diverging
    learning rate (the gate should block it), and the serving latency table (always run: a few seconds)."""
    from .serving import format_latency_table, latency_table, request_columns
    from .retraining import daily_retraining, format_daily_table
    from .simulate import Setup, ab_experiment, format_ab_table

    say = (lambda *a, **k: print(*a, **k, file=sys.stderr)) if args.json else print
    setup = Setup(users=args.users)
    ab = ab_experiment(setup, args.seed)
    say(f"A/B experiment (Table 1): {args.users:,} users, {setup.queries} queries each, top {setup.k} of "
        f"{setup.candidates} candidates; 95% intervals by the normal approximation over users\n"
        + format_ab_table(ab["table"]))
    daily = daily_retraining(setup, args.days, args.seed, start=ab, bad_day=args.days)
    say(f"\nDaily retraining (§4.2), {setup.epochs} epochs a day from scratch (s) and warm-started (w); steps "
        "to reach the lowest held-out log loss both reach\n" + format_daily_table(daily["days"]))
    columns = request_columns(ab["world"], user=0, n=1000, seed=args.seed)
    serving = latency_table(ab["models"]["wide_deep"], ab["spec"], columns, requests=args.requests)
    say("\nServing one request of 1,000 candidates (Table 2)\n" + format_latency_table(serving))
    if args.json:
        table = {arm: {k: list(v) if isinstance(v, tuple) else v for k, v in row.items()}
                 for arm, row in ab["table"].items()}
        print(json.dumps({"ab": table, "daily": daily["days"], "serving": serving, "cpu_count": os.cpu_count()},
                         default=float))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wdnumpy", description="Wide & Deep in NumPy.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train on a bundled data set or your own CSV and report test metrics")
    p.add_argument("--data", choices=DATASETS, default=None, help="a bundled data set (default: adult)")
    p.add_argument("--csv", metavar="FILE", help="train on your own CSV (.csv or .csv.gz) instead; needs --spec "
                   "and --label")
    p.add_argument("--spec", metavar="FILE", help="feature spec file (.json or .toml; see `spec` to draft one)")
    p.add_argument("--label", metavar="COLUMN", help="the CSV's label column")
    labels = p.add_mutually_exclusive_group()
    labels.add_argument("--positive", metavar="VALUE", help="label value that counts as 1")
    labels.add_argument("--threshold", type=finite_float, metavar="T", help="label 1 where the value is >= T")
    p.add_argument("--split", type=split_spec, metavar="SPEC",
                   help="test rows cut from --csv: random:FRACTION (seeded by --seed) or time:COLUMN:FRACTION")
    p.add_argument("--test", metavar="FILE", help="test rows from another CSV (instead of --split)")
    p.add_argument("--encoding", default="utf-8", help="text encoding of the CSV files (default utf-8)")
    p.add_argument("--validation", type=fraction, default=None, metavar="F",
                   help="hold out this fraction of the training rows to validate each epoch")
    p.add_argument("--patience", type=positive_int, default=None,
                   help="with --validation: stop after this many epochs without a better validation AUC and "
                        "keep the best epoch")
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
    p.add_argument("--id-dropout", type=rates_by_column, default=0.0, metavar="RATE|COLUMN:RATE,...",
                   help="cold start: in training, replace this share of a column's ids by its out-of-vocabulary "
                        "id, e.g. user_id:0.05 (default 0: off)")
    p.add_argument("--float32", action="store_true", help="train in single precision")
    p.add_argument("--save", metavar="PATH", help="write the trained model and its feature spec here (.npz)")
    p.add_argument("--json", action="store_true", help="end with one JSON line of results (progress to stderr)")
    p.set_defaults(run=run_train)

    p = sub.add_parser("predict", help="write P(Y=1) for each row of a CSV")
    p.add_argument("--model", required=True, metavar="PATH")
    p.add_argument("--csv", required=True, metavar="FILE")
    p.add_argument("--out", metavar="FILE", default="-", help="output CSV (default -, standard output)")
    p.add_argument("--encoding", default="utf-8", help="text encoding of the CSV (default utf-8)")
    p.set_defaults(run=run_predict)

    p = sub.add_parser("explain", help="split one row's logit into bias, wide weights and deep logit")
    p.add_argument("--model", required=True, metavar="PATH")
    p.add_argument("--csv", required=True, metavar="FILE")
    p.add_argument("--row", required=True, type=non_negative_int, help="0-based data row of the CSV")
    p.add_argument("--encoding", default="utf-8", help="text encoding of the CSV (default utf-8)")
    p.set_defaults(run=run_explain)

    p = sub.add_parser("spec", help="draft a feature spec (JSON) from a sample of a CSV, to edit by hand")
    p.add_argument("--csv", required=True, metavar="FILE")
    p.add_argument("--label", metavar="COLUMN", help="the label column (left out of the spec)")
    p.add_argument("--rows", type=positive_int, default=10_000, help="rows sampled from the top of the file")
    p.add_argument("--embedding-dim", type=positive_int, default=8)
    p.add_argument("--encoding", default="utf-8")
    p.add_argument("--out", metavar="FILE", default="-", help="where to write it (default -, standard output)")
    p.set_defaults(run=run_spec)

    p = sub.add_parser("experiment", help="the paper's system on the synthetic app store: A/B table, daily "
                       "warm-started retraining with a dry-run gate, serving latency by thread")
    p.add_argument("--days", type=positive_int, default=3, help="days of retraining (the last one's candidate "
                   "is trained with a diverging learning rate)")
    p.add_argument("--users", type=positive_int, default=5000)
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--requests", type=positive_int, default=200, help="timed serving requests per setting")
    p.add_argument("--json", action="store_true", help="end with one JSON line of results (tables to stderr)")
    p.set_defaults(run=run_experiment)
    return parser


class UsageError(ValueError):
    """Arguments that do not go together: exit 2, like argparse's own usage errors."""


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UsageError as error:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `predict ... | head -1`: the reader is gone, which is not an error
        try:
            sys.stdout = open(os.devnull, "w")  # so that the interpreter's final flush stays quiet
        except OSError:
            pass
        return 0
    except (ValueError, OSError) as error:  # bad files and values: one line, not a traceback
        named = isinstance(error, OSError) and error.filename
        message = f"{error.filename}: {error.strerror or error}" if named else str(error)
        print(f"error: {message}", file=sys.stderr)
        return 1
