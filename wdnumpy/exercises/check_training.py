"""Checkers of exercises 4, 5 and 8: the loss, one FTRL step and the joint backward of the model."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import layers, losses, optim
from ..batch import Batch, EmbeddingField, bags_from_lists
from ..gradcheck import numerical_gradient
from ..model import WideDeep
from ..tower import tower_backward
from .checks import (MATCH, Check, Snapshot, call, check_aliasing, check_in_place, describe, read_array,
                     read_tuple, run)
from .switch import library_only

# the library's functions at import time (expected values never come from a switched-in function)
_FORWARD = losses.sigmoid_cross_entropy_forward
_BACKWARD = losses.sigmoid_cross_entropy_backward
_FTRL = optim.ftrl_update
_MODEL_BACKWARD = WideDeep.backward


# ---------------------------------------------------------------------------
# 4. The loss: sigmoid_cross_entropy_forward(z, y, weights=None), sigmoid_cross_entropy_backward(cache)
# ---------------------------------------------------------------------------

def loss_cases():
    """(title, z, y, weights): moderate logits, logits of ±1e4 (e^z overflows), per-example weights."""
    rng = np.random.default_rng(6)
    return [("7 moderate logits", rng.standard_normal(7) * 3, rng.integers(0, 2, 7).astype(float), None),
            ("logits of ±1e4 and 30 (e^z overflows float64 beyond z ≈ 709)",
             np.array([1e4, -1e4, 1e4, -1e4, 30.0]), np.array([0.0, 0.0, 1.0, 1.0, 1.0]), None),
            ("6 logits with per-example weights", rng.standard_normal(6) * 2, np.array([1.0, 0, 0, 1, 1, 0]),
             np.array([0.5, 2.0, 1.0, 0.1, 3.0, 1.0]))]


def _plain_loss(z, y, weights):
    per_example = np.logaddexp(0.0, z) - y * z
    return per_example if weights is None else per_example * weights


def check_sigmoid_cross_entropy_forward(student) -> "CheckResult":
    """Check ``sigmoid_cross_entropy_forward(z, y, weights=None) -> (loss, cache)``.

    The loss is the (weighted) mean over the batch; the cache must be ``(z, y, weights)``
    as the library's, so that each of the two functions can be switched in alone.
    Mistakes named: a sum instead of a mean, overflow at large logits, weights ignored or
    divided by N instead of their total, a per-example loss not reduced, z changed in place.
    """
    def body(check):
        for title, z, y, weights in loss_cases():
            check.case(title)
            expected, _ = _FORWARD(z, y, weights)
            n = z.size
            per_example = _plain_loss(z, y, weights)
            variants = [("missing_mean", per_example.sum(), f"the loss is {n} times too large: it was summed "
                         f"over the N = {n} examples; the loss is the mean over the batch")]
            if weights is not None:
                variants += [
                    ("weights_ignored", _plain_loss(z, y, None).mean(), "the weights were ignored: with "
                     "per-example weights each example counts in proportion to its weight"),
                    ("weights_over_n", per_example.sum() / n, "with weights the loss is a weighted mean: "
                     "it is normalised by the total weight, not by the number of examples"),
                ]
            args = {"z": z, "y": y} if weights is None else {"z": z, "y": y, "weights": weights}
            snapshot = Snapshot(args)
            ok, result = call(check, student, args, "sigmoid_cross_entropy_forward")
            if not ok:
                continue
            check_in_place(check, snapshot)
            result = read_tuple(check, result, 2, "sigmoid_cross_entropy_forward", "(loss, cache)")
            if result is None:
                continue
            loss, cache = result
            if isinstance(loss, np.ndarray) and loss.size > 1:
                check.fail("not_reduced", f"the loss is an array of shape {loss.shape}: one number per example; "
                           "the loss of the batch is a single number (the mean)")
                continue
            if not isinstance(loss, (float, int, np.floating, np.ndarray)) or np.ndim(loss) > 1:
                check.fail("wrong_type", f"the loss is {describe(loss)}; expected a float")
                continue
            loss = float(np.asarray(loss).reshape(()))
            if not np.isfinite(loss):
                check.fail("overflow", f"the loss is {loss} for this input: an exponential overflowed "
                           "(or a log of 0 was taken); write it in a form that stays finite for any logit",
                           expected, loss, "loss")
                continue
            if not check.compare("loss", np.array(loss), np.array(expected), "the expected value"):
                check.diagnose("loss", np.array(loss), np.array(expected), variants)
            _check_cache(check, cache, z, y, weights)
    return run(Check("sigmoid_cross_entropy_forward"), body)


def _check_cache(check, cache, z, y, weights) -> None:
    """The library's backward must accept the student's cache and give the right gradient."""
    expected = _BACKWARD((z, y, weights))
    try:
        with np.errstate(all="ignore"):
            dz = np.asarray(_BACKWARD(cache), dtype=np.float64)
        usable = dz.shape == expected.shape and np.allclose(dz, expected, **MATCH)
        problem = "" if usable else "its gradient differs from the one of (z, y, weights)"
    except Exception as error:
        usable, problem = False, f"{type(error).__name__}: {error}"
    if not usable:
        check.fail("cache_format", "the cache must be the tuple (z, y, weights), as the library's, so that the "
                   f"library's backward can read it; it got {describe(cache)} ({problem})")


def check_sigmoid_cross_entropy_backward(student) -> "CheckResult":
    """Check ``sigmoid_cross_entropy_backward(cache) -> dz`` with the cache ``(z, y, weights)``.

    Mistakes named: a missing 1/N, overflow at large logits, the opposite sign, weights ignored
    or divided by N, the cache's arrays changed in place, dz aliasing z.
    """
    def body(check):
        for title, z, y, weights in loss_cases():
            check.case(title)
            cache = (z, y, weights)
            expected = _BACKWARD(cache)
            numeric = numerical_gradient(lambda: _FORWARD(z, y, weights)[0], z)
            n = z.size
            error = 1 / (1 + np.exp(-np.clip(z, -500, 500))) - y
            variants = [("sign", -expected, "dz has the opposite sign: it points uphill; the loss must fall "
                         "when z moves against dz")]
            if weights is not None:
                variants += [
                    ("weights_ignored", error / n, "the weights were ignored: each example's gradient counts "
                     "in proportion to its weight"),
                    ("weights_over_n", error * weights / n, "with weights the loss is a weighted mean: it is "
                     "normalised by the total weight, not by the number of examples"),
                ]
            factors = {float(n): ("missing_mean", f"dz is {n} times too large: the loss is the mean over the "
                                  f"N = {n} examples, and its gradient keeps that 1/N")}
            args = {"cache": cache}
            snapshot = Snapshot({"z": z, "y": y, "weights": weights})
            ok, out = call(check, student, args, "sigmoid_cross_entropy_backward")
            if not ok:
                continue
            check_in_place(check, snapshot)
            dz = read_array(check, out, z.shape, "dz", meaning="one entry per logit")
            if dz is None:
                continue
            check_aliasing(check, {"dz": out}, {"z": z, "y": y, "weights": weights})
            if not np.all(np.isfinite(dz)):
                check.fail("overflow", "dz holds NaN or inf for this input: an exponential overflowed; compute "
                           "the sigmoid in a form that stays finite for any logit", expected, dz, "dz")
                continue
            right = check.compare("dz", dz, expected, "the expected values")
            right &= check.compare("dz", dz, numeric, "finite differences")
            if not right:
                check.diagnose("dz", dz, expected, variants, factors)
    return run(Check("sigmoid_cross_entropy_backward"), body)


# ---------------------------------------------------------------------------
# 5. One FTRL step: ftrl_update(w, z, n, g, alpha, beta, l1, l2) -> (w, z, n)
# ---------------------------------------------------------------------------

def ftrl_cases():
    """(title, w, z, n, g, alpha, beta, l1, l2), every array its own memory."""
    rng = np.random.default_rng(7)
    hyper = (0.2, 1.0, 0.3, 0.1)
    # a warm state: three steps from zero with the library's rule, so that n > 0 and some w are exactly 0
    w, z, n = np.zeros(8), np.zeros(8), np.zeros(8)
    for _ in range(3):
        w, z, n = _FTRL(w, z, n, rng.standard_normal(8), *hyper)
    block = [np.zeros((3, 2)), np.zeros((3, 2)), np.full((3, 2), 0.5)]
    return [("8 coordinates after three steps (n > 0, some weights exactly 0); α 0.2, β 1, λ₁ 0.3, λ₂ 0.1",
             w.copy(), z.copy(), n.copy(), rng.standard_normal(8), *hyper),
            ("the first step from w = z = n = 0", np.zeros(6), np.zeros(6), np.zeros(6),
             np.array([0.1, -0.2, 2.0, -3.0, 0.0, 0.25]), *hyper),
            ("a (3, 2) block of rows, n starting at 0.5; α 0.5, β 1, λ₁ 0.001, λ₂ 0 (the paper's settings)",
             *(a.copy() for a in block), rng.standard_normal((3, 2)), 0.5, 1.0, 0.001, 0.0)]


def _ftrl_variant(w, z, n, g, alpha, beta, l1, l2, new_n_in_sigma=False, no_l1=False, no_l2=False,
                  plus_sigma=False):
    """One FTRL step with one usual mistake switched on (for recognising it)."""
    n_new = n + g * g
    sigma = 0.0 * n if new_n_in_sigma else (np.sqrt(n_new) - np.sqrt(n)) / alpha
    z_new = z + g + sigma * w if plus_sigma else z + g - sigma * w
    shrunk = z_new - np.sign(z_new) * l1 if no_l1 else np.sign(z_new) * np.maximum(np.abs(z_new) - l1, 0.0)
    scale = (beta + np.sqrt(n_new)) / alpha + (0.0 if no_l2 else l2)
    return -shrunk / scale, z_new, n_new


def check_ftrl_update(student) -> "CheckResult":
    """Check ``ftrl_update(w, z, n, g, alpha, beta, l1, l2) -> (w, z, n)``: new arrays, inputs unchanged.

    Mistakes named: σ computed from the updated n, the sign of the σ·w correction, weights
    with |z| ≤ λ₁ not set to 0, λ₂ left out, inputs changed in place, returned arrays aliasing
    each other or the inputs (e.g. the same array for w and z), wrong shapes or types.
    """
    def body(check):
        for title, w, z, n, g, *hyper in ftrl_cases():
            check.case(title)
            expected = _FTRL(w, z, n, g, *hyper)
            variants = {key: _ftrl_variant(w, z, n, g, *hyper, **{key: True})
                        for key in ("new_n_in_sigma", "no_l1", "no_l2", "plus_sigma")}
            hints = {
                "new_n_in_sigma": "σ was computed from the updated n: σ measures how much √n grows in this "
                                  "step, so it needs n from before the step",
                "plus_sigma": "the σ·w correction of z has the wrong sign",
                "no_l1": "weights whose |z| ≤ λ₁ must be exactly 0 (that is what makes FTRL's weights sparse)",
                "no_l2": "λ₂ is missing from the weights' denominator",
            }
            args = dict(zip(("w", "z", "n", "g", "alpha", "beta", "l1", "l2"), (w, z, n, g, *hyper)))
            snapshot = Snapshot({k: args[k] for k in ("w", "z", "n", "g")})
            ok, result = call(check, student, args, "ftrl_update")
            if not ok:
                continue
            check_in_place(check, snapshot)
            result = read_tuple(check, result, 3, "ftrl_update", "(w, z, n) of new arrays")
            if result is None:
                continue
            check_aliasing(check, dict(zip(("w", "z", "n"), result)), {k: args[k] for k in ("w", "z", "n", "g")})
            for i, name in enumerate(("w", "z", "n")):
                value = read_array(check, result[i], w.shape, f"new {name}", meaning="the shape of the inputs")
                if value is None:
                    continue
                if not check.compare(f"new {name}", value, expected[i], "the expected values"):
                    check.diagnose(f"new {name}", value, expected[i],
                                   [(k, variants[k][i], hints[k]) for k in hints])
    return run(Check("ftrl_update"), body)


# ---------------------------------------------------------------------------
# 8. The joint backward: WideDeep.backward(self, dz, cache) -> grads
# ---------------------------------------------------------------------------

TINY_FIELDS = (EmbeddingField("country", vocab_size=5, dim=3),
               EmbeddingField("installed", vocab_size=6, dim=2, multivalent=True, pooling="sum"),
               EmbeddingField("genres", vocab_size=4, dim=2, multivalent=True, pooling="mean"))


def tiny_batch() -> Batch:
    """6 labelled examples: weighted wide entries with a column in every row, repeated ids in a
    field, in a bag and across bags, an empty bag, two continuous features."""
    rng = np.random.default_rng(8)
    wide = sp.csr_matrix((rng.choice([1.0, 0.5, 2.0], 12), (np.repeat(np.arange(6), 2),
                          np.array([0, 3, 3, 1, 3, 5, 2, 3, 3, 4, 6, 3]))), shape=(6, 7))
    wide.sum_duplicates()
    return Batch(wide=wide,
                 categorical={"country": np.array([0, 2, 2, 4, 1, 2]),
                              "installed": bags_from_lists([[1, 1, 2], [3], [], [5, 0, 5], [1], [2, 4]], 6),
                              "genres": bags_from_lists([[0, 1], [1, 1], [3], [], [2, 0], [0]], 4)},
                 continuous=rng.standard_normal((6, 2)), labels=rng.integers(0, 2, 6).astype(float))


def tiny_model(mode: str = "wide_deep", hidden=(4, 3), dropout: float = 0.0, seed: int = 5) -> WideDeep:
    """A small model that fits :func:`tiny_batch`, with non-zero wide weights and bias.

    With seed 5 every hidden pre-activation of the checker's forward passes (dropout masks
    included) is at least 0.02 away from the ReLU kink, so finite differences are exact there.
    """
    model = WideDeep(wide_dim=7, fields=TINY_FIELDS, n_continuous=2, hidden=hidden, mode=mode, seed=seed,
                     dropout=dropout)
    if model.uses_wide:
        model.params["wide.w"][:] = np.random.default_rng(seed + 100).standard_normal(7)
    model.params["bias"][:] = 0.3
    return model


def model_cases():
    """(title, model): all three modes; the joint one with dropout, whose masks stay fixed."""
    return [("mode 'wide_deep', hidden (4, 3), dropout 0.25, three fields (one id, a summed bag, a mean bag) "
             "and 2 continuous features", tiny_model("wide_deep", (4, 3), 0.25)),
            ("mode 'wide' (no deep part: self.uses_deep is False, cache.fields and cache.tower are empty)",
             tiny_model("wide")),
            ("mode 'deep' (no wide part: self.uses_wide is False, cache.wide is None), hidden (3,)",
             tiny_model("deep", (3,)))]


def _logits(model, batch):
    """z of a training forward pass with the same dropout masks at every call."""
    return model._forward(batch, True, True, dropout_rng=np.random.default_rng(11))


def check_backward(student) -> "CheckResult":
    """Check ``backward(self, dz, cache) -> grads``, the model's :meth:`WideDeep.backward`.

    Called as ``student(model, dz, cache)`` on tiny models of all three modes; every gradient
    is compared with the library's and with finite differences of ``Σ dz · z``.
    Mistakes named: dz split between the parts instead of reaching both, the bias's gradient
    wrong, a field's gradient read from another field's columns, the tower walked in the wrong
    order (a shape error), a mode's missing part not skipped, names missing or extra, dz
    changed in place.
    """
    def body(check):
        batch = tiny_batch()
        for title, model in model_cases():
            check.case(title)
            z, cache = _logits(model, batch)
            dz = np.random.default_rng(12).standard_normal(z.shape)
            expected = {k: (g.to_dense() if hasattr(g, "to_dense") else g)
                        for k, g in _MODEL_BACKWARD(model, dz, cache).items()}
            halves = {k: (g.to_dense() if hasattr(g, "to_dense") else g)
                      for k, g in _MODEL_BACKWARD(model, dz / 2, cache).items()}
            shifted = _shifted_fields(model, dz, cache)
            args = {"self": model, "dz": dz, "cache": cache}
            snapshot = Snapshot({"dz": dz})
            ok, grads = call(check, student, args, "backward", shape_hint=(
                "the tower is undone last layer first, each layer with the cache of its own forward, "
                "starting from the gradient of its (N, 1) output"))
            if not ok:
                if model.mode != "wide_deep":
                    check.note(f"(this model has mode {model.mode!r}: one part is missing, see "
                               "self.uses_wide and self.uses_deep)")
                continue
            check_in_place(check, snapshot)
            if not isinstance(grads, dict):
                check.fail("wrong_type", f"backward returned {describe(grads)}; expected a dict keyed like "
                           "self.params")
                continue
            missing, extra = sorted(set(model.params) - set(grads)), sorted(set(grads) - set(model.params))
            if missing:
                check.fail("missing_grads", f"no gradient for {missing}: every parameter in self.params "
                           "needs one")
            if extra:
                check.fail("unknown_grads", f"gradients for names that are not parameters: {extra}")
            numeric = {name: numerical_gradient(lambda: float(np.dot(_logits(model, batch)[0], dz)), param)
                       for name, param in model.params.items() if name in grads}
            for name in [k for k in model.params if k in grads]:
                param = model.params[name]
                rowgrad = name == "wide.w" or name.startswith("deep.embedding.")
                value = read_array(check, grads[name], param.shape, f"grads[{name!r}]", rowgrad=rowgrad,
                                   meaning=f"the shape of params[{name!r}]")
                if value is None:
                    continue
                right = check.compare(f"grads[{name!r}]", value, expected[name], "the expected values")
                right &= check.compare(f"grads[{name!r}]", value, numeric[name], "finite differences")
                if not right:
                    n = dz.size
                    factors = {1 / n: ("bias_averaged", f"the bias's gradient is {n} times too small: the bias "
                                       "is added to every example's logit, so every example's dz counts in full")}
                    check.diagnose(f"grads[{name!r}]", value, expected[name],
                                   _backward_variants(model, name, halves, shifted),
                                   factors if name == "bias" else None)

    def isolated(check):
        with library_only():  # the library's layers inside, even if a student's are switched in
            body(check)
    return run(Check("backward"), isolated)


def _backward_variants(model, name, halves, shifted) -> list:
    variants = []
    if name != "bias":
        variants.append(("dz_split", halves[name], "this gradient is half the expected one: the two parts' "
                         "logits are added (paper Eq. 3), so each part gets the whole dz, not a share of it"))
    if name.startswith("deep.embedding.") and name in shifted:
        variants.append(("field_columns", shifted[name], "this field's gradient was read from the wrong "
                         "columns of the tower's input gradient: the fields' embeddings sit side by side in "
                         "the order of self.fields (each f.dim wide), then the continuous features"))
    return variants


def _shifted_fields(model, dz, cache) -> dict:
    """The embedding gradients when every field reads the first columns of the tower's input gradient."""
    if not model.uses_deep:
        return {}
    da, _ = tower_backward(model.tower, dz[:, None], cache.tower)
    out = {}
    for f, field_cache in zip(model.fields, cache.fields):
        backward = layers.bag_embedding_backward if f.multivalent else layers.embedding_backward
        out[f"deep.embedding.{f.name}"] = backward(da[:, :f.dim], field_cache).to_dense()
    return out
