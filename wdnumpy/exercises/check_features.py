"""Checkers of exercises 6 and 7: the cross-product transformation and the CDF quantile normalisation.

No gradients here: both functions turn raw columns into the model's inputs
(:mod:`wdnumpy.features`), so the checks compare exact values on tiny inputs.
"""
from __future__ import annotations

import numpy as np

from ..features import hashing, numeric, tokens
from ..features.tokens import Tokens
from .checks import Check, Snapshot, call, check_aliasing, check_in_place, describe, read_array, run

_CROSS = tokens.cross_tokens                 # the library's functions at import time
_QUANTILE = numeric.quantile_normalize


# ---------------------------------------------------------------------------
# 6. The cross-product transformation: cross_tokens(a, b) -> Tokens
# ---------------------------------------------------------------------------

def _tokens(rows, first_id: int = 1) -> Tokens:
    """Tokens of lists of value names; ids count up from ``first_id``, keys are the names' hashes."""
    names = [name for row in rows for name in row]
    lengths = np.array([len(row) for row in rows])
    keys = hashing.stable_hash(names) if names else np.zeros(0, dtype=np.uint64)
    return Tokens(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                  np.arange(first_id, first_id + len(names), dtype=np.int64), keys.astype(np.uint64))


def cross_cases():
    """(title, a, b): bags with empty rows on either side, and a single-valued column × a bag."""
    return [("bags a = [A, B], [C], [], [D, E], [F, G] and b = [X, Y], [Y, Z], [X], [], [Y, X, Z]",
             _tokens([["A", "B"], ["C"], [], ["D", "E"], ["F", "G"]]),
             _tokens([["X", "Y"], ["Y", "Z"], ["X"], [], ["Y", "X", "Z"]], first_id=20)),
            ("one value per row a = A, B, A × bags b = [X, Y], [], [Y, Y]",
             _tokens([["A"], ["B"], ["A"]]), _tokens([["X", "Y"], [], ["Y", "Y"]], first_id=20))]


def _pairs(a: Tokens, b: Tokens, b_first=False, swap_keys=False, use_ids=False) -> np.ndarray:
    """Keys of the crosses row by row, with one usual mistake switched on (loops: tiny inputs only)."""
    keys = []
    ka = a.ids.astype(np.uint64) if use_ids else a.keys
    kb = b.ids.astype(np.uint64) if use_ids else b.keys
    for n in range(a.indptr.size - 1):
        ia, ib = range(a.indptr[n], a.indptr[n + 1]), range(b.indptr[n], b.indptr[n + 1])
        pairs = [(i, j) for j in ib for i in ia] if b_first else [(i, j) for i in ia for j in ib]
        for i, j in pairs:
            first, second = (kb[j], ka[i]) if swap_keys else (ka[i], kb[j])
            keys.append(hashing.combine_keys(np.array([first]), np.array([second]))[0])
    return np.array(keys, dtype=np.uint64)


def check_cross_tokens(student) -> "CheckResult":
    """Check ``cross_tokens(a, b) -> Tokens``: every pair of one token of a and one of b within each row.

    Mistakes named: the pairs in another order (b's token first), the two keys combined in the
    wrong order, crosses keyed from ids instead of keys, wrong counts per row (empty rows,
    pairs across rows), ids not left at 0, keys not uint64, inputs changed in place, not a Tokens.
    """
    def body(check):
        for title, a, b in cross_cases():
            check.case(title)
            expected = _CROSS(a, b)
            args = {"a": a, "b": b}
            snapshot = Snapshot(args)
            ok, out = call(check, student, args, "cross_tokens")
            if not ok:
                continue
            check_in_place(check, snapshot)
            if not isinstance(out, Tokens):
                check.fail("wrong_type", f"cross_tokens returned {describe(out)}; expected a Tokens(indptr, ids, "
                           "keys), the type of its inputs (from wdnumpy.features import Tokens)")
                continue
            indptr = read_array(check, out.indptr, expected.indptr.shape, "indptr", meaning="one more than rows")
            if indptr is None:
                continue
            if not check.same("indptr", np.asarray(out.indptr), expected.indptr, "the expected offsets"):
                check.fail("row_counts", "the number of crosses per row is wrong: a row gets one cross for each "
                           "pair of one token of a and one token of b from that same row (none if either is "
                           "empty)", np.diff(expected.indptr), np.diff(np.asarray(out.indptr)), "crosses per row")
                continue
            size = int(expected.indptr[-1])
            keys = np.asarray(out.keys)
            if keys.shape != (size,):
                check.fail("wrong_shape", f"keys has shape {keys.shape}; expected ({size},), one per cross")
                continue
            if keys.dtype != np.uint64:
                check.fail("wrong_type", f"keys has dtype {keys.dtype}; expected uint64, the 64-bit keys that "
                           "combine_keys returns")
                continue
            ids = np.asarray(out.ids)
            if ids.shape != (size,) or ids.dtype.kind not in "iu" or np.any(ids != 0):
                check.fail("ids_not_zero", f"ids is {describe(out.ids)}: a cross's ids are left at 0 ({size} "
                           "zeros of an integer type); the crossed column turns the keys into ids")
            if not check.same("keys", keys, expected.keys, "the expected keys"):
                variants = [
                    ("pair_order", _pairs(a, b, b_first=True), "the right crosses in another order: within a "
                     "row, the crosses are ordered by a's token first, then by b's"),
                    ("key_order", _pairs(a, b, swap_keys=True), "each cross's two keys were combined in the "
                     "other order: combine_keys is order-dependent and takes a's key first"),
                    ("ids_not_keys", _pairs(a, b, use_ids=True), "the crosses were keyed from the tokens' ids; a "
                     "cross's key comes from its parts' keys (ids depend on the vocabulary, keys do not)"),
                ]
                for key, wrong, hint in variants:
                    if np.array_equal(keys, wrong):
                        check.fail(key, hint, expected.keys, keys, "keys")
                        break
                else:
                    check.fail("wrong_values", "keys differ from the expected ones", expected.keys, keys, "keys")
            check_aliasing(check, {"result": out}, args)
    return run(Check("cross_tokens"), body)


# ---------------------------------------------------------------------------
# 7. The CDF quantile normalisation: quantile_normalize(x, boundaries, n_quantiles) -> (N,)
# ---------------------------------------------------------------------------

def quantile_cases():
    """(title, x, boundaries, n_quantiles); boundaries as a list, as Numeric's fitted state stores them."""
    sample = np.arange(10.0)
    return [("n_q = 5, boundaries [2, 2, 5, 9] (a tie), values below, on, between and above them",
             np.array([-1.0, 2.0, 3.5, 5.0, 6.0, 9.0, 12.0, 1.999]), [2.0, 2.0, 5.0, 9.0], 5),
            ("n_q = 3, boundaries [10, 20]", np.array([5.0, 10.0, 15.0, 20.0, 25.0]), [10.0, 20.0], 3),
            ("n_q = 4, boundaries from np.quantile of 0, 1, ..., 9 (an array)", sample[::-1].copy(),
             np.quantile(sample, [0.25, 0.5, 0.75]), 4)]


def check_quantile_normalize(student) -> "CheckResult":
    """Check ``quantile_normalize(x, boundaries, n_quantiles) -> (N,) float`` (paper §4.1).

    Mistakes named: a value on a boundary put in the quantile below, every value one quantile
    too high, the wrong denominator (outputs not spanning [0, 1]), integer outputs, x changed in
    place or returned as the output, wrong shapes or types.
    """
    def body(check):
        for title, x, boundaries, n_q in quantile_cases():
            check.case(title)
            expected = _QUANTILE(x, boundaries, n_q)
            count = np.searchsorted(boundaries, x, side="right")
            variants = [
                ("boundary_side", np.searchsorted(boundaries, x, side="left") / (n_q - 1), "values exactly on a "
                 "boundary were put in the quantile below it; the CDF P(X ≤ x) counts a boundary equal to x"),
                ("off_by_one", (count + 1) / (n_q - 1), "every value is one quantile too high: the first quantile "
                 "(below every boundary) maps to 0"),
                ("denominator", count / n_q, "the outputs do not span [0, 1]: the largest values must map to "
                 "exactly 1 and the smallest to 0, so check what you divide by"),
            ]
            args = {"x": x, "boundaries": boundaries, "n_quantiles": n_q}
            snapshot = Snapshot({"x": x, "boundaries": np.asarray(boundaries)} if isinstance(boundaries, np.ndarray)
                                else {"x": x})
            before = list(boundaries)
            ok, out = call(check, student, args, "quantile_normalize")
            if not ok:
                continue
            check_in_place(check, snapshot)
            if list(boundaries) != before:
                check.fail("in_place", "boundaries was changed in place: it is the column's fitted state")
            value = read_array(check, out, x.shape, "output", meaning="one number per value of x")
            if value is None:
                continue
            check_aliasing(check, {"output": out}, {"x": x})
            if np.asarray(out).dtype.kind in "iub":
                check.fail("integer_output", f"the outputs are integers ({np.asarray(out).dtype}): quantiles map to "
                           "fractions in [0, 1] (integer division drops them)", expected, out, "output")
                continue
            if not check.compare("output", value, expected, "the expected values"):
                check.diagnose("output", value, expected, variants)
    return run(Check("quantile_normalize"), body)

