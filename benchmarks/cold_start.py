"""Cold start: AUC on test rows of users never seen in training, with and without the handling.

    OPENBLAS_NUM_THREADS=1 python benchmarks/cold_start.py [--seeds 3] [--epochs 10] [--id-dropout 0.05 0.1]

The data is :func:`wdnumpy.datasets.make_cold_start_store`: an app store in which
60% of the users never appear in training rows (so about 60% of the test rows
belong to new users) and each user has a logit term of their own that only a
user-id embedding can learn. Every model is W&D with the library's defaults
(``paper`` optimizer, hidden 100,50, 8-dim embeddings); the rows are

- no user_id: :func:`~wdnumpy.datasets.app_store_spec`, which does not know the user;
- user_id, no handling: :func:`~wdnumpy.datasets.cold_start_spec` without an OOV
  bucket for its user × category cross, ``id_dropout=0``: a new user is fed the
  OOV row's random initial vector, and its crosses share the buckets of trained ones;
- user_id, handling (id dropout p): the cross's OOV bucket, and ``id_dropout=p``
  (OOV rows start at zero and learn from ids replaced in training).

Prints a Markdown table of the mean AUC over the seeds (± the standard deviation
across seeds), on the new users' rows, the seen users' rows and all test rows.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from wdnumpy.datasets import app_store_spec, cold_start_spec, make_cold_start_store
from wdnumpy.metrics import roc_auc
from wdnumpy.train import make_model, train


def run(store, spec, id_dropout, epochs: int, seed: int) -> dict:
    """Train W&D on the store's training rows; AUC on its new-user, seen-user and all test rows."""
    spec.fit(store.train)
    model = make_model("wide_deep", spec, seed=seed, id_dropout=id_dropout)
    train(model, spec.transform(store.train, store.train_labels), "paper", epochs=epochs, seed=seed)
    probability = model.predict_proba(spec.transform(store.test))
    new = store.test_new_user
    return {"new": roc_auc(store.test_labels[new], probability[new]),
            "seen": roc_auc(store.test_labels[~new], probability[~new]),
            "all": roc_auc(store.test_labels, probability)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--id-dropout", type=float, nargs="+", default=[0.05, 0.1])
    args = parser.parse_args(argv)
    configs = [("no user_id", lambda: app_store_spec(), 0.0),
               ("user_id, no handling", lambda: cold_start_spec(oov_bucket=False), 0.0)]
    configs += [(f"user_id, handling (id dropout {p:g} on user_id)", lambda: cold_start_spec(oov_bucket=True),
                 {"user_id": p}) for p in args.id_dropout]
    scores = {name: [] for name, _, _ in configs}
    bayes, share = [], []
    start = time.perf_counter()
    for seed in range(args.seeds):
        store = make_cold_start_store(seed=seed)
        new = store.test_new_user
        bayes.append(roc_auc(store.test_labels[new], store.test_prob[new]))
        share.append(new.mean())
        for name, make_spec, id_dropout in configs:
            scores[name].append(run(store, make_spec(), id_dropout, args.epochs, seed))
    print(f"{args.seeds} seed(s), {args.epochs} epochs, {time.perf_counter() - start:.0f} s; "
          f"{np.mean(share):.0%} of the test rows are new users'; Bayes-optimal AUC on them "
          f"{np.mean(bayes):.4f}\n")
    print("| model | AUC new users | AUC seen users | AUC all rows |")
    print("| --- | --- | --- | --- |")
    for name, results in scores.items():
        cells = [f"{np.mean([r[k] for r in results]):.4f} ± {np.std([r[k] for r in results]):.4f}"
                 for k in ("new", "seen", "all")]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
