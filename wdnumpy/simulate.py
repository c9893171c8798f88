"""The paper's recommender loop on the synthetic app store (Cheng et al. 2016, §2, §4.2, §5.1, Table 1).

A **query** is a user. Each query goes through the funnel of the paper's Figure 2:

1. **retrieval** (:func:`retrieve`): O(100) candidate apps by a fixed rule — the
   apps the user has not installed, those in the categories the user installs from
   first, each group by its install count (how many users have it installed), the
   first ``n_candidates − n_explore`` of them, plus ``n_explore`` apps drawn at
   random from the rest (exploration: the only way an app nobody has installed yet,
   such as one launched today, is ever shown);
2. **ranking**: a scorer gives each candidate a score — a model of the library (or
   an ensemble) from the raw columns (:class:`ModelScorer`), the true probability
   (:func:`oracle`, the ceiling) or a random number (:class:`RandomScorer`, the
   exploration policy that logs unbiased training data);
3. the top ``k`` are **shown**; each shown app is **installed** with its true
   probability (a seeded draw; no position effect: the k slots are alike);
4. the impressions and their outcomes are the **log** (:class:`Log`), with the
   columns :func:`~wdnumpy.datasets.app_store_spec` reads: the next day's training rows.

:func:`ab_experiment` is Table 1: models trained on the same log, users split at
random into arms, offline AUC on a held-out log beside the online acquisition rate.
:mod:`wdnumpy.retraining` builds §4.2 (daily retraining, warm start, the dry-run gate)
on these pieces.
Every result is deterministic for a seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .datasets import AppWorld, app_store_spec, make_app_world
from .ensemble import Ensemble
from .metrics import log_loss, roc_auc
from .optim import FTRL, AdaGrad, PerPart
from .train import make_model, train

ARMS = ("wide", "deep", "wide_deep", "ensemble", "oracle")
Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


# ---------------------------------------------------------------------------
# One day of queries: retrieval, ranking, outcomes, the log
# ---------------------------------------------------------------------------

def retrieve(world: AppWorld, users: np.ndarray, n_candidates: int = 100, n_explore: int = 10, seed=0):
    """Candidate apps for each query (the rule in the module docstring).

    Parameters
    ----------
    users : (Q,) the user of each query
    n_candidates : candidates per query (all the user's uninstalled apps if fewer)
    n_explore : how many of them are drawn at random outside the popularity list

    Returns
    -------
    candidates : (Q, M) app ids, M = min(n_candidates, n_apps)
    valid : (Q, M) bool, False where a user has fewer uninstalled apps than M
    """
    if not 0 <= n_explore <= n_candidates or n_candidates < 1:
        raise ValueError(f"need 0 <= n_explore <= n_candidates and n_candidates >= 1, got {n_explore} "
                         f"and {n_candidates}")
    rng = np.random.default_rng(seed)
    installed = world.installed[users] > 0                       # (Q, A)
    count = world.installed.sum(axis=0)                          # (A,) install counts, observable
    liked = world.share[users][:, world.category] > 0            # (Q, A) app in a category the user installs from
    priority = np.where(installed, -np.inf, liked * (count.max() + 1) + count)
    order = np.argsort(-priority, axis=1, kind="stable")
    m = min(n_candidates, world.n_apps)
    n_head = max(m - n_explore, 0)  # fewer apps than candidates: all of them, the explored ones included
    head, tail = order[:, :n_head], order[:, n_head:]
    keys = np.where(np.take_along_axis(installed, tail, axis=1), -1.0, rng.random(tail.shape))
    explore = np.take_along_axis(tail, np.argsort(-keys, axis=1, kind="stable")[:, :m - n_head], axis=1)
    candidates = np.concatenate([head, explore], axis=1)
    return candidates, ~np.take_along_axis(installed, candidates, axis=1)


class ModelScorer:
    """Scores (user, app) pairs with a trained model from their raw columns: P(install) (N,)."""

    def __init__(self, model, spec):
        self.model, self.spec = model, spec

    def __call__(self, world: AppWorld, user: np.ndarray, app: np.ndarray) -> np.ndarray:
        # a user's repeated queries retrieve mostly the same apps: featurize each (user, app) pair once
        pairs, back = np.unique(user * world.n_apps + app, return_inverse=True)
        columns = world.columns(pairs // world.n_apps, pairs % world.n_apps)
        return self.model.predict_proba(self.spec.transform(columns))[back]


def oracle(world: AppWorld, user: np.ndarray, app: np.ndarray) -> np.ndarray:
    """The true install probabilities: the ranking no model can beat."""
    return world.prob(user, app)


class RandomScorer:
    """Uniform random scores (seeded): shows k of the candidates at random."""

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)

    def __call__(self, world, user, app):
        return self.rng.random(len(user))


@dataclass
class Log:
    """Shown impressions and their outcomes, one row each (R rows).

    columns : raw columns of :func:`~wdnumpy.datasets.app_store_spec` (name → (R,) array)
    labels : (R,) 1.0 where the app was installed; prob : (R,) its true probability
    user, app, query, position : (R,) ids, the query's index and the slot (0 = top)
    n_queries : the number of queries
    """

    columns: dict
    labels: np.ndarray
    prob: np.ndarray
    user: np.ndarray
    app: np.ndarray
    query: np.ndarray
    position: np.ndarray
    n_queries: int

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, rows) -> "Log":
        """The log's rows ``rows`` (an index or mask); ``n_queries`` is kept."""
        return Log({k: v[rows] for k, v in self.columns.items()}, self.labels[rows], self.prob[rows], self.user[rows],
                   self.app[rows], self.query[rows], self.position[rows], self.n_queries)


def serve(world: AppWorld, users: np.ndarray, scorer, k: int = 4, n_candidates: int = 100, n_explore: int = 10,
          explore_slots: int = 0, seed=0) -> Log:
    """Run one query per entry of ``users`` through retrieval, ranking, display and the install draw.

    ``scorer(world, user, app)`` scores the flattened valid candidates; the ``k`` with
    the highest scores are shown, except that the last ``explore_slots`` of the k
    slots show candidates drawn at random from the rest (to keep logging what the
    model does not rank first). ``seed`` seeds retrieval, those slots and the installs.
    """
    if not 0 <= explore_slots <= k or k < 1:
        raise ValueError(f"need k >= 1 and 0 <= explore_slots <= k, got {k} and {explore_slots}")
    users = np.asarray(users)
    retrieval_seed, slot_seed, install_seed = np.random.SeedSequence(seed).spawn(3)
    candidates, valid = retrieve(world, users, n_candidates, n_explore, retrieval_seed)
    scores = np.full(candidates.shape, -np.inf)
    rows, cols = np.nonzero(valid)
    scores[rows, cols] = scorer(world, users[rows], candidates[rows, cols])
    order = np.argsort(-scores, axis=1, kind="stable")
    top = k - explore_slots
    if explore_slots:
        rest = order[:, top:]
        keys = np.where(np.take_along_axis(valid, rest, axis=1), np.random.default_rng(slot_seed).random(rest.shape),
                        -1.0)
        order = np.concatenate([order[:, :top], np.take_along_axis(
            rest, np.argsort(-keys, axis=1, kind="stable")[:, :explore_slots], axis=1)], axis=1)
    shown = order[:, :k]
    query, position = np.nonzero(np.take_along_axis(valid, shown, axis=1))
    user, app = users[query], candidates[query, shown[query, position]]
    prob = world.prob(user, app)
    labels = (np.random.default_rng(install_seed).random(len(prob)) < prob).astype(np.float64)
    return Log(world.columns(user, app), labels, prob, user, app, query, position, len(users))


# ---------------------------------------------------------------------------
# Training and scoring the library's models on logs
# ---------------------------------------------------------------------------

@dataclass
class Setup:
    """The sizes and training settings shared by the experiment and the daily retraining.

    users, apps : the world's size; queries : queries per user in each log (training,
    held-out and each online day); k, candidates, explore : as in :func:`serve`;
    epochs, hidden : of every model (batches of 256); l1 : the wide part's FTRL L1
    (the paper optimizer's 0.5 is meant for 100,000s of rows, see
    :func:`~wdnumpy.optim.make_optimizer`; at 0.5 the wide model scored AUC 0.54 on
    80,000 logged rows, and 0.02 was chosen among 0.5, 0.1, 0.02, 0.005 by the wide
    and W&D models' held-out AUC with seed 1, not a seed reported anywhere);
    deep_lr : AdaGrad's rate for the deep part; new_apps, shifted_users : drift per day.
    """

    users: int = 20_000
    apps: int = 200
    queries: int = 5
    k: int = 4
    candidates: int = 100
    explore: int = 10
    epochs: int = 3
    hidden: tuple = (32, 16)
    l1: float = 0.02
    deep_lr: float = 0.3
    new_apps: int = 10
    shifted_users: float = 0.05

    def optimizer(self, deep_lr: float | None = None):
        """The paper's optimizer (FTRL with L1 for the wide part, AdaGrad for the deep part) with this L1."""
        return PerPart(FTRL(alpha=1.0, beta=0.0, l1=self.l1, initial_accumulator=1.5e-5),
                       AdaGrad(deep_lr or self.deep_lr))


def fit_models(log: Log, setup: Setup, seed: int = 0):
    """A spec fitted on ``log`` and the wide, deep, W&D models trained on it, with the ensemble of the
    wide and deep models (trained apart: :class:`~wdnumpy.ensemble.Ensemble`). Returns (spec, dict kind → model)."""
    spec = app_store_spec().fit(log.columns)
    batch = spec.transform(log.columns, log.labels)
    models = {}
    for kind in ("wide", "deep", "wide_deep"):
        models[kind] = make_model(kind, spec, hidden=setup.hidden, seed=seed)
        train(models[kind], batch, setup.optimizer(), epochs=setup.epochs, seed=seed)
    models["ensemble"] = Ensemble(models["wide"], models["deep"])
    return spec, models


def offline_metrics(p: np.ndarray, log: Log) -> dict:
    """AUC and log loss of predictions p (R,) on a log's outcomes."""
    return {"auc": roc_auc(log.labels, p), "logloss": log_loss(log.labels, p)}


# ---------------------------------------------------------------------------
# Table 1: the A/B experiment
# ---------------------------------------------------------------------------

def split_arms(n_users: int, n_arms: int, seed=0) -> np.ndarray:
    """(n_users,) arm of each user: a random permutation cut into ``n_arms`` near-equal groups."""
    arm = np.empty(n_users, dtype=np.int64)
    arm[np.random.default_rng(seed).permutation(n_users)] = np.arange(n_users) * n_arms // n_users
    return arm


def rate_interval(successes: np.ndarray, trials: np.ndarray) -> tuple:
    """Σ successes / Σ trials over users, with a 95% normal-approximation interval.

    Users are the unit that was randomized, so the variance is taken over users (a
    ratio estimator, delta method): var = Σ (s_u − r t_u)² / (Σ t_u)². With ``trials``
    all 1 this is a mean per user and its usual standard error (with n, not n − 1).
    Returns (rate, low, high, standard error).
    """
    successes, trials = np.asarray(successes, float), np.asarray(trials, float)
    rate = successes.sum() / trials.sum()
    se = np.sqrt(np.sum((successes - rate * trials) ** 2)) / trials.sum()
    return rate, rate - Z95 * se, rate + Z95 * se, se


def relative_gain(a: tuple, control: tuple) -> tuple:
    """a / control − 1 with a 95% interval by the delta method (independent arms):
    se ≈ (a/c) · √((se_a/a)² + (se_c/c)²). Takes and returns (value, low, high, se)."""
    ratio = a[0] / control[0]
    se = ratio * np.hypot(a[3] / a[0], control[3] / control[0])
    return ratio - 1, ratio - 1 - Z95 * se, ratio - 1 + Z95 * se, se


def ab_experiment(setup: Setup = Setup(), seed: int = 0, world: AppWorld | None = None) -> dict:
    """The paper's Table 1 on the app store.

    A training log and a held-out log are collected with random ranking (so the
    offline AUC is measured on rows no model chose); the wide (control), deep and
    W&D models are trained on the same training log, the ensemble combines the wide
    and deep models, and the oracle ranks by the true probabilities. Users are split
    at random into the arms; each user makes ``setup.queries`` queries ranked by the
    arm's scorer (top k, no exploration slot).

    Returns
    -------
    dict with ``table`` (arm → offline AUC and log loss on the held-out log; installs
    per impression and per user, each (value, low, high, se); expected installs per
    user (the sum of the shown apps' true probabilities, free of the install draw's
    noise); relative gain in installs per user over the wide arm), ``world``,
    ``spec``, ``models`` (kind → model), ``logs`` (name → Log) and ``arm`` (U,).
    """
    world = make_app_world(setup.users, setup.apps, seed=(seed, 0)) if world is None else world
    every = np.repeat(np.arange(world.n_users), setup.queries)
    serve_args = dict(k=setup.k, n_candidates=setup.candidates, n_explore=setup.explore)
    logs = {name: serve(world, every, RandomScorer((seed, 1, i)), **serve_args, seed=(seed, 2, i))
            for i, name in enumerate(("train", "held_out"))}
    spec, models = fit_models(logs["train"], setup, seed)
    held_out = spec.transform(logs["held_out"].columns)
    arm = split_arms(world.n_users, len(ARMS), (seed, 3))
    table = {}
    for index, name in enumerate(ARMS):
        scorer = oracle if name == "oracle" else ModelScorer(models[name], spec)
        p = logs["held_out"].prob if name == "oracle" else models[name].predict_proba(held_out)
        users = np.flatnonzero(arm == index)
        log = logs[name] = serve(world, np.repeat(users, setup.queries), scorer, **serve_args, seed=(seed, 4, index))
        installs = np.bincount(log.user, weights=log.labels, minlength=world.n_users)[users]
        expected = np.bincount(log.user, weights=log.prob, minlength=world.n_users)[users]
        shown = np.bincount(log.user, minlength=world.n_users)[users]
        table[name] = {**offline_metrics(p, logs["held_out"]), "users": users.size, "impressions": int(shown.sum()),
                       "per_impression": rate_interval(installs, shown),
                       "per_user": rate_interval(installs, np.ones_like(installs)),
                       "expected_per_user": rate_interval(expected, np.ones_like(expected))}
    for row in table.values():
        row["gain"] = relative_gain(row["per_user"], table["wide"]["per_user"])
        row["expected_gain"] = relative_gain(row["expected_per_user"], table["wide"]["expected_per_user"])
    return {"table": table, "world": world, "spec": spec, "models": models, "logs": logs, "arm": arm}


ARM_NAMES = {"wide": "Wide (control)", "deep": "Deep", "wide_deep": "Wide & Deep", "ensemble": "Ensemble",
             "oracle": "Oracle (true p)"}


def format_ab_table(table: dict) -> str:
    """Table 1's shape: model, offline AUC, online acquisition gain; plus the rates with 95% intervals."""
    lines = [f"{'Model':<16}{'Offline AUC':>12}{'installs / impression [95% CI]':>34}"
             f"{'installs / user [95% CI]':>28}{'gain / user [95% CI]':>26}{'expected gain':>15}"]
    for name, r in table.items():
        rate, user, gain = r["per_impression"], r["per_user"], r["gain"]
        lines.append(f"{ARM_NAMES[name]:<16}{r['auc']:>12.4f}{rate[0]:>12.4f} [{rate[1]:.4f}, {rate[2]:.4f}]"
                     f"{user[0]:>10.3f} [{user[1]:.3f}, {user[2]:.3f}]"
                     f"{100 * gain[0]:>+9.1f}% [{100 * gain[1]:+.1f}, {100 * gain[2]:+.1f}]"
                     f"{100 * r['expected_gain'][0]:>+14.1f}%")
    return "\n".join(lines)
