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
from .losses import sigmoid


@dataclass
class Explanation:
    """Terms of one row's logit.

    bias : the model's bias (for an ensemble, the sum of the members' biases)
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

    ``model`` is a WideDeep (any mode) or an Ensemble combining logits.
    """
    n = len(next(iter(data.values())))
    if not 0 <= row < n:
        raise ValueError(f"row must lie in [0, {n}), got {row}")
    if isinstance(model, Ensemble):
        if model.combine != "logit":
            raise ValueError("an ensemble that averages probabilities has no additive logit to explain")
        wide_model, deep_model = model.members["wide"], model.members["deep"]
        bias = float(wide_model.params["bias"][0] + deep_model.params["bias"][0])
    else:
        wide_model = model if model.uses_wide else None
        deep_model = model if model.uses_deep else None
        bias = float(model.params["bias"][0])
    one = {k: v[row:row + 1] for k, v in data.items()}
    batch = spec.transform(one)
    logit = float(model.forward(batch)[0])
    deep = float(deep_model.trace(batch).deep_logit[0]) if deep_model else 0.0
    wide = []
    if wide_model is not None:
        names = {}
        for index, name in spec.wide_feature_names(data, row):  # one weight per distinct index
            names.setdefault(index, []).append(name)
        x = batch.wide
        values = dict(zip(x.indices.tolist(), x.data.tolist()))
        w = wide_model.params["wide.w"]
        wide = [(" | ".join(names[i]), float(w[i] * values[i])) for i in names]
        wide.sort(key=lambda t: -abs(t[1]))
    return Explanation(bias, wide, deep, logit)
