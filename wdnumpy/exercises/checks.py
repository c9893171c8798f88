"""What every exercise checker does: call the student's function safely, read what it returned,
compare, recognise the usual mistakes, and print one report.

A checker (see :mod:`.check_layers`, :mod:`.check_training`, :mod:`.check_features`)
builds a tiny input, computes on it the expected values, the finite-difference
gradient and the output that each *usual mistake* would give, and only then hands
the input to the student's function. A wrong answer is matched against those
mistaken outputs: if it equals one, the report names that mistake in words (what
went wrong, never the formula that fixes it) and shows expected against actual.

Nothing the student's function does or returns makes a checker raise: an
unfinished TODO (``raise NotImplementedError``) is reported as "not implemented
yet", any other exception as a failure that names it and the shapes of the inputs,
and a return value of the wrong type or shape as a failure that says what was
expected.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..gradcheck import relative_error

BOUND = 1e-7            # relative error: at most this much is right (the gradient checks' bound)
MATCH = {"rtol": 1e-6, "atol": 1e-9}   # "the student's output equals this mistaken output"


@dataclass
class CheckResult:
    """The outcome of one checker.

    passed : bool
    error : the largest relative error measured (inf when nothing could be compared)
    message : the report that was printed
    mistakes : keys of what went wrong, e.g. ``("repeats_dropped",)``; the usual mistakes
        have their own keys, other failures are ``"wrong_values"``, ``"wrong_shape"``, ...
    name : the function checked
    """

    passed: bool
    error: float
    message: str
    mistakes: tuple = ()
    name: str = ""

    def __bool__(self) -> bool:
        return self.passed


class NotImplementedYet(Exception):
    """Raised inside a checker to stop at the first call of an unfinished TODO."""


class Check:
    """Collects the lines of one report; :meth:`result` prints it and returns a :class:`CheckResult`."""

    def __init__(self, name: str):
        self.name = name
        self.lines: list[str] = []
        self.errors: list[float] = []
        self.mistakes: list[str] = []
        self.unfinished = False
        self.texts: set[str] = set()
        self.keys_in_case: set[str] = set()

    # -- structure ---------------------------------------------------------------

    def case(self, title: str) -> None:
        self.lines.append(f"  case: {title}")
        self.keys_in_case = set()

    def note(self, text: str) -> None:
        self.lines.append(f"    {text}")

    def fail(self, key: str, text: str, expected=None, actual=None, label: str = "") -> None:
        """Record a failure under the mistake's ``key``; a text already printed in an earlier
        case is not repeated (one "again" line per key and case instead)."""
        if text not in self.texts:
            self.lines.append(f"    FAIL [{key}] {text}")
            if expected is not None or actual is not None:
                self.lines += show(expected, actual, label)
        elif key not in self.keys_in_case:
            self.lines.append(f"    FAIL [{key}] again, as above")
        self.texts.add(text)
        self.keys_in_case.add(key)
        self.mistakes.append(key)

    @property
    def failed(self) -> bool:
        return bool(self.mistakes)

    # -- comparisons ---------------------------------------------------------------

    def compare(self, label: str, actual: np.ndarray, expected: np.ndarray, against: str) -> bool:
        """Print the relative error of ``actual`` against ``expected`` (same shape); True if within BOUND."""
        error = relative_error(actual, expected)
        self.errors.append(error)
        ok = error <= BOUND and bool(np.all(np.isfinite(actual)))
        self.lines.append(f"    {label + ' against ' + against:<64} relative error {error:8.1e}  "
                          f"{'ok' if ok else 'WRONG'}")
        return ok

    def same(self, label: str, actual: np.ndarray, expected: np.ndarray, against: str) -> bool:
        """Print whether an integer or key array equals the expected one exactly; True if it does."""
        ok = actual.shape == expected.shape and bool(np.array_equal(actual, expected))
        self.errors.append(0.0 if ok else float("inf"))
        self.lines.append(f"    {label + ' against ' + against:<64} {'equal' if ok else 'different':>23}  "
                          f"{'ok' if ok else 'WRONG'}")
        return ok

    def diagnose(self, label: str, actual: np.ndarray, expected: np.ndarray, variants=(), factors=None) -> None:
        """Name the mistake that gives ``actual``: the first of ``variants`` — (key, output of the
        mistake on this input, hint) — that ``actual`` equals, else a known factor off, else
        "wrong values". Always shows expected against actual."""
        for key, wrong, hint in variants:
            if wrong is not None and np.shape(wrong) == actual.shape and np.allclose(actual, wrong, **MATCH) \
                    and not np.allclose(expected, wrong, **MATCH):
                self.fail(key, hint, expected, actual, label)
                return
        for factor, (key, hint) in (factors or {}).items():
            if np.allclose(actual, factor * expected, **MATCH) and not np.allclose(actual, expected, **MATCH):
                self.fail(key, hint, expected, actual, label)
                return
        if not np.all(np.isfinite(actual)):
            self.fail("not_finite", f"{label} holds NaN or inf", expected, actual, label)
            return
        self.fail("wrong_values", f"{label} differs from the expected values (no usual mistake recognised; "
                  "compare them entry by entry)", expected, actual, label)

    # -- the end -------------------------------------------------------------------

    def not_implemented(self) -> None:
        self.unfinished = True
        self.mistakes.append("not_implemented")

    def result(self) -> CheckResult:
        if self.unfinished:
            message = (f"{self.name}: FAIL — not implemented yet (the TODO cell still raises "
                       "NotImplementedError; replace that line with your code)")
        else:
            passed = not self.mistakes
            keys = sorted(set(self.mistakes))
            verdict = "PASS" if passed else f"FAIL ({', '.join(keys)})"
            message = "\n".join([f"{self.name}:", *self.lines, f"  => {verdict}"])
        print(message)
        worst = max(self.errors) if self.errors else float("inf")
        return CheckResult(not self.mistakes, worst, message, tuple(dict.fromkeys(self.mistakes)), self.name)


def run(check: Check, body) -> CheckResult:
    """Run a checker's ``body(check)``; an unfinished TODO ends it early, and an error in the
    checker itself (a return value too strange to read) becomes a failure, not a crash."""
    try:
        body(check)
    except NotImplementedYet:
        check.not_implemented()
    except Exception as error:  # the checker could not read what came back: say so, do not crash
        check.fail("unreadable", f"the checker could not read the result ({type(error).__name__}: {error})")
    return check.result()


# ---------------------------------------------------------------------------
# Calling the student's function
# ---------------------------------------------------------------------------

def call(check: Check, function, args: dict, name: str, shape_hint: str = ""):
    """``function(*args.values())`` with NumPy warnings silenced (overflow shows up in the values).

    ``shape_hint`` replaces the usual cause named when the error is about shapes.

    Returns ``(True, value)``, or ``(False, None)`` after recording the exception. An
    unfinished TODO raises :class:`NotImplementedYet`, which ends the check.
    """
    if not callable(function):
        check.fail("wrong_type", f"expected a function, got {describe(function)}")
        return False, None
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return True, function(*args.values())
    except NotImplementedError:
        raise NotImplementedYet from None
    except Exception as error:
        text = f"{name}(...) raised {type(error).__name__}: {error}"
        text += "\n           called with " + ", ".join(f"{k} = {describe(v)}" for k, v in args.items())
        if any(word in str(error).lower() for word in ("mismatch", "shape", "dimension", "broadcast", "align")):
            text += ("\n           the shapes did not fit: write each array's shape next to your code "
                     f"({shape_hint or 'a missing or extra transpose is the usual cause'})")
        check.fail("raised", text)
        return False, None


def describe(value) -> str:
    """A short description of a value: its type and, for arrays, shape and dtype."""
    if value is None:
        return "None"
    if sp.issparse(value):
        return f"scipy.sparse {value.format.upper()} {value.shape}"
    if isinstance(value, np.matrix):
        return f"numpy.matrix {value.shape}"
    if isinstance(value, np.ndarray):
        return f"ndarray {value.shape} {value.dtype}"
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a cache
        inner = ", ".join(f"{f}: {describe(getattr(value, f))}" for f in value._fields)
        return f"{type(value).__name__}({inner})"
    if hasattr(value, "rows") and hasattr(value, "values") and hasattr(value, "shape"):
        return f"RowGrad(rows {describe(value.rows)}, values {describe(value.values)}, shape {value.shape})"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)}"
    if isinstance(value, (bool, int, float, np.generic)):
        return f"{type(value).__name__} {value!r}"
    return type(value).__name__


# ---------------------------------------------------------------------------
# Reading what came back
# ---------------------------------------------------------------------------

def read_array(check: Check, value, shape: tuple, label: str, rowgrad: bool = False, meaning: str = ""):
    """The student's ``value`` as a float64 array of ``shape``, or None after recording why not.

    Accepts an ndarray (or, with ``rowgrad``, a RowGrad of that full shape with distinct
    rows). Names a sparse matrix, a numpy.matrix, None, another type or a wrong shape.
    """
    what = "a NumPy array" + (" or a RowGrad" if rowgrad else "") + f" of shape {shape}"
    if value is None:
        check.fail("wrong_type", f"{label} is None — is a `return` missing? Expected {what}")
        return None
    if sp.issparse(value):
        check.fail("sparse_return", f"{label} is a {describe(value)}; expected {what}. A product of a sparse "
                   "matrix with a sparse matrix stays sparse; with a NumPy array it gives an array")
        return None
    if isinstance(value, np.matrix):
        check.fail("matrix_return", f"{label} is a numpy.matrix of shape {value.shape} (what sums over a sparse "
                   f"matrix give); expected a plain ndarray of shape {shape}")
        return None
    if rowgrad and all(hasattr(value, a) for a in ("rows", "values", "shape")) and not isinstance(value, np.ndarray):
        return _read_rowgrad(check, value, shape, label)
    if not isinstance(value, np.ndarray):
        check.fail("wrong_type", f"{label} is {describe(value)}; expected {what}")
        return None
    if value.dtype.kind not in "fiub":
        check.fail("wrong_type", f"{label} has dtype {value.dtype}; expected numbers")
        return None
    if value.shape != tuple(shape):
        check.fail("wrong_shape", f"{label} has shape {value.shape}; expected {tuple(shape)}"
                   + (f" ({meaning})" if meaning else ""))
        return None
    return value.astype(np.float64)


def _read_rowgrad(check: Check, grad, shape: tuple, label: str):
    rows, values = np.asarray(grad.rows), np.asarray(grad.values)
    if tuple(grad.shape) != tuple(shape):
        check.fail("wrong_shape", f"{label} is a RowGrad of shape {tuple(grad.shape)}; expected {tuple(shape)}")
        return None
    if rows.ndim != 1 or rows.dtype.kind not in "iu":
        check.fail("wrong_type", f"{label}.rows is {describe(grad.rows)}; expected a 1-D array of row indices")
        return None
    if values.shape != (rows.size, *shape[1:]):
        check.fail("wrong_shape", f"{label}.values has shape {values.shape}; with {rows.size} rows and a "
                   f"parameter of shape {tuple(shape)} it must be {(rows.size, *shape[1:])}")
        return None
    if rows.size and (rows.min() < 0 or rows.max() >= shape[0]):
        check.fail("wrong_values", f"{label}.rows holds indices outside [0, {shape[0]})")
        return None
    distinct, counts = np.unique(rows, return_counts=True)
    if distinct.size < rows.size:
        repeated = distinct[counts > 1]
        check.fail("repeats_dropped", f"{label}.rows repeats row(s) {repeated.tolist()}: a RowGrad holds each "
                   "touched row once, with all of its contributions already added up (to_dense and the "
                   "optimizers write each row once, so all but one contribution would be lost)")
        return None
    dense = np.zeros(shape)
    dense[rows] = values
    return dense


def read_tuple(check: Check, value, length: int, label: str, names: str):
    """``value`` as a tuple of ``length`` items, or None after recording what came instead."""
    if isinstance(value, (tuple, list)) and len(value) == length:
        return tuple(value)
    check.fail("wrong_type", f"{label} returned {describe(value)}; expected the tuple {names}")
    return None


# ---------------------------------------------------------------------------
# Inputs changed in place, outputs that alias
# ---------------------------------------------------------------------------

def arrays_of(name: str, value) -> dict:
    """Every array inside ``value`` (an array, a sparse matrix, a cache, a Tokens...), by a readable name."""
    if isinstance(value, np.ndarray):
        return {name: value}
    if sp.issparse(value):
        return {f"{name}.data": value.data, f"{name}.indices": getattr(value, "indices", None),
                f"{name}.indptr": getattr(value, "indptr", None)}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        out = {}
        for field in value._fields:
            out.update(arrays_of(f"{name}.{field}", getattr(value, field)))
        return out
    if hasattr(value, "__dataclass_fields__"):
        out = {}
        for field in value.__dataclass_fields__:
            out.update(arrays_of(f"{name}.{field}", getattr(value, field)))
        return out
    return {}


class Snapshot:
    """Copies of every array reachable from some named inputs, to see later what changed in place."""

    def __init__(self, inputs: dict):
        self.arrays = {}
        for name, value in inputs.items():
            self.arrays.update({k: a for k, a in arrays_of(name, value).items() if a is not None})
        self.copies = {k: a.copy() for k, a in self.arrays.items()}

    def changed(self) -> list:
        return [k for k, a in self.arrays.items()
                if a.shape != self.copies[k].shape or not np.array_equal(a, self.copies[k], equal_nan=True)]


def check_in_place(check: Check, snapshot: Snapshot) -> None:
    for name in snapshot.changed():
        readable = name.removesuffix(".data")
        check.fail("in_place", f"{readable} was changed in place: the caller's array is not the same after the "
                   "call. Work on new arrays (an assignment like `a = b` makes no copy)")


def check_aliasing(check: Check, outputs: dict, inputs: dict) -> None:
    """Fail if a returned array shares memory with an input array or with another returned array."""
    inside = {}
    for name, value in inputs.items():
        inside.update({k: a for k, a in arrays_of(name, value).items() if isinstance(a, np.ndarray)})
    outs = {}
    for name, value in outputs.items():
        outs.update({k: a for k, a in arrays_of(name, value).items() if isinstance(a, np.ndarray)})
        if hasattr(value, "rows") and hasattr(value, "values") and not isinstance(value, np.ndarray):
            outs.update({f"{name}.values": np.asarray(value.values)})
    names = list(outs)
    for i, out_name in enumerate(names):
        out = outs[out_name]
        for in_name, array in inside.items():
            if out.size and array.size and np.shares_memory(out, array):
                check.fail("aliased", f"the returned {out_name} shares memory with the input {in_name}: "
                           "changing one would change the other. Return a new array")
        for other in names[i + 1:]:
            if out.size and outs[other].size and np.shares_memory(out, outs[other]):
                check.fail("aliased", f"the returned {out_name} and {other} are the same memory: "
                           "each output needs its own array")


# ---------------------------------------------------------------------------
# Showing arrays
# ---------------------------------------------------------------------------

def format_array(a) -> str:
    if a is None:
        return "None"
    a = np.asarray(a)
    if a.dtype.kind == "u":
        return np.array2string(a, max_line_width=96, threshold=40, separator=", ")
    return np.array2string(a, precision=4, suppress_small=True, max_line_width=96, threshold=40, separator=", ")


def show(expected, actual, label: str = "") -> list:
    """Two aligned blocks: the expected value and the student's, on the tiny input."""
    lines = []
    for title, value in (("expected", expected), ("actual", actual)):
        head = f"        {title:<8} {label}: "
        text = format_array(value).split("\n")
        lines.append(head + text[0])
        lines += [" " * len(head) + t for t in text[1:]]
    return lines


def quietly(function, *args, **kwargs):
    """Call ``function`` with its printed output swallowed (to run checkers in bulk)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args, **kwargs)
