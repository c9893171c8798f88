"""Daily retraining on a drifting app store, warm-started from yesterday's model, with the dry-run
gate before a model is pushed (Cheng et al. 2016, §4.2).

Each day the world drifts (new apps, shifted tastes), the serving model's
impressions are logged (:func:`wdnumpy.simulate.serve`), and two candidates are
trained on the new log: one from scratch and one warm-started from the serving
model (:func:`~wdnumpy.warmstart.warm_start`). :func:`dry_run` decides whether a
candidate may replace the serving model. Every result is deterministic for a seed.
"""
from __future__ import annotations

import numpy as np

from .datasets import app_store_spec
from .metrics import log_loss, roc_auc
from .simulate import ModelScorer, Setup, ab_experiment, offline_metrics, serve
from .train import TrainingDiverged, make_model, train
from .warmstart import warm_start



def dry_run(candidate_p: np.ndarray, serving_p: np.ndarray, labels: np.ndarray, tolerance: float = 0.01) -> dict:
    """The check before a model is pushed (§4.2): is the candidate safe to serve?

    Promote only if every prediction is finite and within [0, 1], and on the recent
    held-out log the candidate's AUC is at most ``tolerance`` below the serving
    model's and its log loss at most ``tolerance`` above. ``candidate_p`` is None for a
    candidate whose training diverged. Returns a dict with ``promote`` (bool),
    ``reasons`` (list of str, empty when promoted) and both models' metrics.
    """
    serving = {"auc": roc_auc(labels, serving_p), "logloss": log_loss(labels, serving_p)}
    if candidate_p is None:
        return {"promote": False, "reasons": ["training diverged"], "serving": serving, "candidate": None}
    candidate_p = np.asarray(candidate_p, dtype=np.float64)
    if not (np.all(np.isfinite(candidate_p)) and np.all((candidate_p >= 0) & (candidate_p <= 1))):
        return {"promote": False, "reasons": ["predictions not finite or outside [0, 1]"], "serving": serving,
                "candidate": None}
    candidate = {"auc": roc_auc(labels, candidate_p), "logloss": log_loss(labels, candidate_p)}
    reasons = []
    if candidate["auc"] < serving["auc"] - tolerance:
        reasons.append(f"AUC {candidate['auc']:.4f} < serving {serving['auc']:.4f} − {tolerance}")
    if candidate["logloss"] > serving["logloss"] + tolerance:
        reasons.append(f"log loss {candidate['logloss']:.4f} > serving {serving['logloss']:.4f} + {tolerance}")
    return {"promote": not reasons, "reasons": reasons, "serving": serving, "candidate": candidate}


def train_curve(model, batch, held_out, labels, optimizer, epochs: int, seed: int) -> list:
    """Train one epoch at a time; the held-out log loss after each epoch (a list of ``epochs`` floats)."""
    curve = []
    for epoch in range(epochs):
        train(model, batch, optimizer, epochs=1, seed=seed + epoch)
        curve.append(log_loss(labels, model.predict_proba(held_out)))
    return curve


def steps_to(curve: list, target: float, steps_per_epoch: int):
    """Optimizer steps until the held-out log loss first reaches ``target`` (None if it never does)."""
    reached = [epoch for epoch, loss in enumerate(curve, 1) if loss <= target]
    return reached[0] * steps_per_epoch if reached else None


def daily_retraining(setup: Setup = Setup(), days: int = 3, seed: int = 0, start: dict | None = None,
                     bad_day: int | None = None, bad_lr: float = 1e3, tolerance: float = 0.01,
                     held_out: float = 0.2, batch_size: int = 256) -> dict:
    """Several days of serving, logging and retraining on a drifting app store (§4.2).

    Day 0 is the A/B experiment's world and W&D model (``start``, the result of
    :func:`ab_experiment`; run afresh when None). On each day d = 1..days:

    - the world drifts (:meth:`~wdnumpy.datasets.AppWorld.drift`: ``setup.new_apps``
      launched, ``setup.shifted_users`` of the tastes changed);
    - the serving model ranks every user's ``setup.queries`` queries, with the last of
      the k slots exploring; the impressions of ``held_out`` of the users (drawn at
      random each day) are the day's held-out log, the rest its training log (both
      come from the traffic the next model will serve, unlike the random-ranking log of
      :func:`ab_experiment`, whose install rate is much lower than the served one);
    - a W&D model is trained on the day's log from scratch, and another warm-started
      from the serving model (:func:`~wdnumpy.warmstart.warm_start`: embeddings, wide
      weights and bias, as in the paper), each ``setup.epochs`` epochs with a fresh
      spec fitted on the day's log; the held-out log loss is recorded after each epoch;
    - the warm-started model is the candidate: :func:`dry_run` compares it with the
      serving model on the held-out log and promotes it or keeps the serving model.
      On ``bad_day`` the candidate is instead warm-started and trained with the deep
      part's learning rate ``bad_lr``, the mistake the gate exists for.

    Returns
    -------
    dict with ``days``: a list, per day, of the scratch and warm held-out AUC and log
    loss curves' final values, ``scratch_curve``/``warm_curve`` (log loss per epoch),
    ``steps_per_epoch``, ``target`` (the lowest held-out log loss both models reach)
    and the steps each needs to reach it (counted in whole epochs), the gate's verdict
    with both models' metrics; and ``start``.
    """
    start = ab_experiment(setup, seed) if start is None else start
    world, spec, model = start["world"], start["spec"], start["models"]["wide_deep"]
    out = []
    for day in range(1, days + 1):
        world = world.drift((seed, 10, day), setup.new_apps, setup.shifted_users)
        every = np.arange(world.n_users)
        served = serve(world, np.repeat(every, setup.queries), ModelScorer(model, spec), setup.k,
                       setup.candidates, setup.explore, explore_slots=1, seed=(seed, 11, day))
        kept_out = (np.random.default_rng((seed, 12, day)).random(world.n_users) < held_out)[served.user]
        log, held = served.take(~kept_out), served.take(kept_out)
        new_spec = app_store_spec().fit(log.columns)
        batch, held_batch = new_spec.transform(log.columns, log.labels), new_spec.transform(held.columns)
        steps_per_epoch = -(-len(log) // batch_size)
        seed_day = 1000 * seed + 100 * day
        scratch = make_model("wide_deep", new_spec, hidden=setup.hidden, seed=seed_day)
        scratch_curve = train_curve(scratch, batch, held_batch, held.labels, setup.optimizer(), setup.epochs, seed_day)
        warm = make_model("wide_deep", new_spec, hidden=setup.hidden, seed=seed_day)
        warm_start(warm, new_spec, model, spec)
        warm_curve = train_curve(warm, batch, held_batch, held.labels, setup.optimizer(), setup.epochs, seed_day)
        candidate, candidate_p = warm, warm.predict_proba(held_batch)
        if day == bad_day:
            candidate = make_model("wide_deep", new_spec, hidden=setup.hidden, seed=seed_day)
            warm_start(candidate, new_spec, model, spec)
            try:
                train(candidate, batch, setup.optimizer(bad_lr), epochs=setup.epochs, seed=seed_day)
                with np.errstate(over="ignore", invalid="ignore"):
                    candidate_p = candidate.predict_proba(held_batch)
            except TrainingDiverged:
                candidate_p = None
        serving_p = model.predict_proba(spec.transform(held.columns))
        gate = dry_run(candidate_p, serving_p, held.labels, tolerance)
        target = max(min(scratch_curve), min(warm_curve))  # the best held-out loss both models reach
        out.append({"day": day, "apps": world.n_apps, "rows": len(log), "steps_per_epoch": steps_per_epoch,
                    "target": target,
                    "scratch_curve": scratch_curve, "warm_curve": warm_curve,
                    "scratch": offline_metrics(scratch.predict_proba(held_batch), held),
                    "warm": offline_metrics(warm.predict_proba(held_batch), held),
                    "scratch_steps": steps_to(scratch_curve, target, steps_per_epoch),
                    "warm_steps": steps_to(warm_curve, target, steps_per_epoch),
                    "bad_candidate": day == bad_day, "gate": gate})
        if gate["promote"]:
            model, spec = candidate, new_spec
    return {"days": out, "start": start}


def format_daily_table(days: list) -> str:
    """Per day: held-out AUC / log loss from scratch and warm-started after all epochs, the held-out log loss
    after the first epoch, steps to the lowest log loss both reach, and the gate's verdict."""
    lines = [f"{'day':>3}{'apps':>6}{'rows':>8}{'scratch AUC / loss':>20}{'warm AUC / loss':>18}"
             f"{'epoch-1 loss s / w':>20}{'steps to target s / w':>23}{'serving AUC':>13}  gate"]
    for d in days:
        g = d["gate"]
        verdict = "promoted" if g["promote"] else "BLOCKED: " + "; ".join(g["reasons"])
        if d["bad_candidate"]:
            verdict = "(bad candidate) " + verdict
        steps = " / ".join("never" if s is None else str(s) for s in (d["scratch_steps"], d["warm_steps"]))
        lines.append(f"{d['day']:>3}{d['apps']:>6}{d['rows']:>8}"
                     f"{d['scratch']['auc']:>11.4f} / {d['scratch']['logloss']:.4f}"
                     f"{d['warm']['auc']:>9.4f} / {d['warm']['logloss']:.4f}"
                     f"{d['scratch_curve'][0]:>11.4f} / {d['warm_curve'][0]:.4f}{steps:>23}"
                     f"{g['serving']['auc']:>13.4f}  {verdict}")
    return "\n".join(lines)
