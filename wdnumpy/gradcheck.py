"""Gradient checking: compare a hand-written backward with finite differences.

Centered differences (CS231n's notes give the method and the scale):

    ∂f/∂x_i ≈ (f(x + h e_i) − f(x − h e_i)) / 2h,   h ≈ 1e-5, in float64.

Relative error of an analytic gradient ``a`` against a numerical ``b`` (one
number per parameter array):

    rel(a, b) = max|a − b| / max(1e-8, max|a| + max|b|)

The error is taken relative to the size of the whole array rather than entry
by entry, so that an entry that is tiny next to the others (where finite
differences have only absolute accuracy) does not fail a correct backward.
About 1e-7 or less means right, 1e-4 is suspicious (unless near a ReLU kink),
1e-2 means wrong.

Typical use in class::

    report = check_model(model, batch)     # every parameter of the model's loss
    print(report)                          # one line per parameter: error, PASS/FAIL
    assert report.passed
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

DEFAULT_BOUND = 1e-7


def relative_error(a, b) -> float:
    """``max|a − b| / max(1e-8, max|a| + max|b|)`` for two arrays of the same shape."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare gradients of shapes {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(1e-8, np.max(np.abs(a)) + np.max(np.abs(b))))


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centered-difference gradient of ``f()`` with respect to the array ``x``.

    ``f`` takes no arguments and must read ``x`` (which is perturbed in place,
    one entry at a time, and restored exactly afterwards).

    Returns
    -------
    grad : same shape as x, float64
    """
    if x.dtype != np.float64:
        raise ValueError(f"gradient checks need float64 arrays, got {x.dtype}")
    grad = np.zeros(x.shape)
    flat = x.reshape(-1)  # a view: writing to it perturbs x
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient needs a contiguous array it can perturb in place")
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        grad.reshape(-1)[i] = (plus - minus) / (2 * h)
    return grad


def numerical_gradients(f: Callable[[], float], arrays: Mapping[str, np.ndarray], h: float = 1e-5) -> dict:
    """:func:`numerical_gradient` for each array of a mapping name → array."""
    return {name: numerical_gradient(f, x, h) for name, x in arrays.items()}


@dataclass(frozen=True)
class CheckRow:
    name: str
    error: float
    passed: bool


class GradCheckReport:
    """The result of a gradient check: one row (name, relative error, PASS/FAIL) per array."""

    def __init__(self, rows, bound: float):
        self.rows = list(rows)
        self.bound = bound

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    @property
    def max_error(self) -> float:
        return max((r.error for r in self.rows), default=0.0)

    def __str__(self) -> str:
        width = max([len(r.name) for r in self.rows] + [9])
        lines = [f"{'parameter':<{width}}  relative error  result (bound {self.bound:.0e})"]
        lines += [f"{r.name:<{width}}  {r.error:14.3e}  {'PASS' if r.passed else 'FAIL'}" for r in self.rows]
        return "\n".join(lines)

    __repr__ = __str__


def compare(analytic: Mapping[str, np.ndarray], numerical: Mapping[str, np.ndarray],
            bound: float = DEFAULT_BOUND) -> GradCheckReport:
    """Report the relative error of each analytic gradient against its numerical one."""
    missing = set(numerical) - set(analytic)
    if missing:
        raise ValueError(f"no analytic gradient for {sorted(missing)}")
    rows = []
    for name in numerical:
        error = relative_error(analytic[name], numerical[name])
        rows.append(CheckRow(name, error, error <= bound))
    return GradCheckReport(rows, bound)


def check_gradients(f: Callable[[], float], arrays: Mapping[str, np.ndarray],
                    analytic: Mapping[str, np.ndarray], h: float = 1e-5,
                    bound: float = DEFAULT_BOUND) -> GradCheckReport:
    """Check ``analytic[name]`` against finite differences of ``f()`` in ``arrays[name]``."""
    return compare(analytic, numerical_gradients(f, arrays, h), bound)


def check_layer(forward: Callable, backward: Callable, inputs: Mapping, wrt, seed: int = 0,
                h: float = 1e-5, bound: float = DEFAULT_BOUND) -> GradCheckReport:
    """Gradient check of a layer pair ``forward(**inputs) -> (out, cache)``, ``backward(dout, cache)``.

    The scalar checked is ``f = Σ out · dout`` for a fixed random ``dout``, whose
    gradient with respect to each input is exactly what ``backward(dout, cache)``
    must return.

    Parameters
    ----------
    inputs : mapping name → value, the keyword arguments of ``forward``
    wrt : names of the float64 inputs that ``backward`` returns gradients for, in
        the order it returns them (a single name if it returns one gradient).
        A :class:`~wdnumpy.layers.RowGrad` result is expanded to its dense form.
    """
    wrt = [wrt] if isinstance(wrt, str) else list(wrt)
    out, cache = forward(**inputs)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    results = backward(dout, cache)
    results = results if isinstance(results, tuple) else (results,)
    if len(results) != len(wrt):
        raise ValueError(f"backward returned {len(results)} gradients for {len(wrt)} names in wrt {wrt}")
    analytic = {name: g.to_dense() if hasattr(g, "to_dense") else g for name, g in zip(wrt, results)}

    def f():
        return float(np.sum(forward(**inputs)[0] * dout))

    return check_gradients(f, {name: inputs[name] for name in wrt}, analytic, h, bound)


def check_model(model, batch, h: float = 1e-5, bound: float = DEFAULT_BOUND, names=None,
                dropout_seed: int = 0) -> GradCheckReport:
    """Gradient check of every parameter (or of ``names``) of a model's loss on a batch.

    The model needs ``params`` and ``loss(batch, backward=..., dropout_seed=...)``
    returning ``(loss, grads)``, like :class:`~wdnumpy.model.WideDeep`. Every call
    draws the same dropout masks (from ``dropout_seed``), so a model with dropout
    is checked with one fixed mask.
    """
    _, grads = model.loss(batch, dropout_seed=dropout_seed)
    names = list(model.params) if names is None else list(names)
    analytic = {n: grads[n].to_dense() if hasattr(grads[n], "to_dense") else np.array(grads[n]) for n in names}
    return check_gradients(lambda: model.loss(batch, backward=False, dropout_seed=dropout_seed)[0],
                           {n: model.params[n] for n in names}, analytic, h, bound)
