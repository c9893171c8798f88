"""An ensemble: a wide model and a deep model trained apart, combined only to predict.

Joint training (paper §3.3) and an ensemble both add a wide and a deep output.
The difference is *when* they meet:

- joint (:class:`~wdnumpy.model.WideDeep` with ``mode="wide_deep"``): one loss on
  the summed logit, so every gradient step of each part sees the other's output,
  and the wide part only has to fix what the deep part gets wrong;
- ensemble (this class): each member minimises its own loss on its own logit,
  unaware of the other, and the outputs are combined only at prediction time,
  so each member must be good on its own (a larger wide part, for one).

The ensemble has the model interface (``forward``, ``predict_proba``, ``params``,
``n_params``), so every comparison with the joint model is one line.
"""
from __future__ import annotations

import numpy as np
from scipy.special import logit

from .losses import sigmoid
from .model import WideDeep

COMBINE = ("logit", "proba")


class Ensemble:
    """Wide and deep members trained separately.

    Parameters
    ----------
    wide : WideDeep with ``mode="wide"``
    deep : WideDeep with ``mode="deep"``
    combine : "logit" (default) sums the members' logits, as the joint model
        does; "proba" averages their probabilities.
    """

    def __init__(self, wide: WideDeep, deep: WideDeep, combine: str = "logit"):
        if wide.mode != "wide" or deep.mode != "deep":
            raise ValueError(f"an ensemble needs a wide-only and a deep-only model, got modes "
                             f"{wide.mode!r} and {deep.mode!r}")
        if combine not in COMBINE:
            raise ValueError(f"combine must be one of {COMBINE}, got {combine!r}")
        self.members = {"wide": wide, "deep": deep}
        self.combine = combine
        self.dtype = wide.dtype

    @property
    def params(self) -> dict:
        """All members' parameters, named ``<member>/<parameter>`` (read-only view for counting and saving)."""
        return {f"{m}/{n}": p for m, model in self.members.items() for n, p in model.params.items()}

    @property
    def n_params(self) -> int:
        return sum(model.n_params for model in self.members.values())

    def member_logits(self, batch) -> dict:
        """Each member's own logit (N,), by member name."""
        return {name: member.forward(batch) for name, member in self.members.items()}

    def forward(self, batch):
        """Combined logit (N,)."""
        z = self.member_logits(batch)
        if self.combine == "logit":
            return z["wide"] + z["deep"]
        p = (sigmoid(z["wide"]) + sigmoid(z["deep"])) / 2
        return logit(np.clip(p, 1e-300, 1 - 1e-16))

    def predict_proba(self, batch) -> np.ndarray:
        return sigmoid(self.forward(batch))

    def check_batch(self, batch) -> int:
        return max(model.check_batch(batch) for model in self.members.values())
