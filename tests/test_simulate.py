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


# ---------------------------------------------------------------------------
# Retrieval, serving and the log: every argument, default and error of the documented rule
# ---------------------------------------------------------------------------

def hand_world(installed, category):
    """An AppWorld with the given installed matrix (U, A) and app categories, every other effect 0."""
    from wdnumpy.datasets import AppWorld
    installed, category = np.asarray(installed, float), np.asarray(category)
    n_users, n_apps = installed.shape
    return AppWorld(category=category, popularity=np.zeros(n_apps), installed=installed,
                    country=np.zeros(n_users, int), country_effect=np.zeros(5), age=np.full(n_users, 40),
                    niche=np.zeros((n_apps, n_apps)), pairs=np.zeros((0, 2), int), effects=np.zeros(0),
                    held_out=np.zeros(0, bool), n_categories=int(category.max()) + 1)


def test_retrieval_lists_every_liked_app_before_any_other_even_one_nobody_installed():
    """'those in the categories the user installs from first, each group by its install count': a liked
    app nobody has installed comes before the most installed app of another category."""
    #            apps: 0  1  2  3  4  5     (categories 0 0 0 1 1 1)
    installed = [[1, 0, 0, 0, 0, 0],  # user 0 likes category 0 only
                 [0, 1, 0, 1, 1, 0],
                 [0, 0, 0, 1, 1, 0],
                 [0, 0, 0, 1, 1, 0],
                 [0, 0, 0, 1, 0, 0],
                 [0, 0, 0, 1, 0, 0]]  # install counts 1 1 0 5 3 0
    world = hand_world(installed, [0, 0, 0, 1, 1, 1])
    candidates, valid = retrieve(world, np.array([0, 0]), n_candidates=5, n_explore=0)
    assert candidates.tolist() == [[1, 2, 3, 4, 5]] * 2 and valid.all()


def test_retrieval_breaks_ties_in_install_count_by_app_id():
    """The popularity list is a fixed rule, so the same on every machine: apps of equal rank (liked or not,
    install count) in the order of their ids (a sort that is not stable may order ties differently)."""
    world = make_app_world(n_users=400, n_apps=60, seed=3)
    users = np.arange(400)
    candidates, _ = retrieve(world, users, n_candidates=30, n_explore=0)
    count = world.installed.sum(axis=0)
    for row, user in zip(candidates, users):
        liked = world.share[user, world.category[row]] > 0
        key = list(zip(-liked.astype(int), -count[row], row))
        assert key == sorted(key)
        uninstalled = np.flatnonzero(world.installed[user] == 0)
        ranked = sorted(uninstalled, key=lambda a: (-int(world.share[user, world.category[a]] > 0), -count[a], a))
        assert row.tolist() == ranked[:30]


def test_retrieval_defaults_are_100_candidates_10_explored_and_seed_0():
    world = make_app_world(n_users=20, n_apps=130, seed=2)
    users = np.arange(20)
    candidates, valid = retrieve(world, users)
    assert candidates.shape == (20, 100)
    explicit, explicit_valid = retrieve(world, users, n_candidates=100, n_explore=10, seed=0)
    np.testing.assert_array_equal(candidates, explicit)
    np.testing.assert_array_equal(valid, explicit_valid)
    assert not np.array_equal(retrieve(world, users, 100, 9, seed=0)[0], candidates)
    assert not np.array_equal(retrieve(world, users, 100, 11, seed=0)[0], candidates)


def test_retrieval_with_every_candidate_explored_draws_them_all_at_random(world):
    """n_explore == n_candidates: no popularity list, every candidate drawn among the uninstalled apps."""
    users = np.arange(200)
    one, valid = retrieve(world, users, n_candidates=4, n_explore=4, seed=0)
    other, _ = retrieve(world, users, n_candidates=4, n_explore=4, seed=1)
    assert valid.all() and np.mean(one[:, 0] == other[:, 0]) < 0.2  # not the first app of a fixed list
    top, _ = retrieve(world, users, n_candidates=4, n_explore=0)
    assert np.mean(one[:, 0] == top[:, 0]) < 0.2
    for row, user in zip(one, users):
        assert len(set(row)) == 4 and not world.installed[user, row].any()


def test_retrieval_rejects_explore_counts_outside_0_to_n_candidates(world):
    users = np.arange(3)
    for n_candidates, n_explore in ((5, -1), (5, 6), (0, 0), (-1, -1)):
        with pytest.raises(ValueError, match=rf"need 0 <= n_explore <= n_candidates and n_candidates >= 1, "
                                             rf"got {n_explore} and {n_candidates}$"):
            retrieve(world, users, n_candidates=n_candidates, n_explore=n_explore)
    for n_explore in (0, 5):
        assert retrieve(world, users, n_candidates=5, n_explore=n_explore)[0].shape == (3, 5)


def test_retrieval_marks_missing_candidates_invalid():
    """valid is False where a user has fewer uninstalled apps than M; the valid ones are those apps."""
    installed = [[1, 1, 1, 1, 0, 0], [1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0]]
    world = hand_world(installed, [0, 1, 0, 1, 0, 1])
    for n_explore in (0, 1, 3):
        candidates, valid = retrieve(world, np.array([0, 1, 2]), n_candidates=4, n_explore=n_explore, seed=3)
        assert candidates.shape == (3, 4) and valid.sum(axis=1).tolist() == [2, 4, 1]
        for user in range(3):
            shown, uninstalled = set(candidates[user, valid[user]]), set(np.flatnonzero(world.installed[user] == 0))
            assert shown == uninstalled if len(uninstalled) <= 4 else shown < uninstalled
            assert world.installed[user, candidates[user, ~valid[user]]].all()


def test_serve_rejects_k_below_1_and_explore_slots_outside_0_to_k(world):
    users = np.arange(3)
    for k, slots in ((0, 0), (3, 4), (3, -1), (-1, -2)):
        with pytest.raises(ValueError, match=rf"need k >= 1 and 0 <= explore_slots <= k, got {k} and {slots}$"):
            serve(world, users, oracle, k=k, n_candidates=10, n_explore=2, explore_slots=slots)


def test_serve_defaults_show_the_top_4_of_retrievals_defaults_with_seed_0():
    """serve's defaults: k = 4 slots, none exploring, retrieval's 100 candidates with 10 explored, seed 0."""
    world = make_app_world(n_users=12, n_apps=150, seed=1)
    users = np.arange(12)
    scored = {}

    def scorer(world, user, app):
        for u, a in zip(user, app):
            scored.setdefault(u, set()).add(a)
        return world.prob(user, app)

    log = serve(world, users, scorer)
    head, _ = retrieve(world, users, n_candidates=100, n_explore=10)
    for u in users:  # the 90 apps of the popularity list are always candidates, and 10 more
        assert set(head[u, :90]) <= scored[u] and len(scored[u]) == 100
        rows = log.user == u
        assert log.position[rows].tolist() == [0, 1, 2, 3]
        best = np.sort(world.prob(np.full(100, u), np.array(sorted(scored[u]))))[::-1][:4]
        np.testing.assert_allclose(log.prob[rows], best)  # the top 4, in order of score
    again = serve(world, users, oracle, k=4, n_candidates=100, n_explore=10, explore_slots=0, seed=0)
    np.testing.assert_array_equal(log.app, again.app)
    np.testing.assert_array_equal(log.labels, again.labels)
    assert log.n_queries == 12


def test_serve_scores_only_the_valid_candidates_and_logs_each_query():
    """The scorer sees each query's uninstalled candidates only; the log keeps the number of queries, and a query
    shows min(k, its uninstalled apps) apps, the explore slot included."""
    world = make_app_world(n_users=30, n_apps=8, seed=0)
    users = np.repeat(np.arange(30), 2)
    uninstalled = (world.installed == 0).sum(axis=1)
    assert uninstalled.min() < 3 < uninstalled.max()  # some users have fewer apps left than k

    def scorer(world, user, app):
        assert not world.installed[user, app].any()
        return world.prob(user, app)

    for slots in (0, 1, 2):
        log = serve(world, users, scorer, k=3, n_candidates=8, n_explore=2, explore_slots=slots, seed=4)
        assert log.n_queries == 60 and len(log) == np.minimum(uninstalled[users], 3).sum()
        assert np.bincount(log.query, minlength=60).tolist() == np.minimum(uninstalled[users], 3).tolist()
        assert not world.installed[log.user, log.app].any()
        for q in range(60):
            apps = log.app[log.query == q]
            assert len(set(apps)) == len(apps) and np.all(log.user[log.query == q] == users[q])


def test_the_explore_slots_show_random_candidates_from_below_the_top():
    """With explore_slots the first k − explore_slots slots are the highest scored; the last ones are drawn at
    random from the other candidates (not the next best ones), and differ from seed to seed."""
    world = make_app_world(n_users=100, n_apps=40, seed=5)
    users = np.arange(100)
    top = serve(world, users, oracle, k=4, n_candidates=20, n_explore=0, seed=1)
    explored = serve(world, users, oracle, k=4, n_candidates=20, n_explore=0, explore_slots=2, seed=1)
    other = serve(world, users, oracle, k=4, n_candidates=20, n_explore=0, explore_slots=2, seed=2)
    assert len(explored) == len(top) == 400
    first = explored.position < 2
    np.testing.assert_array_equal(explored.app[first], top.app[top.position < 2])
    last, next_best = explored.app[~first].reshape(100, 2), top.app[top.position >= 2].reshape(100, 2)
    assert np.mean(np.all(np.sort(last, 1) == np.sort(next_best, 1), axis=1)) < 0.2
    assert np.mean(last == other.app[other.position >= 2].reshape(100, 2)) < 0.3
    head = top.app.reshape(100, 4)[:, :2]
    assert not np.any(last[:, :, None] == head[:, None, :])  # never one of the shown top ones


def test_log_take_keeps_every_column_of_the_rows_and_the_number_of_queries(world):
    log = serve(world, np.arange(10), RandomScorer(0), k=3, n_candidates=10, n_explore=2, seed=0)
    for rows in (np.arange(len(log)) % 3 == 0, np.array([4, 0, 7])):
        part = log.take(rows)
        for field in ("labels", "prob", "user", "app", "query", "position"):
            np.testing.assert_array_equal(getattr(part, field), getattr(log, field)[rows], err_msg=field)
        assert set(part.columns) == set(log.columns)
        for name, values in part.columns.items():
            np.testing.assert_array_equal(values, log.columns[name][rows], err_msg=name)
        assert part.n_queries == 10 and len(part) == len(log.labels[rows])


# ---------------------------------------------------------------------------
# Training, the intervals, Table 1 and the experiment's bookkeeping on a tiny world
# ---------------------------------------------------------------------------

TINY = Setup(users=60, apps=20, queries=2, k=3, candidates=10, explore=2, epochs=1, hidden=(4,), new_apps=2)


@pytest.fixture(scope="module")
def tiny_run():
    return ab_experiment(TINY, seed=1)


def test_fit_models_trains_each_kind_with_the_setups_settings_and_the_seed(tiny_run):
    """A spec fitted on the log, and the wide, deep and W&D models of make_model/train with the setup's hidden
    layers, epochs and optimizer; the ensemble combines the wide and deep ones. Default seed 0."""
    from wdnumpy.datasets import app_store_spec
    from wdnumpy.simulate import fit_models
    from wdnumpy.train import make_model, train
    log = tiny_run["logs"]["train"]
    setup = Setup(users=60, apps=20, epochs=2, hidden=(5, 3))
    spec, models = fit_models(log, setup, seed=3)
    assert list(models) == ["wide", "deep", "wide_deep", "ensemble"]
    batch = app_store_spec().fit(log.columns).transform(log.columns, log.labels)
    for kind in ("wide", "deep", "wide_deep"):
        expected = make_model(kind, spec, hidden=(5, 3), seed=3)
        train(expected, batch, setup.optimizer(), epochs=2, seed=3)
        assert set(models[kind].params) == set(expected.params)
        for name in expected.params:
            np.testing.assert_array_equal(models[kind].params[name], expected.params[name], err_msg=f"{kind} {name}")
    ensemble = models["ensemble"]
    assert ensemble.members["wide"] is models["wide"] and ensemble.members["deep"] is models["deep"]
    _, default = fit_models(log, setup)
    _, zero = fit_models(log, setup, seed=0)
    for kind in ("deep", "wide_deep"):
        np.testing.assert_array_equal(default[kind].predict_proba(batch), zero[kind].predict_proba(batch))
        assert not np.array_equal(default[kind].predict_proba(batch), models[kind].predict_proba(batch))


def test_rate_interval_is_the_ratio_estimator_over_users():
    """rate = Σ s / Σ t, se = √Σ (s_u − rate·t_u)² / Σ t; with trials all 1 the mean and its standard error (n)."""
    s, t = np.array([3.0, 0.0, 5.0, 2.0, 1.0]), np.array([4.0, 1.0, 6.0, 2.0, 3.0])
    rate, low, high, se = rate_interval(s, t)
    assert rate == pytest.approx(11 / 16) and se == pytest.approx(np.sqrt(np.sum((s - 11 / 16 * t) ** 2)) / 16)
    assert (low, high) == pytest.approx((rate - Z95 * se, rate + Z95 * se))
    mean, _, _, se = rate_interval(s, np.ones(5))
    assert mean == pytest.approx(s.mean()) and se == pytest.approx(s.std() / np.sqrt(5))
    assert rate_interval([1, 2], [1, 1])[0] == 1.5  # lists of ints are taken as numbers


def test_rate_interval_sums_in_float64_whatever_the_counts_come_in():
    """rate_interval takes its counts as float numbers (float64): float32 counts (say a float32 model's expected
    installs, or weighted trials) give the rate and interval of the same values in float64, not the rounded sums
    of float32 arithmetic."""
    rng = np.random.default_rng(0)
    s, t = (rng.random(1000) * 3).astype(np.float32), (rng.random(1000) * 3 + 0.5).astype(np.float32)
    expected = rate_interval(s.astype(np.float64), t.astype(np.float64))
    for successes, trials in ((s, t), (s, t.astype(np.float64)), (s.astype(np.float64), t)):
        assert rate_interval(successes, trials) == expected


def test_relative_gain_is_the_ratio_minus_1_with_a_delta_method_interval():
    """a / control − 1, se ≈ (a/c) √((se_a/a)² + (se_c/c)²), interval value ± Z95 se."""
    gain, low, high, se = relative_gain((3.0, 0, 0, 0.3), (4.0, 0, 0, 0.2))
    assert gain == pytest.approx(-0.25) and se == pytest.approx(0.75 * np.hypot(0.1, 0.05))
    assert (low, high) == pytest.approx((gain - Z95 * se, gain + Z95 * se))


def test_the_ab_table_rows_show_each_arms_rates_intervals_and_gains():
    """One row per arm, as in the README's Table 1: the arm's name, offline AUC (4 decimals), installs per
    impression (4) and per user (3) each [low, high], the gain per user in % [low, high] and the expected gain."""
    row = {"auc": 0.71234, "per_impression": (0.41234, 0.40111, 0.42222, 0.003),
           "per_user": (1.23456, 1.10111, 1.35222, 0.05), "gain": (0.0567, -0.0123, 0.1234, 0.03),
           "expected_gain": (0.0432, 0.0111, 0.0777, 0.02)}
    other = {**row, "auc": 0.5, "gain": (-0.25, -0.3, -0.2, 0.01)}
    lines = format_ab_table({"wide_deep": row, "oracle": other}).splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("Wide & Deep ") and lines[2].startswith("Oracle (true p) ")
    assert lines[1].split()[3:] == ["0.7123", "0.4123", "[0.4011,", "0.4222]", "1.235", "[1.101,", "1.352]",
                                    "+5.7%", "[-1.2,", "+12.3]", "+4.3%"]
    assert lines[2].split()[3:] == ["0.5000", "0.4123", "[0.4011,", "0.4222]", "1.235", "[1.101,", "1.352]",
                                    "-25.0%", "[-30.0,", "-20.0]", "+4.3%"]
    names = {"wide": "Wide (control)", "deep": "Deep", "ensemble": "Ensemble"}
    for name, title in names.items():
        assert format_ab_table({name: row}).splitlines()[1].startswith(title + " ")


def test_the_experiment_serves_every_log_with_the_setups_slots_and_distinct_seeds(monkeypatch):
    """Two random-ranking logs of every user's ``queries`` queries (training and held-out), then each arm's users'
    queries, all with the setup's k, candidates and explore and no exploring slot; no random stream is reused."""
    from wdnumpy import simulate
    real, calls = simulate.serve, []

    def serve(world, users, scorer, **kwargs):
        calls.append((np.asarray(users), scorer, kwargs))
        return real(world, users, scorer, **kwargs)

    monkeypatch.setattr(simulate, "serve", serve)
    ab = simulate.ab_experiment(TINY, seed=2)
    assert len(calls) == 2 + len(ARMS)
    every = np.repeat(np.arange(TINY.users), TINY.queries)
    for users, scorer, _ in calls[:2]:
        np.testing.assert_array_equal(users, every)
        assert isinstance(scorer, RandomScorer)
    assert calls[0][1].rng.random() != calls[1][1].rng.random()
    for index, (users, scorer, _) in enumerate(calls[2:]):
        np.testing.assert_array_equal(users, np.repeat(np.flatnonzero(ab["arm"] == index), TINY.queries))
        assert (scorer is oracle) == (ARMS[index] == "oracle")
    for _, _, kwargs in calls:
        assert (kwargs["k"], kwargs["n_candidates"], kwargs["n_explore"]) == (3, 10, 2)
        assert kwargs.get("explore_slots", 0) == 0
    seeds = [repr(kwargs["seed"]) for _, _, kwargs in calls]
    assert len(set(seeds)) == len(seeds)
    assert not np.array_equal(ab["logs"]["train"].app, ab["logs"]["held_out"].app)


def test_the_experiment_runs_on_a_given_world_and_splits_arms_by_its_seed(tiny_run):
    world = make_app_world(n_users=50, n_apps=15, seed=9)
    ab = ab_experiment(TINY, seed=1, world=world)
    assert ab["world"] is world and ab["arm"].shape == (50,)
    assert sum(row["users"] for row in ab["table"].values()) == 50
    assert set(np.unique(ab["logs"]["train"].user)) == set(range(50))
    other = ab_experiment(TINY, seed=2)
    assert not np.array_equal(other["arm"], tiny_run["arm"])  # the split is drawn anew for each seed
    assert not np.array_equal(other["world"].installed, tiny_run["world"].installed)


def test_the_experiments_offline_columns_and_gains(tiny_run):
    """Offline AUC and log loss of each arm's model on the held-out log (the oracle's: the true probabilities);
    each arm's gain and expected gain relative to the wide (control) arm."""
    from wdnumpy.metrics import log_loss, roc_auc
    ab = tiny_run
    held = ab["logs"]["held_out"]
    assert set(ab["models"]) == {"wide", "deep", "wide_deep", "ensemble"}
    for name in ARMS:
        p = held.prob if name == "oracle" else ab["models"][name].predict_proba(ab["spec"].transform(held.columns))
        row = ab["table"][name]
        assert row["auc"] == pytest.approx(roc_auc(held.labels, p)) and row["logloss"] == pytest.approx(
            log_loss(held.labels, p))
        for key, rate in (("gain", "per_user"), ("expected_gain", "expected_per_user")):
            np.testing.assert_allclose(row[key], relative_gain(row[rate], ab["table"]["wide"][rate]), err_msg=key)
    assert ab["table"]["wide"]["gain"][0] == 0 and ab["table"]["wide"]["expected_gain"][0] == 0
    assert len({row["auc"] for row in ab["table"].values()}) == len(ARMS)


def stream(seed):
    """A seed's random stream, by its first numbers: NumPy seeds (s, 1, 0) and (s, 1) alike, for one."""
    return tuple(np.random.SeedSequence(seed).generate_state(4))


def test_the_experiments_random_draws_each_have_their_own_stream(monkeypatch):
    """The world, the two random rankings, the logs' serving draws and the split into arms each draw from their
    own stream: one seed reused for two purposes would tie them together (e.g. the random ranking to the world)."""
    from wdnumpy import simulate
    seeds = []
    real_world, real_serve, real_split = simulate.make_app_world, simulate.serve, simulate.split_arms

    class Scorer(RandomScorer):
        def __init__(self, seed=0):
            seeds.append(("scorer", seed))
            super().__init__(seed)

    def make_app_world(*args, seed=0, **kwargs):
        seeds.append(("world", seed))
        return real_world(*args, seed=seed, **kwargs)

    def serve(*args, seed=0, **kwargs):
        seeds.append(("serve", seed))
        return real_serve(*args, seed=seed, **kwargs)

    def split_arms(n_users, n_arms, seed=0):
        seeds.append(("arms", seed))
        return real_split(n_users, n_arms, seed)

    for name, value in (("RandomScorer", Scorer), ("make_app_world", make_app_world), ("serve", serve),
                        ("split_arms", split_arms)):
        monkeypatch.setattr(simulate, name, value)
    simulate.ab_experiment(TINY, seed=4)
    assert [purpose for purpose, _ in seeds].count("serve") == 2 + len(ARMS)
    assert {purpose for purpose, _ in seeds} == {"world", "scorer", "serve", "arms"}
    assert len({stream(seed) for _, seed in seeds}) == len(seeds), seeds


def test_serve_with_a_single_slot_and_ties_in_score_broken_by_retrieval_order():
    """k = 1 is allowed ('k >= 1'); apps of equal score are shown in retrieval's order, so that a scorer that
    cannot tell them apart (say two apps launched today) shows the same apps on every machine."""
    world = make_app_world(n_users=30, n_apps=40, seed=6)
    users = np.arange(30)

    def odd_apps_first(world, user, app):  # two groups of tied scores
        return (app % 2).astype(float)

    head, _ = retrieve(world, users, n_candidates=20, n_explore=0)
    for k in (1, 3):
        log = serve(world, users, odd_apps_first, k=k, n_candidates=20, n_explore=0, seed=2)
        for u in users:
            np.testing.assert_array_equal(log.app[log.user == u], head[u][head[u] % 2 == 1][:k])


def test_the_model_scorer_scores_each_pair_from_its_raw_columns(tiny_run):
    """ModelScorer: P(install) of each (user, app) pair, the model's prediction on the pair's raw columns."""
    from wdnumpy.simulate import ModelScorer
    world, spec, model = tiny_run["world"], tiny_run["spec"], tiny_run["models"]["wide_deep"]
    user, app = np.array([3, 0, 3, 7, 0, 59]), np.array([5, 19, 5, 0, 2, 19])
    expected = model.predict_proba(spec.transform(world.columns(user, app)))
    np.testing.assert_allclose(ModelScorer(model, spec)(world, user, app), expected, rtol=1e-12)


def test_the_experiments_defaults_and_its_models_are_fit_models_with_its_seed(tiny_run):
    """seed 0 and a world drawn for the setup by default; the models are fit_models's on the training log with the
    experiment's seed."""
    from wdnumpy.simulate import fit_models
    assert format_ab_table(ab_experiment(TINY)["table"]) == format_ab_table(ab_experiment(TINY, 0, None)["table"])
    _, models = fit_models(tiny_run["logs"]["train"], TINY, seed=1)
    for kind in ("wide", "deep", "wide_deep"):
        for name, value in models[kind].params.items():
            np.testing.assert_array_equal(tiny_run["models"][kind].params[name], value, err_msg=f"{kind} {name}")


def test_a_user_with_nothing_left_to_install_counts_with_zero_impressions():
    """A user who has installed every app gets no impressions; the arm's rates still count the user (per user: 0)."""
    world = make_app_world(n_users=60, n_apps=20, seed=8)
    world.installed[-1] = 1.0
    ab = ab_experiment(TINY, seed=1, world=world)
    arm = ab["arm"][-1]
    name = ARMS[arm]
    log, users = ab["logs"][name], np.flatnonzero(ab["arm"] == arm)
    assert 59 not in log.user and 59 in users
    installs = np.array([log.labels[log.user == u].sum() for u in users])
    np.testing.assert_allclose(ab["table"][name]["per_user"], rate_interval(installs, np.ones(users.size)))
    assert ab["table"][name]["impressions"] == len(log)
