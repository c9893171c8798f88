"""retraining.py and simulate.serve at their documented edges, on tiny inputs: the gate accepts predictions of
exactly 0 or 1 and a log loss exactly ``tolerance`` above serving's, train_curve seeds each epoch with
seed + epoch, the daily table's header, and serve allows every slot to explore."""
import copy
import math
import warnings

import numpy as np
import pytest

from conftest import make_batch, make_fields
from wdnumpy import WideDeep
from wdnumpy.datasets import make_app_world
from wdnumpy.metrics import log_loss, roc_auc
from wdnumpy.retraining import daily_retraining, dry_run, format_daily_table, steps_to, train_curve
from wdnumpy.simulate import Setup, ab_experiment, oracle, serve
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


# ---------------------------------------------------------------------------
# The gate's verdicts and messages, the daily table's rows, and daily_retraining's bookkeeping on a tiny world
# ---------------------------------------------------------------------------


Y20 = np.array([0.0] * 10 + [1.0] * 10)
SERVING20 = np.concatenate([np.linspace(0.40, 0.49, 10), np.linspace(0.51, 0.60, 10)])  # AUC 1


def swapped(*pairs):
    """SERVING20 with the predictions of (negative, positive) pairs exchanged: each swap costs AUC 0.01 or more."""
    p = SERVING20.copy()
    for a, b in pairs:
        p[a], p[b] = SERVING20[b], SERVING20[a]
    return p


def test_every_verdict_reports_the_serving_models_metrics():
    """'Returns a dict with promote, reasons and both models' metrics', also when the candidate is refused
    before it is scored (diverged, or predictions not finite or outside [0, 1])."""
    serving = {"auc": roc_auc(Y20, SERVING20), "logloss": log_loss(Y20, SERVING20)}
    for candidate, reason in ((None, "training diverged"), (SERVING20 * np.nan, "predictions not finite or outside "
                                                                                 "[0, 1]"),
                              (SERVING20 - 0.5, "predictions not finite or outside [0, 1]")):
        gate = dry_run(candidate, SERVING20, Y20)
        assert gate == {"promote": False, "reasons": [reason], "serving": serving, "candidate": None}
    gate = dry_run(swapped((9, 10)), SERVING20, Y20)
    assert gate["serving"] == serving and gate["candidate"] == {"auc": 0.99, "logloss": log_loss(Y20, swapped((9, 10)))}


def test_a_missing_prediction_is_not_finite():
    """Predictions as a list with a missing (None) entry: refused as not finite, not an error."""
    gate = dry_run([0.2] * 19 + [None], SERVING20, Y20)
    assert not gate["promote"] and gate["reasons"] == ["predictions not finite or outside [0, 1]"]
    assert dry_run(list(SERVING20), SERVING20, Y20)["promote"]  # a plain list of numbers is fine


def test_the_gate_allows_an_auc_exactly_tolerance_below_and_defaults_to_0_01():
    """'AUC at most tolerance below the serving model's' (log loss here within 0.01 above): 0.01 below is
    promoted by the default tolerance, 0.02 below is not, and the message gives both AUCs and the tolerance."""
    one, two = swapped((9, 10)), swapped((9, 11))  # AUC 0.99 and 0.98; log loss 0.004 and 0.006 above
    assert dry_run(one, SERVING20, Y20)["promote"] and dry_run(one, SERVING20, Y20, tolerance=0.01)["promote"]
    gate = dry_run(two, SERVING20, Y20)
    assert not gate["promote"] and gate["reasons"] == ["AUC 0.9800 < serving 1.0000 − 0.01"]
    assert dry_run(two, SERVING20, Y20, tolerance=0.02)["promote"]
    assert dry_run(one, SERVING20, Y20, tolerance=0.005)["reasons"] == ["AUC 0.9900 < serving 1.0000 − 0.005"]


def test_the_gate_names_every_failed_check_auc_first():
    worse = swapped((9, 10), (8, 11), (7, 12))  # AUC 0.91, log loss 0.016 above serving
    gate = dry_run(worse, SERVING20, Y20, tolerance=0.015)
    assert gate["reasons"] == [f"AUC {roc_auc(Y20, worse):.4f} < serving 1.0000 − 0.015",
                               f"log loss {log_loss(Y20, worse):.4f} > serving {log_loss(Y20, SERVING20):.4f} + 0.015"]
    gate = dry_run(worse, SERVING20, Y20, tolerance=0.1)
    assert gate["promote"] and gate["reasons"] == []
    calibrated_worse = SERVING20 ** 2  # the same order (AUC 1), lower probabilities
    gate = dry_run(calibrated_worse, SERVING20, Y20, tolerance=0.05)
    assert gate["reasons"] == [f"log loss {log_loss(Y20, calibrated_worse):.4f} > serving "
                               f"{log_loss(Y20, SERVING20):.4f} + 0.05"]


def day_row(day, promote, reasons=(), bad=False, steps=(630, 630)):
    return {"day": day, "apps": 210, "rows": 80500, "scratch": {"auc": 0.81523, "logloss": 0.51672},
            "warm": {"auc": 0.81211, "logloss": 0.53549}, "scratch_curve": [0.53271, 0.5], "warm_curve": [0.52849, 0.4],
            "scratch_steps": steps[0], "warm_steps": steps[1], "bad_candidate": bad,
            "gate": {"promote": promote, "reasons": list(reasons), "serving": {"auc": 0.80719, "logloss": 0.6}}}


def test_the_daily_table_has_a_row_per_day_as_in_the_readme():
    """The README's §4.2 table: day, apps, rows, scratch and warm AUC / log loss, the epoch-1 losses, the steps to
    the target ('never' when not reached), the serving AUC and the gate's verdict."""
    lines = format_daily_table([day_row(1, True), day_row(2, False, ["AUC 0.1 < x", "log loss 5 > y"], steps=(None, 7)),
                                day_row(3, False, ["log loss 4.9765 > serving 0.5995 + 0.01"], bad=True),
                                day_row(4, True, bad=True, steps=(None, None))]).splitlines()
    assert len(lines) == 5
    assert lines[1] == ("  1   210   80500     0.8152 / 0.5167   0.8121 / 0.5355     0.5327 / 0.5285"
                        "              630 / 630       0.8072  promoted")
    assert lines[2].split("0.8072  ")[1] == "BLOCKED: AUC 0.1 < x; log loss 5 > y"
    assert "never / 7" in lines[2]
    assert lines[3].split("0.8072  ")[1] == "(bad candidate) BLOCKED: log loss 4.9765 > serving 0.5995 + 0.01"
    assert lines[4].split("0.8072  ")[1] == "(bad candidate) promoted" and "never / never" in lines[4]


TINY = Setup(users=60, apps=20, queries=2, k=3, candidates=10, explore=2, epochs=1, hidden=(4,), new_apps=2,
             shifted_users=0.1)


@pytest.fixture(scope="module")
def tiny_start():
    return ab_experiment(TINY, seed=1)


def recorded_days(start, setup=TINY, **kwargs):
    """daily_retraining with its pieces wrapped to record their arguments (the calls are still made)."""
    from wdnumpy import retraining
    from wdnumpy.datasets import AppWorld
    from wdnumpy.simulate import Log
    calls = {"serve": [], "served_logs": [], "take": [], "curve": [], "scorer": [], "drift": [], "gate": [],
             "spec": []}

    class RecordingLog(Log):
        def take(self, rows):
            calls["take"].append((np.asarray(rows), self.user))
            return Log.take(self, rows)

    real_serve, real_curve, real_drift, real_gate = retraining.serve, retraining.train_curve, AppWorld.drift, \
        retraining.dry_run

    def serve(world, users, scorer, *args, **kw):
        calls["serve"].append((world, np.asarray(users), scorer, args, kw))
        log = real_serve(world, users, scorer, *args, **kw)
        calls["served_logs"].append(log)
        return RecordingLog(**{name: getattr(log, name) for name in log.__dataclass_fields__})

    def train_curve(model, batch, held_out, labels, optimizer, epochs, seed):
        calls["curve"].append((copy.deepcopy(model), model, labels, optimizer, epochs, seed))
        return real_curve(model, batch, held_out, labels, optimizer, epochs, seed)

    def drift(world, seed, *args, **kw):
        calls["drift"].append((seed, args, kw))
        return real_drift(world, seed, *args, **kw)

    real_scorer, real_spec = retraining.ModelScorer, retraining.app_store_spec

    def app_store_spec():
        calls["spec"].append(real_spec())
        return calls["spec"][-1]

    def scorer(model, spec):
        calls["scorer"].append((model, spec))
        return real_scorer(model, spec)

    def gate(candidate_p, serving_p, labels, *args, **kw):
        calls["gate"].append((candidate_p, serving_p, labels))
        return real_gate(candidate_p, serving_p, labels, *args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(retraining, "serve", serve)
        mp.setattr(retraining, "train_curve", train_curve)
        mp.setattr(AppWorld, "drift", drift)
        mp.setattr(retraining, "ModelScorer", scorer)
        mp.setattr(retraining, "dry_run", gate)
        mp.setattr(retraining, "app_store_spec", app_store_spec)
        result = retraining.daily_retraining(setup, start=start, **kwargs)
    return result, calls


def test_each_day_drifts_the_world_and_serves_every_users_queries_with_one_exploring_slot(tiny_start):
    """Each day the world drifts by the setup's new_apps and shifted_users (seeded anew each day); the serving
    model ranks every user's setup.queries queries, k slots of retrieval's setup.candidates, the last exploring."""
    result, calls = recorded_days(tiny_start, days=2, seed=1)
    assert [d["day"] for d in result["days"]] == [1, 2] and result["start"] is tiny_start
    assert [d["apps"] for d in result["days"]] == [22, 24]
    assert len(calls["drift"]) == 2 and calls["drift"][0][0] != calls["drift"][1][0]
    for seed, args, kw in calls["drift"]:
        assert dict(zip(("new_apps", "shifted_users"), args), **kw) == {"new_apps": 2, "shifted_users": 0.1}
    for day, (world, users, scorer, args, kw) in enumerate(calls["serve"], 1):
        assert world.n_apps == 20 + 2 * day
        np.testing.assert_array_equal(users, np.repeat(np.arange(60), 2))
        named = dict(zip(("k", "n_candidates", "n_explore"), args), **kw)
        assert {key: named[key] for key in ("k", "n_candidates", "n_explore", "explore_slots")} == {
            "k": 3, "n_candidates": 10, "n_explore": 2, "explore_slots": 1}
    assert repr(calls["serve"][0][4]["seed"]) != repr(calls["serve"][1][4]["seed"])


def test_the_held_out_users_are_drawn_each_day_and_keep_all_their_impressions(tiny_start):
    """'the impressions of held_out of the users (drawn at random each day) are the day's held-out log, the rest
    its training log'; the curves and the gate are measured on the held-out log."""
    for fraction in (0.2, 0.6):
        result, calls = recorded_days(tiny_start, days=2, seed=1, held_out=fraction)
        held_users = []
        for day, d in enumerate(result["days"]):
            (train_rows, user), (held_rows, same_user) = calls["take"][2 * day], calls["take"][2 * day + 1]
            np.testing.assert_array_equal(train_rows, ~held_rows)
            assert user is same_user and len(user) == len(held_rows)
            held = np.unique(user[held_rows])
            assert not np.isin(user[train_rows], held).any()  # a held-out user's impressions are all held out
            assert abs(len(held) / 60 - fraction) < 0.2
            assert d["rows"] == train_rows.sum() > 0
            for _, _, labels, *_ in calls["curve"][2 * day: 2 * day + 2]:
                assert len(labels) == held_rows.sum()
            assert len(calls["gate"][day][2]) == held_rows.sum()
            held_users.append(set(held))
        assert held_users[0] != held_users[1]


def test_each_days_curves_target_and_steps(tiny_start):
    """Per day: the held-out log loss after each of setup.epochs epochs for both models, their final AUC and log
    loss, target = the lowest loss both reach, the steps to it in whole epochs of ⌈rows / batch_size⌉ steps."""
    from wdnumpy.retraining import steps_to
    setup = Setup(**{**vars(TINY), "epochs": 3})
    result = daily_retraining(setup, days=2, seed=1, start=tiny_start)
    for d in result["days"]:
        assert d["steps_per_epoch"] == math.ceil(d["rows"] / 256)
        assert len(d["scratch_curve"]) == len(d["warm_curve"]) == 3
        assert d["scratch"]["logloss"] == pytest.approx(d["scratch_curve"][-1])
        assert d["warm"]["logloss"] == pytest.approx(d["warm_curve"][-1])
        assert d["target"] == max(min(d["scratch_curve"]), min(d["warm_curve"]))
        for kind in ("scratch", "warm"):
            assert d[f"{kind}_steps"] == steps_to(d[f"{kind}_curve"], d["target"], d["steps_per_epoch"]) is not None
        assert 0.5 < d["scratch"]["auc"] < 1 and d["scratch"]["auc"] != d["warm"]["auc"]
        assert d["bad_candidate"] is False and d["gate"]["candidate"] == pytest.approx(d["warm"])
    other = daily_retraining(setup, days=2, seed=1, start=tiny_start, batch_size=100)
    for d, o in zip(result["days"], other["days"]):
        assert o["steps_per_epoch"] == math.ceil(o["rows"] / 100) and o["rows"] == d["rows"]
        assert o["warm_curve"] == d["warm_curve"]  # batch_size only counts the steps


def test_steps_per_epoch_count_batches_of_256_by_default(tiny_start, monkeypatch):
    """A training log of 257 rows takes 2 steps of 256 (the default batch_size), 1 of 257, 3 of 100."""
    from wdnumpy import retraining
    from wdnumpy.simulate import Log
    real_serve = retraining.serve

    class Log257(Log):
        def take(self, rows):  # the training part (taken first) cut to its first 257 rows
            if not hasattr(self, "cut"):
                self.cut = True
                rows = np.flatnonzero(rows)[:257]
            return Log.take(self, rows)

    def serve(*args, **kwargs):
        log = real_serve(*args, **kwargs)
        return Log257(**{name: getattr(log, name) for name in log.__dataclass_fields__})

    monkeypatch.setattr(retraining, "serve", serve)
    setup = Setup(**{**vars(TINY), "queries": 3})
    for kwargs, steps in (({}, 2), ({"batch_size": 257}, 1), ({"batch_size": 100}, 3)):
        day = retraining.daily_retraining(setup, days=1, seed=1, start=tiny_start, **kwargs)["days"][0]
        assert (day["rows"], day["steps_per_epoch"]) == (257, steps)


def same_days(a, b):
    assert format_daily_table(a["days"]) == format_daily_table(b["days"])
    for x, y in zip(a["days"], b["days"]):
        assert x == y


def test_daily_retraining_defaults(tiny_start):
    """3 days, seed 0, no bad day, tolerance 0.01, 20% held out, steps counted in batches of 256."""
    default = daily_retraining(TINY, start=tiny_start)
    assert len(default["days"]) == 3 and not any(d["bad_candidate"] for d in default["days"])
    same_days(default, daily_retraining(TINY, days=3, seed=0, start=tiny_start, bad_day=None, tolerance=0.01,
                                        held_out=0.2, batch_size=256))
    assert daily_retraining(TINY, days=1, seed=1, start=tiny_start)["days"] != default["days"][:1]


def test_the_bad_days_learning_rate_defaults_to_1000(tiny_start):
    """The README's 'trained with a deep learning rate of 1000 (instead of 0.3)'."""
    bad = daily_retraining(TINY, days=1, seed=0, start=tiny_start, bad_day=1)
    same_days(bad, daily_retraining(TINY, days=1, seed=0, start=tiny_start, bad_day=1, bad_lr=1000.0))
    assert bad["days"][0]["bad_candidate"] and bad["days"][0]["gate"]["candidate"] != \
        daily_retraining(TINY, days=1, seed=0, start=tiny_start, bad_day=1, bad_lr=10.0)["days"][0]["gate"]["candidate"]


def test_the_bad_days_candidate_is_the_warm_start_trained_with_bad_lr(tiny_start):
    """'On bad_day the candidate is instead warm-started and trained with the deep part's learning rate bad_lr':
    with bad_lr equal to the setup's rate it is the day's warm-started model (one epoch: the same steps)."""
    result = daily_retraining(TINY, days=2, seed=1, start=tiny_start, bad_day=2, bad_lr=TINY.deep_lr)
    for d in result["days"]:
        assert d["bad_candidate"] == (d["day"] == 2)
        assert d["gate"]["candidate"] == d["warm"]


def test_a_bad_candidate_whose_training_diverges_is_blocked_as_diverged(tiny_start):
    """``candidate_p`` is None for a candidate whose training diverged: the gate says so and keeps serving."""
    result = daily_retraining(TINY, days=1, seed=1, start=tiny_start, bad_day=1, bad_lr=1e200)
    gate = result["days"][0]["gate"]
    assert gate["reasons"] == ["training diverged"] and gate["candidate"] is None and not gate["promote"]
    assert format_daily_table(result["days"]).endswith("(bad candidate) BLOCKED: training diverged")


def test_the_gate_uses_the_tolerance_and_its_verdict_decides_the_next_days_serving_model(tiny_start):
    """dry_run gets daily_retraining's tolerance; a promoted candidate (with its day's spec) serves the next day,
    a blocked one does not."""
    never, calls = recorded_days(tiny_start, days=2, seed=1, tolerance=-1.0)
    assert all(not d["gate"]["promote"] and d["gate"]["reasons"][0].endswith("− -1.0") for d in never["days"])
    start_model = tiny_start["models"]["wide_deep"]
    assert [model for model, _ in calls["scorer"]] == [start_model, start_model]
    assert all(spec is tiny_start["spec"] for _, spec in calls["scorer"])
    always, calls = recorded_days(tiny_start, days=2, seed=1, tolerance=100.0)
    assert all(d["gate"]["promote"] for d in always["days"])
    warm = calls["curve"][1][1]  # day 1's second trained model: the warm-started candidate
    assert calls["scorer"][0][0] is start_model and calls["scorer"][1][0] is warm
    assert calls["scorer"][1][1] is not tiny_start["spec"]
    rows, _ = calls["take"][3]
    held_columns = {name: values[rows] for name, values in calls["served_logs"][1].columns.items()}
    np.testing.assert_array_equal(calls["gate"][1][1], warm.predict_proba(calls["spec"][0].transform(held_columns)))
    assert calls["scorer"][1][1] is calls["spec"][0]
    blocked, _ = recorded_days(tiny_start, days=2, seed=1, bad_day=1)
    assert not blocked["days"][0]["gate"]["promote"]
    assert blocked["days"][1]["gate"]["serving"] == never["days"][1]["gate"]["serving"]


def test_the_warm_start_is_the_scratch_models_start_with_the_serving_models_weights_copied(tiny_start):
    """Scratch and warm-started models are built alike (same hidden layers and seed) and trained alike; the warm
    one starts from the serving model's embeddings, wide weights and bias (warm_start). A new seed each day."""
    from wdnumpy.warmstart import warm_start
    result, calls = recorded_days(tiny_start, days=2, seed=1)
    seeds = []
    for day in range(2):
        (scratch0, scratch, *_, s_epochs, s_seed), (warm0, warm, *_, w_epochs, w_seed) = calls["curve"][2 * day:
                                                                                                   2 * day + 2]
        assert s_seed == w_seed and s_epochs == w_epochs == TINY.epochs
        serving_model, serving_spec = calls["scorer"][day]
        expected = copy.deepcopy(scratch0)
        warm_start(expected, calls["spec"][day], serving_model, serving_spec)
        for name in expected.params:
            np.testing.assert_array_equal(warm0.params[name], expected.params[name], err_msg=name)
        assert scratch0.params["deep.W1"].shape[1] == 4 and "deep.W2" not in scratch0.params  # TINY.hidden
        seeds.append(s_seed)
    assert seeds[0] != seeds[1]


def test_a_bad_candidate_with_blown_up_weights_is_blocked_quietly(tiny_start, monkeypatch):
    """A diverging learning rate may leave weights so large that the forward pass overflows (inf − inf): the gate
    blocks the candidate as 'not finite', and the run emits no overflow or invalid-value RuntimeWarning."""
    from wdnumpy import retraining
    setup = Setup(**{**vars(TINY), "epochs": 2, "hidden": (4, 3)})
    start = ab_experiment(setup, seed=1)
    real = retraining.train

    def train(model, batch, optimizer, epochs, seed):
        real(model, batch, optimizer, epochs=epochs, seed=seed)
        if optimizer.deep.lr == 1e3:  # the bad candidate: its last step blew the deep weights up
            for name, w in model.params.items():
                if name.startswith("deep."):
                    w[...] = np.where(np.arange(w.size).reshape(w.shape) % 2, 1e300, -1e300)

    monkeypatch.setattr(retraining, "train", train)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = retraining.daily_retraining(setup, days=1, seed=1, start=start, bad_day=1)
    assert result["days"][0]["gate"]["reasons"] == ["predictions not finite or outside [0, 1]"]


def test_each_days_random_draws_each_have_their_own_stream(tiny_start, monkeypatch):
    """Each day the drift, the serving draws and the choice of held-out users draw from their own streams, new
    each day: one seed reused for two purposes (or two days) would tie them together."""
    import sys
    from wdnumpy import retraining
    from wdnumpy.datasets import AppWorld
    seeds = []
    real_rng, real_serve, real_drift = np.random.default_rng, retraining.serve, AppWorld.drift

    def default_rng(seed=None):
        if sys._getframe(1).f_globals.get("__name__") == "wdnumpy.retraining":
            seeds.append(("held out", seed))  # the draws daily_retraining makes itself
        return real_rng(seed)

    def serve(*args, seed=0, **kwargs):
        seeds.append(("serve", seed))
        return real_serve(*args, seed=seed, **kwargs)

    def drift(world, seed, *args, **kwargs):
        seeds.append(("drift", seed))
        return real_drift(world, seed, *args, **kwargs)

    monkeypatch.setattr(np.random, "default_rng", default_rng)
    monkeypatch.setattr(retraining, "serve", serve)
    monkeypatch.setattr(AppWorld, "drift", drift)
    retraining.daily_retraining(TINY, days=2, seed=1, start=tiny_start)
    assert sorted(purpose for purpose, _ in seeds) == ["drift", "drift", "held out", "held out", "serve", "serve"]
    streams = {tuple(np.random.SeedSequence(seed).generate_state(4)) for _, seed in seeds}
    assert len(streams) == len(seeds), seeds
