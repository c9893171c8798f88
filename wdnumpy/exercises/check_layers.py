"""Checkers of exercises 1–3: the backward passes of the layers (:mod:`wdnumpy.layers`).

Each takes the student's function with the library's signature ``*_backward(dout, cache)``,
feeds it caches made by the library's own forward on tiny inputs, and checks the result
against the expected values and against finite differences of the forward.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import layers
from ..batch import bags_from_lists, csr_row_of_entry
from ..gradcheck import numerical_gradient
from .checks import Check, Snapshot, call, check_aliasing, check_in_place, read_array, read_tuple, run

# The library's functions as they were at import time, so that expected values never come
# from a student's function switched in with wdnumpy.exercises.use.
_LIBRARY = {name: getattr(layers, name) for name in (
    "sparse_linear_forward", "sparse_linear_backward", "embedding_forward", "embedding_backward",
    "bag_embedding_forward", "bag_embedding_backward", "affine_forward", "affine_backward",
    "relu_forward", "relu_backward")}


def _dense(grad):
    return grad.to_dense() if hasattr(grad, "to_dense") else np.asarray(grad, dtype=np.float64)


# ---------------------------------------------------------------------------
# 1. The wide part: sparse_linear_backward(dy, cache) -> dw
# ---------------------------------------------------------------------------

def wide_cases():
    """(title, X, w, dy): a wide batch with weighted entries and a column active in every row
    (N ≠ D), and a square one (N = D), where a missing transpose still has the right shape."""
    rng = np.random.default_rng(0)
    X1 = sp.csr_matrix((np.array([1.0, 1.0, 0.5, 1.0, 2.0, 1.0, 3.0]),
                        (np.array([0, 0, 1, 1, 2, 3, 3]), np.array([2, 5, 2, 0, 2, 2, 4]))), shape=(4, 6))
    X2 = sp.csr_matrix((np.array([1.0, 2.0, 1.0, 1.0, 0.5]),
                        (np.array([0, 0, 1, 2, 2]), np.array([1, 2, 1, 0, 1]))), shape=(3, 3))
    return [("4 examples, 6 wide features; column 2 is active in every row; entries of 0.5, 2 and 3",
             X1, rng.standard_normal(6), rng.standard_normal(4)),
            ("3 examples, 3 wide features (square); column 1 is active in every row",
             X2, rng.standard_normal(3), rng.standard_normal(3))]


def check_sparse_linear_backward(student) -> "CheckResult":
    """Check ``sparse_linear_backward(dy, cache) -> dw`` (a RowGrad or an array of shape (D,)).

    Mistakes named: repeated columns dropped (fancy-index ``+=``, or a RowGrad with repeated
    rows), the entries' values ignored, a missing transpose, an extra 1/N, dy changed in place,
    a sparse or matrix return, a wrong shape.
    """
    def body(check):
        for title, X, w, dy in wide_cases():
            check.case(title)
            n, d = X.shape
            _, cache = _LIBRARY["sparse_linear_forward"](X, w)
            expected = _dense(_LIBRARY["sparse_linear_backward"](dy, cache))
            numeric = numerical_gradient(lambda: float(np.dot(X @ w, dy)), w)
            rows, cols = csr_row_of_entry(X), X.indices
            dropped = np.zeros(d)
            dropped[cols] += X.data * dy[rows]  # what fancy-index += computes: one contribution per column
            ones = sp.csr_matrix((np.ones_like(X.data), X.indices, X.indptr), shape=X.shape)
            variants = [
                ("repeats_dropped", dropped, "repeated columns dropped: a column active in several rows "
                 "must collect a contribution from every one of them; `dw[cols] += ...` with fancy indexing "
                 "keeps only one of several equal indices"),
                ("values_ignored", ones.T @ dy, "the values stored in X were ignored: not every entry is 1 "
                 "(there are entries of 0.5, 2 and 3), and an entry's value matters to its column's gradient"),
                ("missing_transpose", X @ dy if n == d else None, "missing transpose: dw matches the product "
                 "of X with dy as the forward pass multiplies X with w; the gradient with respect to w runs "
                 "the other way through X"),
            ]
            factors = {1 / n: ("extra_mean", f"dw is {n} times too small (divided by N = {n}): nothing is "
                               "averaged in this layer; any 1/N of the loss is already inside dy")}
            args = {"dy": dy, "cache": cache}
            snapshot = Snapshot(args)
            ok, out = call(check, student, args, "sparse_linear_backward")
            if not ok:
                continue
            check_in_place(check, snapshot)
            dw = read_array(check, out, (d,), "dw", rowgrad=True, meaning="one entry per wide weight")
            if dw is None:
                continue
            check_aliasing(check, {"dw": out}, args)
            right = check.compare("dw", dw, expected, "the expected values")
            right &= check.compare("dw", dw, numeric, "finite differences")
            if not right:
                check.diagnose("dw", dw, expected, variants, factors)
    return run(Check("sparse_linear_backward"), body)


# ---------------------------------------------------------------------------
# 2. Embeddings: embedding_backward(dout, cache), bag_embedding_backward(dout, cache) -> dE
# ---------------------------------------------------------------------------

def check_embedding_backward(student) -> "CheckResult":
    """Check ``embedding_backward(dout, cache) -> dE`` (a RowGrad or an array of shape (V, K)).

    Mistakes named: repeated ids dropped (fancy-index ``+=``), repeats averaged, one row per
    example instead of per id (a wrong shape), dout changed in place or returned as the result.
    """
    def body(check):
        ids = np.array([1, 3, 1, 0, 3, 3])
        rng = np.random.default_rng(1)
        E, dout = rng.standard_normal((5, 3)), rng.standard_normal((6, 3))
        check.case("6 examples, a table of 5 ids × 3; id 1 occurs twice and id 3 three times, ids 2 and 4 never")
        _, cache = _LIBRARY["embedding_forward"](ids, E)
        expected = _dense(_LIBRARY["embedding_backward"](dout, cache))
        numeric = numerical_gradient(lambda: float(np.sum(E[ids] * dout)), E)
        dropped = np.zeros_like(E)
        dropped[ids] += dout
        counts = np.maximum(np.bincount(ids, minlength=5), 1)[:, None]
        variants = [
            ("repeats_dropped", dropped, "repeated ids dropped: id 3 occurs in three rows and must get the "
             "gradient of all three; `dE[ids] += dout` with fancy indexing keeps only one of several equal ids"),
            ("repeats_averaged", expected / counts, "the rows of a repeated id were averaged; each row used the "
             "id's embedding, so each row's gradient counts in full"),
        ]
        args = {"dout": dout, "cache": cache}
        snapshot = Snapshot(args)
        ok, out = call(check, student, args, "embedding_backward")
        if not ok:
            return
        check_in_place(check, snapshot)
        dE = read_array(check, out, E.shape, "dE", rowgrad=True,
                        meaning="one row per id of the vocabulary, not one per example")
        if dE is None:
            return
        check_aliasing(check, {"dE": out}, args)
        right = check.compare("dE", dE, expected, "the expected values")
        right &= check.compare("dE", dE, numeric, "finite differences")
        if not right:
            check.diagnose("dE", dE, expected, variants)
    return run(Check("embedding_backward"), body)


def check_bag_embedding_backward(student) -> "CheckResult":
    """Check ``bag_embedding_backward(dout, cache) -> dE`` (a RowGrad or an array of shape (V, K)).

    Mistakes named: ids repeated across bags dropped (fancy-index ``+=``), an id's count inside
    a bag ignored, mean pooling's per-row factor ignored, a sparse return, dout changed in place.
    """
    def body(check):
        bags = bags_from_lists([[1, 1, 3], [3], [], [0, 3, 3]], 5)  # repeats inside and across bags
        rng = np.random.default_rng(2)
        E, dout = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
        for pooling in ("sum", "mean"):
            check.case(f"{pooling} pooling of the bags [1, 1, 3], [3], [], [0, 3, 3] (5 ids × 3)")
            _, cache = _LIBRARY["bag_embedding_forward"](bags, E, pooling)
            expected = _dense(_LIBRARY["bag_embedding_backward"](dout, cache))
            numeric = numerical_gradient(
                lambda: float(np.sum(_LIBRARY["bag_embedding_forward"](bags, E, pooling)[0] * dout)), E)
            rows = csr_row_of_entry(bags)
            scale = np.ones(4) if cache.scale is None else cache.scale
            dropped = np.zeros_like(E)
            dropped[bags.indices] += dout[rows] * (bags.data * scale[rows])[:, None]
            once = np.zeros_like(E)
            np.add.at(once, bags.indices, dout[rows] * scale[rows][:, None])
            variants = [
                ("repeats_dropped", dropped, "ids repeated across bags dropped: id 3 is in three bags and must "
                 "get the gradient of each; `dE[ids] += ...` with fancy indexing keeps only one of several "
                 "equal ids"),
                ("counts_ignored", once, "an id's count inside a bag was ignored: bag 0 holds id 1 twice (the "
                 "matrix stores it once, with the value 2), so it contributes twice to the pooled vector"),
                ("scale_ignored", _dense(_LIBRARY["bag_embedding_backward"](
                    dout, cache._replace(scale=None))) if pooling == "mean" else None,
                 "mean pooling's factor was ignored: this field divides each bag by its size in the forward "
                 "pass (the factors are in cache.scale), and the backward must undo the same scaling"),
            ]
            args = {"dout": dout, "cache": cache}
            snapshot = Snapshot(args)
            ok, out = call(check, student, args, "bag_embedding_backward")
            if not ok:
                continue
            check_in_place(check, snapshot)
            dE = read_array(check, out, E.shape, "dE", rowgrad=True, meaning="one row per id of the vocabulary")
            if dE is None:
                continue
            check_aliasing(check, {"dE": out}, args)
            right = check.compare("dE", dE, expected, "the expected values")
            right &= check.compare("dE", dE, numeric, "finite differences")
            if not right:
                check.diagnose("dE", dE, expected, variants)
    return run(Check("bag_embedding_backward"), body)


# ---------------------------------------------------------------------------
# 3. The MLP: affine_backward(dout, cache) -> (dx, dW, db), relu_backward(dout, cache) -> dx
# ---------------------------------------------------------------------------

def affine_cases():
    """(title, x, W, b): a rectangular layer with bias, a square one (N = H_in = H_out, where a
    missing transpose keeps every shape right), and the model's output layer without bias."""
    rng = np.random.default_rng(3)
    return [("x (5, 4), W (4, 3), b (3,)", rng.standard_normal((5, 4)), rng.standard_normal((4, 3)),
             rng.standard_normal(3)),
            ("x (3, 3), W (3, 3), b (3,): square, so every product has a right-looking shape",
             rng.standard_normal((3, 3)), rng.standard_normal((3, 3)), rng.standard_normal(3)),
            ("x (4, 2), W (2, 1), no bias (like the output layer: db must be None)",
             rng.standard_normal((4, 2)), rng.standard_normal((2, 1)), None)]


def check_affine_backward(student) -> "CheckResult":
    """Check ``affine_backward(dout, cache) -> (dx, dW, db)``, db None for a layer without bias.

    Mistakes named: a missing transpose in dx or dW, db summed over the wrong axis or averaged
    instead of summed, a db for a layer without bias, dout or the cache changed in place, outputs
    aliasing the inputs, wrong shapes or types.
    """
    def body(check):
        rng = np.random.default_rng(4)
        for title, x, W, b in affine_cases():
            check.case(title)
            out, cache = _LIBRARY["affine_forward"](x, W, b)
            dout = rng.standard_normal(out.shape)
            expected = _LIBRARY["affine_backward"](dout, cache)
            inputs = {"dx": x, "dW": W} if b is None else {"dx": x, "dW": W, "db": b}

            def f():
                return float(np.sum(_LIBRARY["affine_forward"](x, W, b)[0] * dout))

            numeric = {name: numerical_gradient(f, array) for name, array in inputs.items()}
            square = x.shape[0] == x.shape[1] == W.shape[1]
            n = x.shape[0]
            variants = {
                "dx": [("missing_transpose", dout @ W if square else None, "missing transpose in dx: dout meets "
                        "W the way x meets W in the forward pass; write down the shapes (N, H_out) and "
                        "(H_in, H_out) to see which product gives (N, H_in)")],
                "dW": [("missing_transpose", x @ dout if square else None, "missing transpose in dW: write "
                        "down the shapes of x (N, H_in) and dout (N, H_out); the product must add up over "
                        "the N examples"),
                       ("transposed_result", dout.T @ x if square else None, "dW is the transpose of the "
                        "expected gradient: it must have W's shape (H_in, H_out), row i for input unit i")],
                "db": [("wrong_axis", dout.sum(axis=1) if square else None, "db was summed over the wrong "
                        "axis: b is added to every example, so its gradient adds up over the examples, "
                        "one entry per output unit")],
            }
            factors = {"db": {1 / n: ("averaged", f"db is {n} times too small: it was averaged over the "
                                      f"N = {n} examples; every example adds its full share to b's gradient")}}
            args = {"dout": dout, "cache": cache}
            snapshot = Snapshot(args)
            ok, result = call(check, student, args, "affine_backward")
            if not ok:
                continue
            check_in_place(check, snapshot)
            result = read_tuple(check, result, 3, "affine_backward", "(dx, dW, db)")
            if result is None:
                continue
            if b is None and result[2] is not None:
                check.fail("db_without_bias", "this layer has no bias (cache.has_bias is False), so db must be "
                           f"None; got {type(result[2]).__name__}")
            check_aliasing(check, {k: v for k, v in zip(("dx", "dW", "db"), result) if k in inputs}, args)
            for (name, array), got, want in zip(inputs.items(), result, expected):
                value = read_array(check, got, array.shape, name, meaning=f"the shape of {name[1:]}")
                if value is None:
                    continue
                right = check.compare(name, value, want, "the expected values")
                right &= check.compare(name, value, numeric[name], "finite differences")
                if not right:
                    check.diagnose(name, value, want, variants[name], factors.get(name))
    return run(Check("affine_backward"), body)


def check_relu_backward(student) -> "CheckResult":
    """Check ``relu_backward(dout, cache) -> dx`` (a new array of dout's shape).

    Mistakes named: dout masked in place (``dx = dout; dx[...] = 0``), dx aliasing dout, the mask
    inverted, the ReLU applied to dout instead of using the forward's mask, the mask returned alone.
    """
    def body(check):
        rng = np.random.default_rng(5)
        # inputs at least 0.1 away from the kink at 0, so that finite differences are exact here
        magnitude = rng.uniform(0.1, 2.0, (4, 5))
        cases = [("x of shape (4, 5), entries of both signs, none near 0",
                  magnitude * rng.choice([-1.0, 1.0], (4, 5))),
                 ("x of shape (6,)", np.array([0.5, -0.3, 1.2, -2.0, 0.2, -0.1]))]
        for title, x in cases:
            check.case(title)
            _, cache = _LIBRARY["relu_forward"](x)
            dout = rng.standard_normal(x.shape)
            expected = _LIBRARY["relu_backward"](dout, cache)
            numeric = numerical_gradient(lambda: float(np.sum(np.maximum(x, 0) * dout)), x)
            variants = [
                ("mask_inverted", dout * (x <= 0), "the mask is inverted: the gradient passed where the "
                 "forward's input was negative and stopped where it was positive"),
                ("relu_of_dout", np.maximum(dout, 0), "dx is the ReLU of dout: which entries pass is decided "
                 "by the sign of the forward's input (the mask in the cache), not by the sign of dout"),
                ("mask_only", (x > 0).astype(float), "dx is the mask itself: the mask says which entries of "
                 "dout pass, and dout's values must come through"),
            ]
            args = {"dout": dout, "cache": cache}
            snapshot = Snapshot(args)
            ok, out = call(check, student, args, "relu_backward")
            if not ok:
                continue
            check_in_place(check, snapshot)
            dx = read_array(check, out, x.shape, "dx", meaning="the shape of dout")
            if dx is None:
                continue
            check_aliasing(check, {"dx": out}, args)
            right = check.compare("dx", dx, expected, "the expected values")
            right &= check.compare("dx", dx, numeric, "finite differences")
            if not right:
                check.diagnose("dx", dx, expected, variants)
    return run(Check("relu_backward"), body)
