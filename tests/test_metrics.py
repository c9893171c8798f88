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
