"""Exercise checkers catch a student function that changes its input in place, even when its answer is right."""
import numpy as np
import pytest

from wdnumpy.exercises import CHECKERS, solutions


def wide_scaling_dy_in_place(dy, X, w):
    dy *= 2.0  # a right answer, but the caller's dy is now doubled
    return X.T @ dy / 2.0


def embedding_clearing_dout(dout, bags, vocab_size):
    dE = bags.T @ dout
    dout[:] = 0.0
    return dE


def affine_relu_masking_dout(dout, x, W, b):
    dh = dout  # the classic: dh is dout itself, so masking it masks the caller's array
    dh[x @ W + b <= 0] = 0.0
    return dh @ W.T, x.T @ dh, dh.sum(axis=0)


def affine_relu_clearing(position):
    """The solution, then the input at ``position`` of (dout, x, W, b) set to 0."""
    def student(*inputs):
        result = solutions.affine_relu_backward(*(a.copy() for a in inputs))
        inputs[position][...] = 0.0
        return result
    return student


CASES = {
    "wide_backward, dy": ("wide_backward", wide_scaling_dy_in_place, "dy"),
    "embedding_backward, dout": ("embedding_backward", embedding_clearing_dout, "dout"),
    "affine_relu_backward, dout masked": ("affine_relu_backward", affine_relu_masking_dout, "dout"),
    **{f"affine_relu_backward, {name}": ("affine_relu_backward", affine_relu_clearing(i), name)
       for i, name in enumerate(("dout", "x", "W", "b"))},
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


@pytest.mark.xfail(strict=True, reason="check_sigmoid_cross_entropy computes its reference from the student's "
                                       "z after the call, so a function that clips z in place passes")
def test_a_loss_that_clips_its_logits_in_place_fails(capsys):
    def clipping_in_place(z, y):
        np.clip(z, -500, 500, out=z)  # the caller's z = ±1e4 becomes ±500: the loss of another input
        return solutions.sigmoid_cross_entropy(z, y)

    result = CHECKERS["sigmoid_cross_entropy"](clipping_in_place)
    capsys.readouterr()
    assert not result.passed
