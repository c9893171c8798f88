"""One training run on a bundled data set, scored on its test split: what the command line's
``train``, the benchmarks and the README's tables run.

    model, spec, result = train_and_evaluate("adult", "wide_deep", epochs=10)
"""
from __future__ import annotations

import numpy as np

from .datasets import adult_spec, app_store_spec, load_adult, make_app_store
from .metrics import evaluate, roc_auc
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
                       dropout: float = 0.0, l2: float = 0.0, log=None):
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
    trained = make_model(model, spec, hidden=hidden, seed=seed, dtype=dtype, dropout=dropout, l2=l2)
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
