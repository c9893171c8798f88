"""Checkers for the classroom exercises in ``notebooks/exercises/``.

Each ``check_*`` function takes the student's function, runs it on fixed small
inputs chosen to expose the usual mistakes (repeated ids, large logits, in-place
changes), compares it with finite differences or with the reference
implementation, prints the relative error and PASS or FAIL with a hint, and
returns a :class:`CheckResult`. Reference solutions are in
:mod:`wdnumpy.exercises.solutions`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..batch import bags_from_lists
from ..gradcheck import numerical_gradient, relative_error
from ..losses import sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward
from ..optim import FTRL

BOUND = 1e-7


@dataclass
class CheckResult:
    """Outcome of one checker: ``passed``, the largest relative ``error`` seen, and a ``message``."""

    passed: bool
    error: float
    message: str

    def __bool__(self) -> bool:
        return self.passed


def _report(name: str, errors: dict, hint: str, problems=()) -> CheckResult:
    worst = max(errors.values()) if errors else float("inf")
    passed = not problems and worst <= BOUND
    lines = [f"{name}:"]
    lines += [f"  {k:<28} relative error {v:.2e}  {'PASS' if v <= BOUND else 'FAIL'}" for k, v in errors.items()]
    lines += [f"  problem: {p}" for p in problems]
    lines.append(f"  => {'PASS' if passed else 'FAIL'}" + ("" if passed else f"   hint: {hint}"))
    message = "\n".join(lines)
    print(message)
    return CheckResult(passed, worst, message)


def _call(name: str, function, *args):
    """Run the student's function; an unfinished TODO becomes a failed check, not a crash."""
    try:
        return function(*args), None
    except NotImplementedError:
        return None, "not implemented yet: replace the `raise NotImplementedError` in the TODO block"
    except Exception as error:  # a student's bug: report it in the check
        return None, f"{name} raised {type(error).__name__}: {error}"


def _dense(grad):
    return grad.to_dense() if hasattr(grad, "to_dense") else np.asarray(grad, dtype=np.float64)


# -- 1. the wide part --------------------------------------------------------

def wide_case():
    """A (4, 6) CSR batch with weighted entries and column 2 active in every row."""
    rows = np.array([0, 0, 1, 1, 2, 3, 3])
    cols = np.array([2, 5, 2, 0, 2, 2, 4])
    vals = np.array([1.0, 1.0, 0.5, 1.0, 2.0, 1.0, 3.0])
    X = sp.csr_matrix((vals, (rows, cols)), shape=(4, 6))
    rng = np.random.default_rng(0)
    return X, rng.standard_normal(6), rng.standard_normal(4)


def check_wide_backward(student) -> CheckResult:
    """``student(dy, X, w) -> dw`` with dy (N,), X (N, D) CSR, w (D,); dw (D,) (or a RowGrad)."""
    X, w, dy = wide_case()
    dy_before = dy.copy()
    dw, problem = _call("wide backward", student, dy, X, w)
    if problem:
        return _report("wide part backward", {}, "dw[j] = Σ_n X[n, j] · dy[n], i.e. Xᵀ dy", [problem])
    numeric = numerical_gradient(lambda: float(np.dot(X @ w, dy)), w)
    problems = [] if np.array_equal(dy, dy_before) else ["dy was changed in place"]
    dw = _dense(dw)
    if dw.shape != w.shape:
        problems.append(f"dw has shape {dw.shape}, expected {w.shape}")
        return _report("wide part backward", {}, "dw has one entry per wide weight", problems)
    return _report("wide part backward", {"dw vs finite differences": relative_error(dw, numeric)},
                   "column 2 occurs in every row: its gradients must add up (X.T @ dy or np.bincount), "
                   "and weighted entries multiply dy", problems)


# -- 2. embeddings with repeated ids and bags --------------------------------------

def check_embedding_backward(student) -> CheckResult:
    """``student(dout, bags, vocab_size) -> dE`` with dout (N, K), bags an (N, V) CSR of id counts
    (sum pooling: out = bags @ E), dE (V, K) (or a RowGrad)."""
    bags = bags_from_lists([[1, 1, 3], [3], [], [0, 3, 3]], 5)  # repeats inside and across bags
    rng = np.random.default_rng(1)
    E, dout = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    dout_before = dout.copy()
    dE, problem = _call("embedding backward", student, dout, bags, 5)
    hint = "an id repeated in a bag or across rows must get every contribution: dE = bagsᵀ @ dout " \
           "(fancy-index += drops repeats; np.add.at or a sparse product does not)"
    if problem:
        return _report("embedding backward", {}, hint, [problem])
    numeric = numerical_gradient(lambda: float(np.sum((bags @ E) * dout)), E)
    problems = [] if np.array_equal(dout, dout_before) else ["dout was changed in place"]
    dE = _dense(dE)
    if dE.shape != E.shape:
        return _report("embedding backward", {}, "dE has the table's shape (V, K)",
                       problems + [f"dE has shape {dE.shape}, expected {E.shape}"])
    return _report("embedding backward", {"dE vs finite differences": relative_error(dE, numeric)}, hint, problems)


# -- 3. the MLP: affine + ReLU ----------------------------------------------------

def check_affine_relu_backward(student) -> CheckResult:
    """``student(dout, x, W, b) -> (dx, dW, db)`` for out = relu(x W + b)."""
    rng = np.random.default_rng(2)
    x, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    # with this seed every pre-activation x W + b is at least 0.01 away from the ReLU kink
    dout = rng.standard_normal((5, 3))
    before = [a.copy() for a in (dout, x, W, b)]
    result, problem = _call("affine + ReLU backward", student, dout, x, W, b)
    hint = "first dh = dout · [x W + b > 0] (a new array), then dx = dh Wᵀ, dW = xᵀ dh, db = Σ_n dh[n]"
    if problem:
        return _report("affine + ReLU backward", {}, hint, [problem])
    if not (isinstance(result, tuple) and len(result) == 3):
        return _report("affine + ReLU backward", {}, hint, ["return the tuple (dx, dW, db)"])

    def f():
        return float(np.sum(np.maximum(0, x @ W + b) * dout))

    errors = {}
    for name, analytic, array in zip(("dx", "dW", "db"), result, (x, W, b)):
        analytic = np.asarray(analytic, dtype=np.float64)
        numeric = numerical_gradient(f, array)
        errors[f"{name} vs finite differences"] = (relative_error(analytic, numeric)
                                                   if analytic.shape == numeric.shape else float("inf"))
    problems = [f"{n} was changed in place" for n, a, c in zip(("dout", "x", "W", "b"), (dout, x, W, b), before)
                if not np.array_equal(a, c)]
    return _report("affine + ReLU backward", errors, hint, problems)


# -- 4. the numerically stable loss ----------------------------------------------------

def check_sigmoid_cross_entropy(student) -> CheckResult:
    """``student(z, y) -> (loss, dz)``: mean binary cross-entropy from logits and its gradient."""
    hint = "loss = mean(logaddexp(0, z) − y z); dz = (σ(z) − y) / N with a σ that cannot overflow " \
           "(scipy.special.expit); the loss is a mean, not a sum"
    rng = np.random.default_rng(3)
    cases = {"moderate logits": (rng.standard_normal(7) * 3, rng.integers(0, 2, 7).astype(float)),
             "logits of ±1e4": (np.array([1e4, -1e4, 1e4, -1e4, 30.0]), np.array([0.0, 0.0, 1.0, 1.0, 1.0]))}
    errors, problems = {}, []
    for name, (z, y) in cases.items():
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            result, problem = _call("sigmoid cross-entropy", student, z, y)
        if problem:
            problems.append(f"{name}: {problem}")
            continue
        loss, dz = result
        reference_loss, cache = sigmoid_cross_entropy_forward(z, y)
        reference_dz = sigmoid_cross_entropy_backward(cache)
        if not (np.isfinite(loss) and np.all(np.isfinite(dz))):
            problems.append(f"{name}: the loss or gradient is not finite")
            continue
        errors[f"{name}: loss"] = relative_error(loss, reference_loss)
        errors[f"{name}: dz"] = relative_error(dz, reference_dz)
    return _report("sigmoid cross-entropy", errors, hint, problems)


# -- 5. one FTRL-Proximal step -------------------------------------------------------------

def check_ftrl_step(student) -> CheckResult:
    """``student(w, z, n, g, alpha, beta, l1, l2) -> (w, z, n)``: one FTRL-Proximal update of a vector."""
    hint = "σ = (√(n + g²) − √n)/α uses the old n; z ← z + g − σ w uses the old w; then n ← n + g², and " \
           "w = 0 where |z| ≤ λ₁, else −(z − sign(z) λ₁)/((β + √n)/α + λ₂)"
    rng = np.random.default_rng(4)
    alpha, beta, l1, l2 = 0.2, 1.0, 0.3, 0.1
    optimizer, ref_w = FTRL(alpha, beta, l1, l2), np.zeros(8)
    state = optimizer.init_state(ref_w)
    w, z, n = np.zeros(8), np.zeros(8), np.zeros(8)
    for _ in range(5):
        g = rng.standard_normal(8)
        result, problem = _call("ftrl step", student, w, z, n, g, alpha, beta, l1, l2)
        if problem:
            return _report("FTRL step", {}, hint, [problem])
        w, z, n = (np.asarray(a, dtype=np.float64) for a in result)
        optimizer.update(ref_w, state, slice(None), g)
    ref_z, ref_n = state["z"], state["n"]
    errors = {"w after 5 steps": relative_error(w, ref_w), "z after 5 steps": relative_error(z, ref_z),
              "n after 5 steps": relative_error(n, ref_n)}
    problems = []
    if np.any(ref_w == 0) and not np.all(w[ref_w == 0] == 0):
        problems.append("weights with |z| ≤ λ₁ must be exactly 0 (that is what makes FTRL sparse)")
    return _report("FTRL step", errors, hint, problems)


CHECKERS = {
    "wide_backward": check_wide_backward,
    "embedding_backward": check_embedding_backward,
    "affine_relu_backward": check_affine_relu_backward,
    "sigmoid_cross_entropy": check_sigmoid_cross_entropy,
    "ftrl_step": check_ftrl_step,
}
