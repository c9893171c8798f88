"""One training run, scored on a test split: on a bundled data set (:func:`train_and_evaluate`,
what the README's tables and the benchmarks run) or on a CSV file with a spec file
(:func:`train_csv`). The command line's ``train`` calls one or the other.

    model, spec, result = train_and_evaluate("adult", "wide_deep", epochs=10)
    model, spec, result = train_csv("ratings.csv", "spec.json", label="rating", threshold=4,
                                    split_by=("time", "timestamp", 0.2))
"""
from __future__ import annotations

import numpy as np

from .csvfiles import load_csv
from .datasets import adult_spec, app_store_spec, load_adult, make_app_store
from .metrics import evaluate, roc_auc
from .specfiles import load_spec
from .splits import split
from .train import make_model, train

DATASETS = ("adult", "app_store")


def load_data(name: str, embedding_dim: int = 8, cross_buckets: int | None = None):
    """(spec, train columns, train labels, test columns, test labels, app store or None) of a bundled data set."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")
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
                       lr: float | None = None, dtype=np.float64, cross_buckets: int | None = None,
                       dropout: float = 0.0, l2: float = 0.0, id_dropout=0.0, validation: float | None = None,
                       patience: int | None = None, log=None):
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
    trained = make_model(model, spec, hidden=hidden, seed=seed, dtype=dtype, dropout=dropout, l2=l2,
                         id_dropout=id_dropout)
    if log:
        log(f"{model} on {data}: {len(train_labels)} training rows, {len(test_labels)} test rows, "
            f"{trained.n_params} parameters, optimizer {optimizer}")
    history = train(trained, train_batch, optimizer, epochs=epochs, batch_size=batch_size, seed=seed, lr=lr,
                    validation=validation, patience=patience, verbose=log is not None, log=log or print)
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


def train_csv(csv, spec, label: str, positive=None, threshold: float | None = None, split_by=None,
              test_csv=None, encoding: str = "utf-8", model: str = "wide_deep", optimizer: str = "paper",
              epochs: int = 10, batch_size: int = 256, seed: int = 0, hidden=(100, 50), lr: float | None = None,
              dtype=np.float64, dropout: float = 0.0, l2: float = 0.0, id_dropout=0.0,
              validation: float | None = None, patience: int | None = None, log=None):
    """Train on a CSV file with a spec file (or FeatureSpec) and score the test rows.

    The test rows are ``test_csv``, or the part ``split_by`` = (by, column, fraction) cuts off
    (see :func:`~wdnumpy.splits.split`; the random split is seeded by ``seed``), or none.

    Returns
    -------
    model, fitted spec, result (dict: rows, test metrics if there are test rows, epochs run, best epoch)
    """
    if split_by is not None and test_csv is not None:
        raise ValueError("give a split or a test file, not both")
    spec = load_spec(spec) if not hasattr(spec, "fit") else spec
    columns, labels = load_csv(csv, label, positive, threshold, encoding)
    test_columns = test_labels = None
    if test_csv is not None:
        test_columns, test_labels = load_csv(test_csv, label, positive, threshold, encoding)
    elif split_by is not None:
        by, column, fraction = split_by
        columns, labels, test_columns, test_labels = split(columns, labels, by, column, fraction, seed)
    spec.fit(columns)
    trained = make_model(model, spec, hidden=hidden, seed=seed, dtype=dtype, dropout=dropout, l2=l2,
                         id_dropout=id_dropout)
    if log:
        log(f"{model} on {csv}: {len(labels)} training rows, "
            f"{0 if test_labels is None else len(test_labels)} test rows, {trained.n_params} parameters")
    history = train(trained, spec.transform(columns, labels), optimizer, epochs=epochs, batch_size=batch_size,
                    seed=seed, lr=lr, validation=validation, patience=patience, verbose=log is not None,
                    log=log or print)
    histories = history if isinstance(history, dict) else {model: history}
    result = {"data": str(csv), "model": model, "train_rows": len(labels), "optimizer": optimizer, "seed": seed,
              "epochs": max(len(h.epochs) for h in histories.values()),
              "best_epoch": {name: h.best_epoch for name, h in histories.items()},
              "params": trained.n_params}
    if test_labels is not None:
        result["test_rows"] = len(test_labels)
        probability = trained.predict_proba(spec.transform(test_columns))
        if len(np.unique(test_labels)) == 2:
            result.update(evaluate(test_labels, probability))
    return trained, spec, result
