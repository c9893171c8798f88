"""Metrics on small cases worked out by hand."""
import numpy as np
import pytest

from wdnumpy.metrics import accuracy, evaluate, log_loss, reliability_curve, roc_auc


def test_auc_by_hand():
    # positives at 0.8 and 0.4; negatives at 0.5 and 0.1: pairs (0.8>0.5, 0.8>0.1, 0.4<0.5, 0.4>0.1) → 3/4
    assert roc_auc([1, 1, 0, 0], [0.8, 0.4, 0.5, 0.1]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.1, 0.9]) == 1.0
    assert roc_auc([1, 0], [0.1, 0.9]) == 0.0


def test_auc_counts_ties_as_half():
    assert roc_auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    # positive 0.7 ties one negative and beats another: (0.5 + 1) / 2
    assert roc_auc([1, 0, 0], [0.7, 0.7, 0.2]) == pytest.approx(0.75)


def test_auc_agrees_with_counting_pairs():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.random(300), 1)  # many ties
    pos, neg = p[y == 1], p[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert roc_auc(y, p) == pytest.approx(pairs, rel=1e-12)


def test_log_loss_and_accuracy_by_hand():
    assert log_loss([1, 0], [0.8, 0.4]) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    assert np.isfinite(log_loss([1, 0], [0.0, 1.0]))  # clipped, not infinite
    assert accuracy([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.5]) == 0.5  # 0.5 counts as a positive prediction
    assert set(evaluate([1, 0], [0.8, 0.4])) == {"auc", "accuracy", "logloss"}


def test_reliability_curve_by_hand():
    y = [0, 1, 1, 1, 0]
    p = [0.05, 0.09, 0.95, 1.0, 0.92]  # two in bin [0, 0.1), three in [0.9, 1]
    mean_p, frac, count = reliability_curve(y, p, n_bins=10)
    np.testing.assert_allclose(mean_p, [0.07, (0.95 + 1.0 + 0.92) / 3])
    np.testing.assert_allclose(frac, [0.5, 2 / 3])
    assert count.tolist() == [2, 3]


def test_metric_errors():
    with pytest.raises(ValueError, match="both positive and negative"):
        roc_auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="same length"):
        log_loss([1, 0], [0.5])
    with pytest.raises(ValueError, match="0 or 1"):
        accuracy([2, 0], [0.5, 0.5])
    with pytest.raises(ValueError, match="no examples"):
        accuracy([], [])


def test_labels_and_predictions_may_be_booleans_or_integers():
    # labels in {0, 1} given as booleans, and hard 0/1 predictions as integers, score like their float values
    y, p = np.array([True, False, True]), np.array([1, 0, 0])
    for metric in (log_loss, accuracy, roc_auc):
        assert metric(y, p) == pytest.approx(metric([1.0, 0.0, 1.0], [1.0, 0.0, 0.0]), rel=1e-12), metric
    assert log_loss(y, p) == pytest.approx(-np.log(1e-15) / 3, rel=1e-6)  # the miss is clipped, not infinite
    mean_p, frac, count = reliability_curve(y, p, n_bins=2)
    np.testing.assert_allclose(mean_p, [0.0, 1.0])
    np.testing.assert_allclose(frac, [0.5, 1.0])


def test_accuracy_thresholds_at_one_half_by_default_and_counts_matches():
    assert accuracy([1, 1, 0], [0.9, 0.6, 0.1]) == 1.0
    assert accuracy([0, 0, 1], [0.9, 0.6, 0.1]) == 0.0
    assert accuracy([1, 0, 1, 1], [0.5, 0.49, 0.2, 0.7]) == 0.75
    assert accuracy([1, 0, 1, 1], [0.5, 0.49, 0.2, 0.7], threshold=0.1) == 0.75  # now 0.49 is the miss
    assert accuracy([1, 0], [0.3, 0.3], threshold=0.3) == 0.5


def test_reliability_curve_default_is_ten_equal_width_bins_with_one_at_the_top():
    # [0, 0.1) holds 0.0 and 0.095; [0.1, 0.2) holds 0.1 and 0.19; [0.8, 0.9) holds 0.85 alone;
    # the last bin [0.9, 1] holds 0.95 and p = 1 itself
    y = [0, 1, 0, 0, 1, 1, 1]
    p = [0.0, 0.095, 0.1, 0.19, 0.85, 0.95, 1.0]
    mean_p, frac, count = reliability_curve(y, p)
    assert count.tolist() == [2, 2, 1, 2]
    np.testing.assert_allclose(mean_p, [0.0475, 0.145, 0.85, 0.975])
    np.testing.assert_allclose(frac, [0.5, 0.0, 1.0, 1.0])


def test_reliability_curve_when_the_top_bins_are_empty_and_with_one_bin():
    mean_p, frac, count = reliability_curve([1, 0, 0], [0.05, 0.15, 0.12], n_bins=5)  # only bin [0, 0.2) is used
    assert count.tolist() == [3]
    np.testing.assert_allclose(mean_p, [np.mean([0.05, 0.15, 0.12])])
    np.testing.assert_allclose(frac, [1 / 3])
    mean_p, frac, count = reliability_curve([1, 0, 1, 1], [0.1, 0.5, 0.9, 1.0], n_bins=1)
    assert count.tolist() == [4]
    np.testing.assert_allclose(mean_p, [0.625])
    np.testing.assert_allclose(frac, [0.75])
    with pytest.raises(ValueError, match="n_bins"):
        reliability_curve([1, 0], [0.5, 0.5], n_bins=0)


def test_auc_of_a_nan_prediction_is_nan_and_ties_share_their_average_rank():
    assert np.isnan(roc_auc([0, 1, 1], [0.1, np.nan, 0.3]))
    # the positive at 0.5 ties two negatives (half a pair each) and beats 0.1; the one at 0.9 beats all three
    assert roc_auc([0, 0, 1, 1, 0], [0.5, 0.5, 0.5, 0.9, 0.1]) == (0.5 + 0.5 + 1 + 3) / 6


def test_log_loss_clips_a_float32_certainty_like_a_float64_one():
    """A float32 model can output p = 1.0 exactly; the clip to 1 − 1e-15 must happen in float64
    (in float32, 1 − 1e-15 rounds to 1 and the loss of a wrong certainty would be infinite)."""
    certain = log_loss(np.array([0.0]), np.array([1.0]))
    assert 30 < certain < 40  # about −log(1e-15)
    assert log_loss(np.array([0.0]), np.array([1.0], dtype=np.float32)) == certain
    assert log_loss([1, 0], np.array([0.0, 1.0], dtype=np.float32)) == log_loss([1, 0], np.array([0.0, 1.0]))
