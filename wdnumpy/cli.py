"""Command line: ``python -m wdnumpy demo``."""
from __future__ import annotations

import argparse
import sys

import numpy as np
import scipy.sparse as sp

from .batch import Batch, bags_from_lists
from .model import EmbeddingField, WideDeep


def toy_batch(n: int, seed: int) -> Batch:
    """A small generated data set: two categorical fields, a bag, their crosses and one number."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 10, n), rng.integers(0, 8, n)
    bags = [rng.choice(12, size=rng.integers(0, 4), replace=True).tolist() for _ in range(n)]
    x = rng.standard_normal((n, 1))
    cross = a * 8 + b  # the wide part memorises each (a, b) pair
    effect = np.sin(cross * 1.7) * 2.0  # pair effects no smooth function of a and b gives
    z = effect + 1.5 * x[:, 0] + np.array([sum(bag) % 3 for bag in bags]) - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    wide = sp.csr_matrix((np.ones(n), (np.arange(n), cross)), shape=(n, 80))
    return Batch(wide=wide, categorical={"a": a, "b": b, "bag": bags_from_lists(bags, 12)},
                 continuous=x, labels=y)


def demo(args) -> int:
    batch = toy_batch(args.rows, args.seed)
    fields = [EmbeddingField("a", 10, 4), EmbeddingField("b", 8, 4), EmbeddingField("bag", 12, 3, multivalent=True)]
    model = WideDeep(wide_dim=80, fields=fields, n_continuous=1, hidden=(16, 8), seed=args.seed)
    print(f"Wide & Deep on {args.rows} generated rows, {model.n_params} parameters, plain gradient descent")
    for step in range(args.steps + 1):
        loss = model.loss(batch)
        if step % max(1, args.steps // 10) == 0:
            print(f"step {step:4d}  loss {loss:.4f}")
        for name, grad in model.grads.items():
            model.params[name] -= args.lr * grad
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wdnumpy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train on a small generated data set and print the loss falling")
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=demo)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
