"""The gradient checker itself: it must pass right gradients and fail wrong ones."""
import numpy as np
import pytest

from wdnumpy import gradcheck
from wdnumpy.losses import sigmoid, sigmoid_cross_entropy_forward


def test_numerical_gradient_of_known_function_restores_input():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    original = x.copy()
    grad = gradcheck.numerical_gradient(lambda: float(np.sum(x ** 3)), x)
    np.testing.assert_allclose(grad, 3 * original ** 2, rtol=1e-9)
    np.testing.assert_array_equal(x, original)


def test_relative_error_definition():
    assert gradcheck.relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert gradcheck.relative_error([1.0, 0.0], [0.0, 0.0]) == pytest.approx(1.0)
    assert gradcheck.relative_error([2.0, 4.0], [2.0, 3.0]) == pytest.approx(1 / 7)
    assert gradcheck.relative_error([0.0], [0.0]) == 0.0  # both zero: the 1e-8 floor, no 0/0
    with pytest.raises(ValueError, match="shapes"):
        gradcheck.relative_error(np.zeros(2), np.zeros(3))


def test_rejects_float32():
    with pytest.raises(ValueError, match="float64"):
        gradcheck.numerical_gradient(lambda: 0.0, np.zeros(3, dtype=np.float32))


def test_report_fails_a_sum_instead_of_mean_backward():
    """The checker catches the classic bug of a gradient without the 1/N of the mean."""
    rng = np.random.default_rng(0)
    z, y = rng.standard_normal(6), rng.integers(0, 2, 6).astype(float)
    right = {"z": (sigmoid(z) - y) / 6}
    wrong = {"z": sigmoid(z) - y}
    f = lambda: sigmoid_cross_entropy_forward(z, y)[0]  # noqa: E731
    good = gradcheck.check_gradients(f, {"z": z}, right)
    bad = gradcheck.check_gradients(f, {"z": z}, wrong)
    assert good.passed and good.max_error < 1e-9
    assert not bad.passed and bad.max_error > 0.5
    text = str(bad)
    assert "z" in text and "FAIL" in text and "PASS" in str(good)


def test_missing_analytic_gradient_is_an_error():
    x = np.zeros(2)
    with pytest.raises(ValueError, match="no analytic gradient"):
        gradcheck.check_gradients(lambda: float(x.sum()), {"x": x}, {})


def test_check_layer_catches_a_wrong_backward():
    def forward(x):
        return 2 * x, None

    def wrong_backward(dout, cache):
        return dout  # forgot the factor 2

    report = gradcheck.check_layer(forward, wrong_backward, {"x": np.ones(3)}, wrt="x")
    assert not report.passed
    with pytest.raises(ValueError, match="gradients"):
        gradcheck.check_layer(forward, lambda d, c: (d, d), {"x": np.ones(3)}, wrt="x")


def test_check_gradients_uses_the_bound_it_is_given():
    x = np.array([0.3, -1.2])
    analytic = {"x": 2 * x + 1e-8}  # a gradient off by 1e-8: within the default bound, not within 1e-12
    report = gradcheck.check_gradients(lambda: float(np.sum(x ** 2)), {"x": x}, analytic)
    assert report.passed and report.bound == gradcheck.DEFAULT_BOUND
    strict = gradcheck.check_gradients(lambda: float(np.sum(x ** 2)), {"x": x}, analytic, bound=1e-12)
    assert not strict.passed and strict.bound == 1e-12


def test_numerical_gradient_refuses_an_array_it_cannot_perturb_in_place():
    x = np.zeros((3, 4)).T  # a transposed view: reshape(-1) would be a copy
    with pytest.raises(ValueError, match="numerical_gradient needs a contiguous array it can perturb in place"):
        gradcheck.numerical_gradient(lambda: float(np.sum(x)), x)


def test_report_lines_end_in_exactly_pass_or_fail():
    """README: the report "prints one PASS/FAIL line per parameter": the result column is the bare word."""
    x = np.array([0.3, -1.2])
    good = gradcheck.check_gradients(lambda: float(np.sum(x ** 2)), {"x": x}, {"x": 2 * x})
    bad = gradcheck.check_gradients(lambda: float(np.sum(x ** 2)), {"x": x}, {"x": x})
    assert str(good).splitlines()[1].split()[-1] == "PASS"
    assert str(bad).splitlines()[1].split()[-1] == "FAIL"


class CubeModel:
    """The least check_model needs (its docstring): ``params`` and ``loss(batch, backward=, dropout_seed=)``."""

    def __init__(self):
        self.params = {"x": np.array([1.0, 2.0])}

    def loss(self, batch, backward=True, dropout_seed=None):
        x = self.params["x"]
        return float(np.sum(x ** 3)), ({"x": 3 * x ** 2} if backward else None)


def test_check_model_uses_the_step_and_the_bound_it_is_given():
    """check_model(h=, bound=): centred differences of x³ are 3x² + h² exactly, so the error shows h;
    the report carries the given bound."""
    h = 1e-2
    report = gradcheck.check_model(CubeModel(), None, h=h, bound=1e-3)
    assert report.max_error == pytest.approx(h ** 2 / (12 + 12 + h ** 2), rel=1e-3)
    assert report.passed and report.bound == 1e-3
    assert not gradcheck.check_model(CubeModel(), None, h=h, bound=1e-6).passed


def test_relative_error_of_empty_gradients_is_zero_and_an_error_on_the_bound_passes():
    from wdnumpy.gradcheck import compare, relative_error
    assert relative_error(np.zeros(0), np.zeros(0)) == 0.0  # nothing to disagree on
    analytic, numerical = {"w": np.array([1.0])}, {"w": np.array([1.5])}
    error = relative_error(analytic["w"], numerical["w"])
    assert compare(analytic, numerical, bound=error).passed  # "error <= bound" passes
    assert not compare(analytic, numerical, bound=error * 0.999).passed


def test_check_layer_takes_one_name_uses_its_seed_and_its_step():
    """wrt may be a single name; dout is drawn from ``seed`` (the same report twice); ``h`` is the
    finite-difference step (a huge step on a curved function shows a large error)."""
    from wdnumpy.gradcheck import check_layer

    def forward(values):
        return values ** 3, values

    def backward(dout, values):
        return dout * 3 * values ** 2

    inputs = {"values": np.array([0.5, -1.0, 2.0])}
    first, again = (check_layer(forward, backward, inputs, "values", seed=4) for _ in range(2))
    assert first.passed and first.rows[0].error == again.rows[0].error
    coarse = check_layer(forward, backward, inputs, "values", seed=4, h=0.5)
    assert coarse.rows[0].error > 1e-3 > first.rows[0].error


# -- defaults, names, messages and the report's exact text (mutmut survivors showed them unpinned) ---------------

def test_check_layer_draws_dout_from_seed_0_by_default():
    """``seed=0`` is the default: the same dout, so the same error, as seed=0 given, and not seed=1's.
    (A coarse step makes the error depend on dout: centred differences of v³ are 3v² + h².)"""
    from wdnumpy.gradcheck import check_layer

    def forward(values):
        return values ** 3, values

    def backward(dout, values):
        return dout * 3 * values ** 2

    inputs = {"values": np.array([0.5, -1.0, 2.0, 0.1])}
    default, zero, one = (check_layer(forward, backward, inputs, "values", h=0.1, **seed)
                          for seed in ({}, {"seed": 0}, {"seed": 1}))
    assert default.rows[0].error == zero.rows[0].error != one.rows[0].error
    assert default.bound == 1e-7 and check_layer(forward, backward, inputs, "values").passed  # default h and bound


def test_check_layer_expands_row_gradients_and_names_a_count_mismatch():
    from wdnumpy.gradcheck import check_layer
    from wdnumpy.layers import RowGrad

    def forward(x, E):
        return x * E[[0, 2]].sum(), None

    def backward(dout, cache):  # d/dx, and d/dE for rows 0 and 2 only (a RowGrad)
        x, E = inputs["x"], inputs["E"]
        return dout * E[[0, 2]].sum(), RowGrad(np.array([0, 2]), np.full(2, np.sum(dout * x)), (3,))

    inputs = {"x": np.array([0.5, -1.5]), "E": np.array([0.3, 7.0, -0.2])}
    report = check_layer(forward, backward, inputs, ("x", "E"))
    assert report.passed and [r.name for r in report.rows] == ["x", "E"]
    with pytest.raises(ValueError, match=r"^backward returned 2 gradients for 1 names in wrt \['x'\]$"):
        check_layer(forward, backward, inputs, "x")


class TwoParameterModel:
    """check_model's least model, with two parameters; it records the ``backward`` argument of each call."""

    def __init__(self):
        self.params = {"x": np.array([1.0, 2.0]), "y": np.array([[0.5], [-1.0]])}
        self.backward_flags, self.dropout_seeds = [], []

    def loss(self, batch, backward=True, dropout_seed=None):
        self.backward_flags.append(backward)
        self.dropout_seeds.append(dropout_seed)
        x, y = self.params["x"], self.params["y"]
        loss = float(np.sum(x ** 3) + np.sum(x) * np.sum(y ** 2))
        return loss, ({"x": 3 * x ** 2 + np.sum(y ** 2), "y": 2 * y * np.sum(x)} if backward else None)


def test_check_model_checks_the_names_it_is_given_and_runs_one_backward_pass():
    """Every parameter by default, or just ``names``; the analytic gradient comes from one loss with
    backward, the finite differences from losses without (two per entry)."""
    model = TwoParameterModel()
    report = gradcheck.check_model(model, None)
    assert [r.name for r in report.rows] == ["x", "y"] and report.passed and report.bound == 1e-7
    assert model.backward_flags == [True] + [False] * 2 * 4
    assert model.dropout_seeds == [0] * 9  # every call draws the same masks, from dropout_seed=0 by default
    model = TwoParameterModel()
    gradcheck.check_model(model, None, dropout_seed=7)
    assert model.dropout_seeds == [7] * 9
    model = TwoParameterModel()
    only_y = gradcheck.check_model(model, None, names=("y",))
    assert [r.name for r in only_y.rows] == ["y"] and only_y.passed
    assert model.backward_flags == [True] + [False] * 2 * 2


def test_numerical_gradients_use_a_step_of_1e_minus_5_by_default():
    """Centred differences of x³ are 3x² + h² exactly: with the default h = 1e-5 they are 3x² to ~1e-10."""
    x, y = np.array([1.0, -2.0]), np.array([[0.5]])
    grads = gradcheck.numerical_gradients(lambda: float(np.sum(x ** 3) + np.sum(y ** 3)), {"x": x, "y": y})
    assert list(grads) == ["x", "y"]
    np.testing.assert_allclose(grads["x"], 3 * x ** 2, rtol=0, atol=1e-7)
    np.testing.assert_allclose(grads["y"], 3 * y ** 2, rtol=0, atol=1e-7)
    coarse = gradcheck.numerical_gradients(lambda: float(np.sum(x ** 3)), {"x": x}, h=0.5)
    np.testing.assert_allclose(coarse["x"], 3 * x ** 2 + 0.25, rtol=1e-12)
    assert gradcheck.numerical_gradient(lambda: float(np.sum(x ** 3)), x)[1] == pytest.approx(12.0, abs=1e-7)


def test_relative_error_follows_its_formula_for_any_numeric_arrays():
    """``max|a − b| / max(1e-8, max|a| + max|b|)`` — also for integer arrays, where |−128| is 128."""
    assert gradcheck.relative_error(np.array([-128], dtype=np.int8), [0.0]) == 1.0
    assert gradcheck.relative_error([0.0], np.array([-128], dtype=np.int8)) == 1.0
    assert gradcheck.relative_error(np.array([3, -4], dtype=np.int16), [3.0, -2.0]) == pytest.approx(2 / 7)
    assert gradcheck.relative_error([1e-9], [0.0]) == pytest.approx(0.1)  # the 1e-8 floor of the denominator
    with pytest.raises(ValueError, match=r"^cannot compare gradients of shapes \(2,\) and \(3,\)$"):
        gradcheck.relative_error(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match=r"^gradient checks need float64 arrays, got float32$"):
        gradcheck.numerical_gradient(lambda: 0.0, np.zeros(3, dtype=np.float32))


def test_compare_reports_each_numerical_gradient_in_order_and_names_the_missing_ones():
    analytic = {"b": np.array([1.0]), "a": np.array([2.0]), "extra": np.array([0.0])}
    report = gradcheck.compare(analytic, {"a": np.array([2.0]), "b": np.array([3.0])})
    assert [(r.name, r.passed) for r in report.rows] == [("a", True), ("b", False)]
    assert report.rows[1].error == pytest.approx(0.5) and report.max_error == pytest.approx(0.5)
    assert report.bound == gradcheck.DEFAULT_BOUND == 1e-7 and not report.passed
    with pytest.raises(ValueError, match=r"^no analytic gradient for \['c', 'd'\]$"):
        gradcheck.compare({}, {"d": np.zeros(1), "c": np.zeros(1)})
    empty = gradcheck.compare({}, {})
    assert empty.passed and empty.max_error == 0.0


def test_the_report_prints_a_header_and_one_aligned_line_per_parameter():
    """The printed report, exactly: a header naming the bound, then name, error (3 significant digits) and
    PASS/FAIL, the name column as wide as the longest name (at least the 9 letters of "parameter")."""
    from wdnumpy.gradcheck import CheckRow, GradCheckReport
    short = GradCheckReport([CheckRow("w", 1.5e-9, True), CheckRow("b", 0.25, False)], 1e-7)
    assert str(short) == ("parameter  relative error  result (bound 1e-07)\n"
                          "w               1.500e-09  PASS\n"
                          "b               2.500e-01  FAIL")
    long = GradCheckReport([CheckRow("deep.W1_long", 0.0, True)], 1e-4)
    assert repr(long) == ("parameter     relative error  result (bound 1e-04)\n"
                          "deep.W1_long       0.000e+00  PASS")


def test_check_layer_judges_and_reports_with_the_bound_it_is_given():
    """check_layer(bound=): a right backward whose error (a coarse step) is above a strict bound fails it, passes a
    loose one, and the report carries the bound given."""
    from wdnumpy.gradcheck import check_layer

    def forward(values):
        return values ** 3, values

    def backward(dout, values):
        return dout * 3 * values ** 2

    inputs = {"values": np.array([0.5, -1.0, 2.0])}
    error = check_layer(forward, backward, inputs, "values", h=0.01).rows[0].error
    assert 1e-7 < error < 1e-3
    strict = check_layer(forward, backward, inputs, "values", h=0.01, bound=error / 2)
    loose = check_layer(forward, backward, inputs, "values", h=0.01, bound=1e-3)
    assert not strict.passed and strict.bound == error / 2
    assert loose.passed and loose.bound == 1e-3
