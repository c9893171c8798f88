"""The joint sigmoid cross-entropy: values, mean not sum, overflow, weights."""
import numpy as np
import pytest

from wdnumpy.gradcheck import check_gradients
from wdnumpy.losses import sigmoid, sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward


def naive_loss(z, y):
    p = 1 / (1 + np.exp(-z))
    return np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p))


def test_matches_textbook_formula_for_moderate_logits():
    rng = np.random.default_rng(0)
    z, y = rng.standard_normal(20) * 3, rng.integers(0, 2, 20).astype(float)
    loss, cache = sigmoid_cross_entropy_forward(z, y)
    assert loss == pytest.approx(naive_loss(z, y), rel=1e-12)
    np.testing.assert_allclose(sigmoid_cross_entropy_backward(cache), (sigmoid(z) - y) / 20, rtol=1e-12)


def test_gradient_check_with_and_without_weights():
    rng = np.random.default_rng(1)
    z, y, s = rng.standard_normal(9), rng.integers(0, 2, 9).astype(float), rng.random(9) + 0.1
    for weights in (None, s):
        _, cache = sigmoid_cross_entropy_forward(z, y, weights)
        report = check_gradients(lambda: sigmoid_cross_entropy_forward(z, y, weights)[0],
                                 {"z": z}, {"z": sigmoid_cross_entropy_backward(cache)})
        assert report.passed, report


def test_loss_is_a_mean_not_a_sum():
    z, y = np.array([2.0, -1.0, 0.5]), np.array([1.0, 0.0, 0.0])
    single, cache1 = sigmoid_cross_entropy_forward(z, y)
    doubled, cache2 = sigmoid_cross_entropy_forward(np.tile(z, 2), np.tile(y, 2))
    assert doubled == pytest.approx(single, rel=1e-14)
    np.testing.assert_allclose(sigmoid_cross_entropy_backward(cache2)[:3],
                               sigmoid_cross_entropy_backward(cache1) / 2, rtol=1e-14)


def test_integer_weights_equal_repeated_rows():
    z, y = np.array([2.0, -1.0, 0.5]), np.array([1.0, 0.0, 1.0])
    weighted, _ = sigmoid_cross_entropy_forward(z, y, np.array([3.0, 1.0, 2.0]))
    repeated, _ = sigmoid_cross_entropy_forward(np.repeat(z, [3, 1, 2]), np.repeat(y, [3, 1, 2]))
    assert weighted == pytest.approx(repeated, rel=1e-14)


@pytest.mark.parametrize("scale", [1e4, 1e6, 1e300])
def test_no_overflow_at_large_logits(scale):
    z = np.array([scale, -scale, scale, -scale])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # overflow or NaN fails the test
        loss, cache = sigmoid_cross_entropy_forward(z, y)
        grad = sigmoid_cross_entropy_backward(cache)
    # wrong-side examples cost |z| each, right-side ones nothing
    assert loss == pytest.approx((scale + scale) / 4, rel=1e-12)
    np.testing.assert_array_equal(grad, np.array([1.0, 0.0, 0.0, -1.0]) / 4)
    assert np.all(np.isfinite(grad))
