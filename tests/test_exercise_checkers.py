"""Exercise checkers catch a student function that changes its input in place, even when its answer is right."""
import numpy as np
import pytest

from wdnumpy.exercises import CHECKERS, solutions


def wide_scaling_dy_in_place(dy, cache):
    dy *= 2.0  # a right answer, but the caller's dy is now doubled
    return cache.X.T @ dy / 2.0


def embedding_clearing_dout(dout, cache):
    dE = solutions.embedding_backward(dout.copy(), cache)
    dout[:] = 0.0
    return dE


def relu_masking_dout(dout, cache):
    dx = dout  # the classic: dx is dout itself, so masking it masks the caller's array
    dx[~cache.positive] = 0.0
    return dx


def affine_clearing(name):
    """The solution, then the input ``name`` (dout, or the cache's x or W) set to 0."""
    def student(dout, cache):
        result = solutions.affine_backward(dout.copy(), cache._replace(x=cache.x.copy(), W=cache.W.copy()))
        (dout if name == "dout" else getattr(cache, name))[...] = 0.0
        return result
    return student


CASES = {
    "sparse_linear_backward, dy": ("sparse_linear_backward", wide_scaling_dy_in_place, "dy"),
    "embedding_backward, dout": ("embedding_backward", embedding_clearing_dout, "dout"),
    "relu_backward, dout masked": ("relu_backward", relu_masking_dout, "dout"),
    **{f"affine_backward, {name}": ("affine_backward", affine_clearing(name), name) for name in ("dout", "x", "W")},
}


@pytest.mark.parametrize("case", CASES)
def test_a_student_function_that_changes_its_input_in_place_fails(case, capsys):
    checker, student, name = CASES[case]
    result = CHECKERS[checker](student)
    assert not result.passed
    assert f"{name} was changed in place" in result.message
    capsys.readouterr()


@pytest.mark.parametrize("checker", sorted(CHECKERS))
def test_the_solution_passes_its_checker(checker, capsys):
    assert CHECKERS[checker](getattr(solutions, checker)).passed
    capsys.readouterr()


def test_a_loss_that_clips_its_logits_in_place_fails(capsys):
    def clipping_in_place(z, y, weights=None):
        np.clip(z, -500, 500, out=z)  # the caller's z = ±1e4 becomes ±500: the loss of another input
        return solutions.sigmoid_cross_entropy_forward(z, y, weights)

    result = CHECKERS["sigmoid_cross_entropy_forward"](clipping_in_place)
    capsys.readouterr()
    assert not result.passed
    assert "z was changed in place" in result.message
