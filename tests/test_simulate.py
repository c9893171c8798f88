"""The recommender loop (issue 14): retrieval, outcomes, arms, the dry-run gate, threaded serving, determinism."""
import json
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from wdnumpy.cli import main
from wdnumpy.datasets import make_app_store, make_app_world
from wdnumpy.serving import request_columns, score_request
from wdnumpy.retraining import daily_retraining, dry_run, format_daily_table
from wdnumpy.simulate import (ARMS, Z95, RandomScorer, Setup, ab_experiment, format_ab_table, oracle,
                              rate_interval, relative_gain, retrieve, serve, split_arms)

SMALL = Setup(users=300, apps=60, queries=3, candidates=30, explore=5, epochs=1)


@pytest.fixture(scope="module")
def world():
    return make_app_world(n_users=400, n_apps=60, seed=3)


@pytest.fixture(scope="module")
def small_run():
    ab = ab_experiment(SMALL, seed=5)
    return ab, daily_retraining(SMALL, days=2, seed=5, start=ab, bad_day=2)


def test_the_world_is_the_one_make_app_store_samples_from():
    store = make_app_store(n_train=500, n_test=300, n_users=200, n_apps=20, seed=2)
    world = make_app_world(n_users=200, n_apps=20, seed=2)
    app = np.char.lstrip(store.test["impression"].astype(str), "ap").astype(int)
    np.testing.assert_array_equal(world.prob(store.test_user, app), store.test_prob)
    for name, values in world.columns(store.test_user, app).items():
        np.testing.assert_array_equal(values, store.test[name])


def test_drift_launches_apps_and_shifts_only_some_tastes(world):
    later = world.drift(seed=1, new_apps=7, shifted_users=0.25)
    assert later.n_apps == world.n_apps + 7 and world.installed.shape == (400, 60)  # self unchanged
    np.testing.assert_array_equal(later.popularity[:60], world.popularity)
    changed = np.any(later.installed[:, :60] != world.installed, axis=1) | (later.installed[:, 60:].sum(1) > 0)
    assert 0.1 < changed.mean() < 0.3
    np.testing.assert_array_equal(later.niche[60:], 0)
    assert np.all(later.installed.sum(axis=1) >= 1)


def test_retrieval_prefers_liked_categories_by_install_count_and_explores(world):
    users = np.arange(50)
    candidates, valid = retrieve(world, users, n_candidates=30, n_explore=5, seed=0)
    assert candidates.shape == (50, 30) and valid.all()
    count = world.installed.sum(axis=0)
    for row, user in zip(candidates, users):
        assert len(set(row)) == 30 and not world.installed[user, row].any()  # distinct, never installed
        head, explore = row[:25], row[25:]
        liked = world.share[user, world.category[head]] > 0
        assert np.all(np.diff(liked.astype(int)) <= 0)  # liked categories first
        for group in (head[liked], head[~liked]):
            assert np.all(np.diff(count[group]) <= 0)  # each by install count
        rest = np.setdiff1d(np.flatnonzero(world.installed[user] == 0), head)
        assert np.isin(explore, rest).all()
    again, _ = retrieve(world, users, 30, 5, seed=0)
    other, _ = retrieve(world, users, 30, 5, seed=1)
    assert np.array_equal(candidates, again) and not np.array_equal(candidates[:, 25:], other[:, 25:])


def test_retrieval_returns_all_uninstalled_apps_when_there_are_few():
    small = make_app_world(n_users=30, n_apps=8, seed=0)
    candidates, valid = retrieve(small, np.arange(30), n_candidates=100, n_explore=10)
    assert candidates.shape == (30, 8)
    for user in range(30):
        assert set(candidates[user, valid[user]]) == set(np.flatnonzero(small.installed[user] == 0))


def test_installs_follow_the_true_probabilities(world):
    log = serve(world, np.repeat(np.arange(400), 10), RandomScorer(0), k=4, n_candidates=30, n_explore=5, seed=7)
    np.testing.assert_allclose(log.prob, world.prob(log.user, log.app))
    # the install count is a sum of independent Bernoulli(p): z-test, and per decile of p a chi-square
    z = (log.labels.sum() - log.prob.sum()) / np.sqrt(np.sum(log.prob * (1 - log.prob)))
    assert abs(z) < 3
    deciles = np.minimum((np.argsort(np.argsort(log.prob)) * 10) // len(log), 9)
    observed = np.bincount(deciles, weights=log.labels)
    expected = np.bincount(deciles, weights=log.prob)
    variance = np.bincount(deciles, weights=log.prob * (1 - log.prob))
    assert np.sum((observed - expected) ** 2 / variance) < 23.2  # chi-square, 10 df, 1% level


def test_serving_shows_the_top_k_and_logs_positions(world):
    users = np.arange(20)
    log = serve(world, users, oracle, k=3, n_candidates=30, n_explore=5, seed=0)
    candidates, _ = retrieve(world, users, 30, 5, seed=np.random.SeedSequence(0).spawn(3)[0])
    for q in range(20):
        rows = log.query == q
        truth = world.prob(np.full(30, q), candidates[q])
        np.testing.assert_allclose(np.sort(log.prob[rows])[::-1], np.sort(truth)[::-1][:3])
        assert list(log.position[rows]) == [0, 1, 2]
    assert set(log.columns) >= {"installed", "impression", "user_age"} and len(log) == 60


def test_arms_split_users_at_random_into_near_equal_groups():
    arm = split_arms(1003, 5, seed=0)
    assert sorted(np.bincount(arm, minlength=5)) == [200, 200, 201, 201, 201]
    assert abs(np.bincount(arm).max() - np.bincount(arm).min()) <= 1
    np.testing.assert_array_equal(arm, split_arms(1003, 5, seed=0))
    assert not np.array_equal(arm, split_arms(1003, 5, seed=1))
    assert not np.array_equal(arm[:200], np.sort(arm[:200]))  # not in blocks of consecutive users


def test_rates_and_gains_with_normal_intervals():
    rate, low, high, se = rate_interval(np.array([1, 0, 2, 1]), np.array([2, 2, 2, 2]))
    assert rate == 0.5 and np.isclose(se, np.sqrt(2) / 8)  # residuals s − r·t: 0, −1, 1, 0
    assert np.isclose(high - rate, 1.959964 * se)
    gain = relative_gain((1.1, 0, 0, 0.011), (1.0, 0, 0, 0.01))
    assert np.isclose(gain[0], 0.1) and np.isclose(gain[3], 1.1 * np.hypot(0.01, 0.01))


def test_dry_run_gate():
    y = np.array([0, 1, 0, 1, 1, 0, 0, 1.0])
    good = np.array([0.2, 0.8, 0.3, 0.7, 0.6, 0.1, 0.4, 0.9])
    assert dry_run(good, good, y)["promote"]
    assert dry_run(good, 0.5 + 0 * good, y)["promote"]
    for bad, reason in ((None, "diverged"), (np.where(y, np.nan, 0.1), "finite"), (good + 0.5, "outside"),
                        (1 - good, "AUC")):
        verdict = dry_run(bad, good, y)
        assert not verdict["promote"] and reason in verdict["reasons"][0]
    worse = np.clip(good + np.where(y == 1, -0.15, 0.15), 0, 1)  # same order, worse calibrated
    assert not dry_run(worse, good, y, tolerance=0.01)["promote"] and dry_run(worse, good, y, tolerance=1)["promote"]


def test_the_gate_blocks_a_model_trained_with_a_diverging_learning_rate(small_run):
    _, daily = small_run
    bad = daily["days"][1]
    assert bad["bad_candidate"] and not bad["gate"]["promote"]
    assert not daily["days"][0]["bad_candidate"]


def test_threaded_scores_equal_single_threaded(small_run):
    ab, _ = small_run
    model, spec = ab["models"]["wide_deep"], ab["spec"]
    columns = request_columns(ab["world"], user=3, n=1000)
    one = score_request(model, spec, columns)
    assert one.shape == (1000,)
    for parts in (2, 4):
        sequential = score_request(model, spec, columns, parts)
        with ThreadPoolExecutor(parts) as executor:  # the same pieces on threads: bit for bit
            np.testing.assert_array_equal(score_request(model, spec, columns, parts, executor), sequential)
        # smaller pieces may take another BLAS code path: equal to the whole batch's scores up to rounding
        np.testing.assert_allclose(sequential, one, rtol=1e-13, atol=0)


def test_the_experiment_is_deterministic_for_a_seed(small_run):
    ab, daily = small_run
    assert list(ab["table"]) == list(ARMS)
    again_ab = ab_experiment(SMALL, seed=5)
    again = daily_retraining(SMALL, days=2, seed=5, start=again_ab, bad_day=2)
    assert format_ab_table(again_ab["table"]) == format_ab_table(ab["table"])
    assert format_daily_table(again["days"]) == format_daily_table(daily["days"])
    assert again["days"][0]["warm_curve"] == daily["days"][0]["warm_curve"]
    other = ab_experiment(SMALL, seed=6)
    assert format_ab_table(other["table"]) != format_ab_table(ab["table"])


def test_the_experiment_command_prints_the_three_tables(capsys):
    assert main(["experiment", "--users", "150", "--days", "1", "--requests", "3", "--json"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert list(result["ab"]) == list(ARMS) and len(result["daily"]) == 1
    assert [r["threads"] for r in result["serving"]] == [1, 2, 4] and result["cpu_count"] >= 1
    assert not result["daily"][0]["gate"]["promote"]  # the last day's candidate is the bad one
    for title in ("Table 1", "§4.2", "Table 2", "os.cpu_count()"):
        assert title in err


def test_split_arms_defaults_to_seed_0():
    np.testing.assert_array_equal(split_arms(101, 5), split_arms(101, 5, seed=0))


def test_the_setups_optimizer_is_the_paper_optimizer_with_its_l1_and_deep_rate():
    """Setup.optimizer: 'the paper's optimizer (FTRL with L1 ..., AdaGrad ...) with this L1'."""
    from wdnumpy.optim import make_optimizer
    assert repr(Setup(l1=0.5, deep_lr=0.3).optimizer()) == repr(make_optimizer("paper"))
    assert repr(Setup(l1=0.5, deep_lr=0.2).optimizer()) == repr(make_optimizer("paper", lr=0.2))
    assert repr(Setup(l1=0.5).optimizer(deep_lr=0.7)) == repr(make_optimizer("paper", lr=0.7))


def test_retrieval_of_a_single_candidate(world):
    """'n_candidates >= 1' (its error message): one candidate, popular or explored, is allowed."""
    for n_explore in (0, 1):
        candidates, valid = retrieve(world, np.arange(10), n_candidates=1, n_explore=n_explore, seed=0)
        assert candidates.shape == (10, 1) and valid.all()
    with pytest.raises(ValueError, match="n_candidates >= 1"):
        retrieve(world, np.arange(10), n_candidates=0, n_explore=0)


def test_intervals_are_the_estimate_plus_and_minus_z95_standard_errors():
    """rate_interval and relative_gain: (value, low, high, se) with a 95% normal interval value ± 1.96 se."""
    rate, low, high, se = rate_interval(np.array([1, 0, 2, 1]), np.array([2, 2, 2, 2]))
    assert np.isclose(rate - low, Z95 * se) and np.isclose(high - rate, Z95 * se)
    gain, low, high, se = relative_gain((1.1, 0, 0, 0.011), (1.0, 0, 0, 0.01))
    assert np.isclose(gain - low, Z95 * se) and np.isclose(high - gain, Z95 * se) and low < gain < high


def test_serving_retrieves_100_candidates_by_default():
    """serve's defaults are retrieve's documented ones: O(100) candidates, 100 when a user has that many."""
    world = make_app_world(n_users=10, n_apps=150, seed=1)
    scored = []

    def scorer(world, user, app):
        scored.append(np.bincount(user, minlength=10))
        return np.zeros(len(user))

    serve(world, np.arange(10), scorer)
    assert scored[0].tolist() == [100] * 10


def test_the_experiment_returns_its_world_and_each_users_arm(small_run):
    """ab_experiment returns ``world`` (of ``setup.users`` users and ``setup.apps`` apps) and ``arm`` (U,)."""
    ab, _ = small_run
    assert (ab["world"].n_users, ab["world"].n_apps) == (SMALL.users, SMALL.apps)
    arm = ab["arm"]
    assert arm.shape == (SMALL.users,)
    assert np.bincount(arm, minlength=len(ARMS)).tolist() == [ab["table"][name]["users"] for name in ARMS]


def test_the_ab_table_header_names_its_columns():
    """Table 1's columns, as the experiment command prints them."""
    header = format_ab_table({}).splitlines()[0]
    assert re.split(r"\s{2,}", header.strip()) == ["Model", "Offline AUC", "installs / impression [95% CI]",
                                                    "installs / user [95% CI]", "gain / user [95% CI]",
                                                    "expected gain"]


def test_each_arms_rates_are_counted_from_its_own_users_log(small_run):
    """Table 1's online columns, from each arm's served log: installs and the true probabilities summed per
    user of the arm, over the user (per user) or over the impressions shown (per impression)."""
    ab, _ = small_run
    for index, name in enumerate(ARMS):
        log, users = ab["logs"][name], np.flatnonzero(ab["arm"] == index)
        installs = np.array([log.labels[log.user == u].sum() for u in users])
        expected = np.array([log.prob[log.user == u].sum() for u in users])
        shown = np.array([np.sum(log.user == u) for u in users])
        row = ab["table"][name]
        assert row["users"] == users.size and row["impressions"] == shown.sum() > 0
        for key, (successes, trials) in {"per_impression": (installs, shown),
                                         "per_user": (installs, np.ones(users.size)),
                                         "expected_per_user": (expected, np.ones(users.size))}.items():
            np.testing.assert_allclose(row[key], rate_interval(successes, trials), rtol=1e-12, err_msg=key)
        assert row["per_user"][0] != row["expected_per_user"][0]  # drawn installs are not their expectation
