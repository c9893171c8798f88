"""retraining.py and simulate.serve at their documented edges, on tiny inputs: the gate accepts predictions of
exactly 0 or 1 and a log loss exactly ``tolerance`` above serving's, train_curve seeds each epoch with
seed + epoch, the daily table's header, and serve allows every slot to explore."""
import numpy as np

from conftest import make_batch, make_fields
from wdnumpy import WideDeep
from wdnumpy.datasets import make_app_world
from wdnumpy.metrics import log_loss
from wdnumpy.retraining import dry_run, format_daily_table, steps_to, train_curve
from wdnumpy.simulate import oracle, serve
from wdnumpy.train import train


def test_the_gate_accepts_predictions_of_exactly_0_and_1():
    labels = np.array([0.0, 1.0, 1.0, 0.0])
    p = np.array([0.0, 1.0, 0.75, 0.25])
    gate = dry_run(p, p, labels)
    assert gate["promote"] and gate["reasons"] == [] and gate["candidate"] is not None


def test_the_gate_promotes_a_log_loss_exactly_tolerance_above_serving():
    labels = np.array([0.0, 1.0, 1.0, 0.0])
    serving = np.array([0.2, 0.8, 0.6, 0.3])
    gate = dry_run(serving, serving, labels, tolerance=0.0)  # the same model: equal AUC and log loss
    assert gate["promote"] and gate["candidate"] == gate["serving"]


def test_train_curve_trains_each_epoch_with_seed_plus_epoch():
    batch = make_batch(0)
    kwargs = dict(wide_dim=11, fields=make_fields(), n_continuous=2, hidden=(6, 4), seed=1, dropout=0.5)
    model, again = WideDeep(**kwargs), WideDeep(**kwargs)
    curve = train_curve(model, batch, batch, batch.labels, "adam", epochs=3, seed=7)
    expected = []
    for epoch in range(3):
        train(again, batch, "adam", epochs=1, seed=7 + epoch)
        expected.append(log_loss(batch.labels, again.predict_proba(batch)))
    assert curve == expected
    for name in model.params:
        np.testing.assert_array_equal(model.params[name], again.params[name])


def test_the_daily_table_header():
    header = format_daily_table([]).splitlines()[0]
    for title in ("day", "apps", "rows", "scratch AUC / loss", "warm AUC / loss", "epoch-1 loss s / w",
                  "steps to target s / w", "serving AUC", "gate"):
        assert f" {title}" in f" {header}", title


def test_serve_allows_every_slot_to_explore():
    world = make_app_world(n_users=30, n_apps=20, seed=3)
    log = serve(world, np.arange(5), oracle, k=3, n_candidates=10, n_explore=2, explore_slots=3, seed=0)
    assert len(log) == 15 and sorted(set(log.position.tolist())) == [0, 1, 2]


class Stop(Exception):
    pass


def test_daily_retraining_without_a_start_runs_the_experiment_with_its_setup_and_seed(monkeypatch):
    from wdnumpy import retraining
    from wdnumpy.simulate import Setup
    calls = []

    def experiment(setup, seed):
        calls.append((setup, seed))
        raise Stop  # the rest is the retraining that test_simulate.py runs on a small setup

    monkeypatch.setattr(retraining, "ab_experiment", experiment)
    setup = Setup(users=50, apps=20)
    try:
        retraining.daily_retraining(setup, days=1, seed=9)
    except Stop:
        pass
    assert calls == [(setup, 9)]


def test_the_experiment_serves_k_slots_as_its_setup_says(monkeypatch):
    from wdnumpy import simulate
    calls = []

    def serve(world, users, scorer, **kwargs):
        calls.append(kwargs)
        raise Stop

    monkeypatch.setattr(simulate, "serve", serve)
    setup = simulate.Setup(users=50, apps=20, k=3, candidates=12, explore=2)
    try:
        simulate.ab_experiment(setup, seed=1)
    except Stop:
        pass
    assert calls and calls[0]["k"] == 3 and calls[0]["n_candidates"] == 12 and calls[0]["n_explore"] == 2


def test_steps_to_counts_whole_epochs_of_steps_and_none_when_never_reached():
    """'Optimizer steps until the held-out log loss first reaches target (None if it never does)'."""
    assert steps_to([0.5, 0.3, 0.2], 0.3, 10) == 20
    assert steps_to([0.5, 0.4], 0.5, 7) == 7
    assert steps_to([0.5, 0.4], 0.1, 10) is None


def test_daily_retraining_with_a_start_does_not_run_the_experiment_again(monkeypatch):
    """``start`` is day 0, 'run afresh when None': a given start is used, not recomputed."""
    from wdnumpy import retraining
    from wdnumpy.simulate import Setup
    calls, drifted = [], []

    def experiment(setup, seed):
        calls.append((setup, seed))
        raise Stop

    class World:
        def drift(self, seed, new_apps, shifted_users):
            drifted.append(seed)
            raise Stop  # the rest is the retraining that test_simulate.py runs on a small setup

    monkeypatch.setattr(retraining, "ab_experiment", experiment)
    start = {"world": World(), "spec": None, "models": {"wide_deep": None}}
    try:
        retraining.daily_retraining(Setup(users=50, apps=20), days=1, seed=9, start=start)
    except Stop:
        pass
    assert calls == [] and drifted == [(9, 10, 1)]
