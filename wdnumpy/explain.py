"""Explain one prediction: the logit split into the bias, each active wide feature's
weight, and the deep part's logit (paper Eq. 3, term by term).

    z = b + Σ_{k active} w_wide[k] · x_k + w_deepᵀ a⁽ˡᶠ⁾

A seen cross such as ``installed=A × impression=C`` shows its own weight: this is
memorization at work. A cross never seen in training has weight 0 (or whatever
shares its hash bucket), and the deep logit carries the row alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ensemble import Ensemble
from .features import as_columns, count_rows
from .losses import sigmoid


@dataclass
class Explanation:
    """Terms of one row's logit.

    bias : the model's bias (for an ensemble with combined logit a·z_w + b·z_d + c,
        a·b_w + b·b_d + c, the members' biases weighted by the rule)
    wide : list of (feature name, contribution w_k · x_k), largest magnitude first
    deep : the deep part's logit w_deepᵀ a⁽ˡᶠ⁾ (0 without a deep part)
    logit : the model's logit; equals bias + Σ wide + deep
    """

    bias: float
    wide: list
    deep: float
    logit: float

    @property
    def probability(self) -> float:
        return float(sigmoid(np.array([self.logit]))[0])

    @property
    def total(self) -> float:
        """Sum of the terms (equal to ``logit`` up to rounding)."""
        return self.bias + sum(c for _, c in self.wide) + self.deep

    def __str__(self) -> str:
        width = max([len(n) + 6 for n, _ in self.wide] + [24])
        lines = [f"{'bias':<{width}}  {self.bias:+.4f}"]
        lines += [f"{'wide: ' + n:<{width}}  {c:+.4f}" for n, c in self.wide]
        lines += [f"{'deep part logit':<{width}}  {self.deep:+.4f}",
                  f"{'= logit':<{width}}  {self.logit:+.4f}   P(Y=1) = {self.probability:.4f}"]
        return "\n".join(lines)


def explain(model, spec, data, row: int) -> Explanation:
    """Explain the prediction for row ``row`` of the raw columns ``data``.

    ``model`` is a WideDeep (any mode) or an Ensemble whose rule is affine in the
    logits ("sum", "mean_logit", "stacked"): each member's terms are then scaled
    by its weight in the rule, so the terms still add up to the logit.
    """
    data = as_columns(data)
    n = count_rows(data)
    if not 0 <= row < n:
        raise ValueError(f"row must lie in [0, {n}), got {row}")
    wide_scale = deep_scale = 1.0
    if isinstance(model, Ensemble):
        wide_scale, deep_scale, offset = model.logit_weights()  # ValueError for "proba": not additive
        wide_model, deep_model = model.members["wide"], model.members["deep"]
        bias = float(wide_scale * wide_model.params["bias"][0] + deep_scale * deep_model.params["bias"][0] + offset)
    else:
        wide_model = model if model.uses_wide else None
        deep_model = model if model.uses_deep else None
        bias = float(model.params["bias"][0])
    one = {k: v[row:row + 1] for k, v in data.items()}
    batch = spec.transform(one)
    logit = float(model.forward(batch)[0])
    deep = deep_scale * float(deep_model.trace(batch).deep_logit[0]) if deep_model else 0.0
    wide = []
    if wide_model is not None:
        names = {}
        for index, name in spec.wide_feature_names(data, row):  # one weight per distinct index
            names.setdefault(index, []).append(name)
        x = batch.wide
        values = dict(zip(x.indices.tolist(), x.data.tolist()))
        w = wide_model.params["wide.w"]
        wide = [(" | ".join(names[i]), float(wide_scale * w[i] * values[i])) for i in names]
        wide.sort(key=lambda t: -abs(t[1]))
    return Explanation(bias, wide, deep, logit)
