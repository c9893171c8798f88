"""Training: seeded mini-batches, epochs, validation, early stopping, history.

    history = train(model, train_batch, optimizer="paper", epochs=10, batch_size=256,
                    valid=valid_batch, patience=2, seed=0)

A joint :class:`~wdnumpy.model.WideDeep` is trained on its one loss; an
:class:`~wdnumpy.ensemble.Ensemble` has each member trained on its own loss with
its own copy of the optimizer. The same seed gives bit-identical weights.
"""
from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .batch import Batch
from .ensemble import DEFAULT_COMBINE, Ensemble
from .metrics import evaluate
from .model import WideDeep
from .optim import make_optimizer
from .splits import split_rows

KINDS = ("wide", "deep", "wide_deep", "ensemble")
HIGHER_IS_BETTER = {"auc": True, "accuracy": True, "logloss": False}
STEPS_PER_BLOCK = 64  # mini-batches gathered together from the shuffled order


def make_model(kind: str, spec, hidden=(100, 50), seed: int = 0, dtype=np.float64, combine: str = DEFAULT_COMBINE,
               dropout: float = 0.0, l2: float = 0.0, id_dropout: float = 0.0):
    """A model of ``kind`` ("wide", "deep", "wide_deep" or "ensemble") that fits a fitted FeatureSpec.

    ``id_dropout`` is the cold-start handling of :class:`~wdnumpy.model.WideDeep`: it trains the
    out-of-vocabulary embedding rows of the spec's vocabulary columns (and crosses with an OOV bucket).

    ``combine`` is an ensemble's rule (see :mod:`wdnumpy.ensemble`): by default the members'
    logits are averaged, not summed, so that the signal both members learned is not counted twice.
    """
    if kind not in KINDS:
        raise ValueError(f"model kind must be one of {KINDS}, got {kind!r}")
    kwargs = dict(spec.model_kwargs(), hidden=hidden, dtype=dtype, dropout=dropout, l2=l2, id_dropout=id_dropout)
    if kind == "ensemble":
        return Ensemble(WideDeep(**kwargs, mode="wide", seed=seed), WideDeep(**kwargs, mode="deep", seed=seed + 1),
                        combine=combine)
    return WideDeep(**kwargs, mode=kind, seed=seed)


class TrainingDiverged(ValueError):
    """The loss or a parameter became NaN or infinite during training."""


@dataclass
class History:
    """Per-epoch records: ``epoch``, ``train_loss``, ``seconds`` and, with a
    validation set, ``valid_auc``, ``valid_accuracy``, ``valid_logloss``."""

    epochs: list = field(default_factory=list)
    best_epoch: int | None = None

    def column(self, key: str) -> np.ndarray:
        return np.array([e[key] for e in self.epochs])

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.mean(self.column("seconds"))) if self.epochs else 0.0


def train(model, data: Batch, optimizer="paper", epochs: int = 10, batch_size: int = 256, seed: int = 0,
          valid: Batch | None = None, patience: int | None = None, metric: str = "auc", lr: float | None = None,
          verbose: bool = False, log=print, validation: float | None = None):
    """Train ``model`` on the labelled ``data`` with mini-batch steps.

    Parameters
    ----------
    optimizer : an optimizer object (see :mod:`wdnumpy.optim`) or a name for
        :func:`~wdnumpy.optim.make_optimizer` ("paper", "adam", "sgd", "adagrad")
    epochs, batch_size : passes over the data and examples per step
    seed : seeds the shuffling of each epoch
    valid : a labelled Batch scored after each epoch
    validation : instead of ``valid``, hold out this fraction of ``data`` (rows drawn
        with ``seed``) as the validation set
    patience : stop after this many epochs without a better ``metric`` on the
        validation set and restore the best epoch's weights (needs a validation set);
        ``history.best_epoch`` says which epoch was kept
    verbose : report each epoch through ``log`` (and a progress counter on long epochs)

    Returns
    -------
    History, or for an Ensemble a dict member name → History
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    if validation is not None:
        if valid is not None:
            raise ValueError("give a validation Batch (valid) or a fraction to hold out (validation), not both")
        train_rows, valid_rows = split_rows(len(data), validation, seed=seed)
        data, valid = data.take(train_rows), data.take(valid_rows)
    if patience is not None and valid is None:
        raise ValueError("early stopping (patience) needs a validation set (valid or validation)")
    if data.labels is None or (valid is not None and valid.labels is None):
        raise ValueError("training and validation batches need labels")
    if isinstance(optimizer, str):
        optimizer = make_optimizer(optimizer, lr)
    if isinstance(model, Ensemble):
        histories = {}
        for name, member in model.members.items():  # each on its own loss, with fresh optimizer state
            if verbose:
                log(f"-- ensemble member: {name}")
            histories[name] = train(member, data, copy.deepcopy(optimizer), epochs, batch_size, seed, valid,
                                    patience, metric, None, verbose, log)
        return histories

    n = model.check_batch(data)
    if valid is not None:
        model.check_batch(valid)
    rng = np.random.default_rng(seed)
    history = History()
    stopper = EarlyStopping(metric, patience)
    best_params = None
    show_progress = verbose and n >= 200 * batch_size and sys.stderr.isatty()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(n)
        total, step = 0.0, 0
        # gather the shuffled rows a block of steps at a time: fast contiguous slices within a block,
        # and never a shuffled copy of the whole data set in memory
        block = batch_size * STEPS_PER_BLOCK
        for block_start in range(0, n, block):
            rows = wide_in_dtype(data.take(order[block_start:block_start + block]), model)
            for first in range(0, len(rows), batch_size):
                batch = rows.take(slice(first, first + batch_size))
                step += 1
                if batch.weights is not None and not batch.weights.any():
                    continue  # every row weighs 0: nothing to learn (and the weighted mean loss would be 0/0)
                with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported just below
                    loss, grads = model.loss(batch, check=False)  # the whole data set was checked above
                    if not np.isfinite(loss):
                        raise TrainingDiverged(f"training diverged at epoch {epoch}, step {step}: the loss is "
                                               f"{loss} (try a smaller learning rate)")
                    total += loss * len(batch)
                    optimizer.step(model.params, grads)
            if show_progress:
                done = min(n, block_start + block)
                print(f"\r  epoch {epoch}: {100 * done // n:3d}%", end="", file=sys.stderr, flush=True)
        if show_progress:
            print("\r" + " " * 24 + "\r", end="", file=sys.stderr, flush=True)
        bad = [name for name, value in model.params.items() if not np.all(np.isfinite(value))]
        if bad:
            raise TrainingDiverged(f"training diverged at epoch {epoch}, step {step}: parameters {bad} are no "
                                   "longer finite (try a smaller learning rate)")
        record = {"epoch": epoch, "train_loss": total / n, "seconds": time.perf_counter() - start}
        if valid is not None:
            scores = evaluate(valid.labels, model.predict_proba(valid))
            record.update({f"valid_{k}": v for k, v in scores.items()})
        history.epochs.append(record)
        if verbose:
            log("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()))
        if valid is None:
            continue
        improved, stop = stopper.update(epoch, record[f"valid_{metric}"])
        history.best_epoch = stopper.best_epoch
        if improved and patience is not None:
            best_params = {k: v.copy() for k, v in model.params.items()}
        if stop:
            if verbose:
                log(f"early stop: no better valid {metric} for {patience} epochs; keeping epoch {stopper.best_epoch}")
            break
    if best_params is not None:
        for k, v in best_params.items():
            model.params[k][...] = v
    return history


def wide_in_dtype(rows: Batch, model) -> Batch:
    """``rows`` with the wide part in the model's dtype, converted once per block of steps rather than
    by the model at every step (the same matrix: SciPy's ``astype`` also sorts and merges each row's entries)."""
    if model.uses_wide and rows.wide is not None and rows.wide.dtype != model.dtype:
        rows.wide = rows.wide.astype(model.dtype)
    return rows


class EarlyStopping:
    """Keeps the best epoch of a validation metric and says when to stop.

    ``update(epoch, score)`` returns ``(improved, stop)``: ``improved`` when the
    score beats every earlier one (higher AUC or accuracy, lower log loss);
    ``stop`` once ``patience`` epochs in a row have not improved (never when
    ``patience`` is None).
    """

    def __init__(self, metric: str = "auc", patience: int | None = None):
        if metric not in HIGHER_IS_BETTER:
            raise ValueError(f"metric must be one of {sorted(HIGHER_IS_BETTER)}, got {metric!r}")
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {patience}")
        self.higher_is_better = HIGHER_IS_BETTER[metric]
        self.patience = patience
        self.best = None
        self.best_epoch = None
        self.waited = 0

    def update(self, epoch: int, score: float) -> tuple:
        better = self.best is None or (score > self.best if self.higher_is_better else score < self.best)
        if better:
            self.best, self.best_epoch, self.waited = score, epoch, 0
        else:
            self.waited += 1
        return better, self.patience is not None and self.waited >= self.patience
