"""An ensemble: a wide model and a deep model trained apart, combined only to predict.

Joint training (paper §3.3) and an ensemble both add a wide and a deep output.
The difference is *when* they meet:

- joint (:class:`~wdnumpy.model.WideDeep` with ``mode="wide_deep"``): one loss on
  the summed logit, so every gradient step of each part sees the other's output,
  and the wide part only has to fix what the deep part gets wrong;
- ensemble (this class): each member minimises its own loss on its own logit,
  unaware of the other, and the outputs are combined only at prediction time.

How the two outputs are combined matters as much as how they were trained. Each
member was fitted to predict the label on its own, so each logit already carries
the signal both members share; *summing* them counts that signal twice and gives
over-confident probabilities. The combination rules, with z_w and z_d the members'
logits (each including its own bias):

=============  ======================================================  ================
combine        combined logit z                                         needs
=============  ======================================================  ================
"sum"          z_w + z_d  (the joint model's form; "logit" is an        nothing
               alias kept for files saved before the rules had names)
"mean_logit"   (z_w + z_d) / 2                                          nothing
"proba"        logit of (σ(z_w) + σ(z_d)) / 2                           nothing
"stacked"      a·z_w + b·z_d + c, a logistic regression on the two      labelled rows the
               logits (*stacking*), fitted by :meth:`fit_stacking`      members never saw
=============  ======================================================  ================

"stacked" is the best any fixed affine combination of the two logits can do (on
the rows it was fitted on), so it is the strongest fair ensemble to compare the
joint model with; it needs a validation split carved from the training data.

The default is "mean_logit": of the rules that need no extra data it scored best
with the README's settings (members trained on all training rows, 10 epochs,
optimizer "paper"; test log loss on Adult 0.3100 against 0.3109 for "proba" and
0.3668 for "sum", on the app store 0.3590 against 0.3627 and 0.4180; AUC equal to
"sum" and at least that of "proba"), as it does in
``notebooks/04_joint_vs_ensemble.ipynb``; and, being affine in the logits, it can
still be explained term by term (:func:`~wdnumpy.explain.explain`), which "proba"
cannot.

The ensemble has the model interface (``forward``, ``predict_proba``, ``params``,
``n_params``), so every comparison with the joint model is one line.
"""
from __future__ import annotations

import numpy as np
from scipy.special import logit

from .losses import sigmoid
from .model import WideDeep

COMBINE = ("sum", "mean_logit", "proba", "stacked")
ALIASES = {"logit": "sum"}  # the name "sum" had before there were other logit rules
DEFAULT_COMBINE = "mean_logit"


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1e-8, tol: float = 1e-10, max_iter: int = 50):
    """Logistic regression by Newton's method (IRLS): the θ minimising the mean log loss of σ(X θ).

    Parameters
    ----------
    X : (N, P) inputs, a column of ones included for an intercept
    y : (N,) labels in {0, 1}
    l2 : a tiny ridge ``l2/2 · ‖θ‖²`` that keeps the Hessian invertible when the
        rows are separable or two columns are identical
    tol : stop when the largest Newton step is below this
    max_iter : at most this many Newton steps (each halved until the loss decreases)

    Returns
    -------
    theta : (P,)
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(y)

    def objective(theta):
        z = X @ theta
        return float(np.mean(np.logaddexp(0, z) - y * z) + 0.5 * l2 * theta @ theta)

    theta = np.zeros(X.shape[1])
    value = objective(theta)
    for _ in range(max_iter):
        p = sigmoid(X @ theta)
        gradient = X.T @ (p - y) / n + l2 * theta
        hessian = (X * (p * (1 - p))[:, None]).T @ X / n + l2 * np.eye(X.shape[1])
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while True:  # damped Newton: halve the step until the loss does not increase
            candidate = theta - scale * step
            new_value = objective(candidate)
            if new_value <= value or scale < 1e-8:
                break
            scale /= 2
        theta, value = candidate, new_value
        if np.max(np.abs(scale * step)) < tol:
            break
    return theta


class Ensemble:
    """Wide and deep members trained separately, combined at prediction time.

    Parameters
    ----------
    wide : WideDeep with ``mode="wide"``
    deep : WideDeep with ``mode="deep"``
    combine : "mean_logit" (default), "sum", "proba" or "stacked" (see the module
        docstring); "logit" is read as "sum"
    stacking : (a, b, c) for ``combine="stacked"``, if already known (a loaded file);
        otherwise call :meth:`fit_stacking` before predicting
    """

    def __init__(self, wide: WideDeep, deep: WideDeep, combine: str = DEFAULT_COMBINE, stacking=None):
        if wide.mode != "wide" or deep.mode != "deep":
            raise ValueError(f"an ensemble needs a wide-only and a deep-only model, got modes "
                             f"{wide.mode!r} and {deep.mode!r}")
        combine = ALIASES.get(combine, combine)
        if combine not in COMBINE:
            raise ValueError(f"combine must be one of {COMBINE} (or 'logit', an alias of 'sum'), got {combine!r}")
        if stacking is not None:
            if combine != "stacked":
                raise ValueError(f"stacking coefficients only go with combine='stacked', got {combine!r}")
            stacking = np.asarray(stacking, dtype=np.float64)
            if stacking.shape != (3,) or not np.all(np.isfinite(stacking)):
                raise ValueError(f"stacking must be three finite numbers (a, b, c), got {stacking.tolist()}")
        self.members = {"wide": wide, "deep": deep}
        self.combine = combine
        self.stacking = stacking
        self.dtype = wide.dtype

    @property
    def params(self) -> dict:
        """All members' parameters, named ``<member>/<parameter>`` (read-only view for counting and saving)."""
        return {f"{m}/{n}": p for m, model in self.members.items() for n, p in model.params.items()}

    @property
    def n_params(self) -> int:
        """Trainable scalars of both members (the three stacking coefficients are not counted)."""
        return sum(model.n_params for model in self.members.values())

    def member_logits(self, batch) -> dict:
        """Each member's own logit (N,), by member name."""
        return {name: member.forward(batch) for name, member in self.members.items()}

    def fit_stacking(self, batch) -> np.ndarray:
        """Fit z = a·z_w + b·z_d + c by logistic regression on a labelled batch; returns (a, b, c).

        ``batch`` must be rows the members were *not* trained on (a validation split
        carved from the training data), or the weights reward whichever member
        overfits most. Sets ``combine`` to "stacked". Newton's method on three
        parameters: exact to about 1e-10 in a few steps.
        """
        if batch.labels is None:
            raise ValueError("fit_stacking needs a labelled batch")
        z = self.member_logits(batch)
        X = np.column_stack([z["wide"], z["deep"], np.ones(len(batch))])
        self.stacking = fit_logistic(X, batch.labels)
        self.combine = "stacked"
        return self.stacking.copy()

    def logit_weights(self) -> tuple:
        """(a, b, c) with combined logit a·z_w + b·z_d + c, for the rules affine in the logits.

        Raises ValueError for "proba" (not affine) and for "stacked" before :meth:`fit_stacking`.
        """
        if self.combine == "sum":
            return 1.0, 1.0, 0.0
        if self.combine == "mean_logit":
            return 0.5, 0.5, 0.0
        if self.combine == "stacked":
            if self.stacking is None:
                raise ValueError("combine='stacked' needs its coefficients: call fit_stacking(valid_batch) first")
            return tuple(float(v) for v in self.stacking)
        raise ValueError(f"combine={self.combine!r} averages probabilities, which is not affine in the logits, "
                         f"so the logit has no additive terms (use 'mean_logit' or 'stacked' for that)")

    def combine_logits(self, z_wide: np.ndarray, z_deep: np.ndarray) -> np.ndarray:
        """The combined logit (N,) from the members' logits, by the rule ``combine``."""
        if self.combine == "proba":
            p = (sigmoid(z_wide) + sigmoid(z_deep)) / 2
            return logit(np.clip(p, 1e-300, 1 - 1e-16))
        a, b, c = self.logit_weights()
        return a * z_wide + b * z_deep + c

    def forward(self, batch):
        """Combined logit (N,)."""
        z = self.member_logits(batch)
        return self.combine_logits(z["wide"], z["deep"])

    def predict_proba(self, batch) -> np.ndarray:
        return sigmoid(self.forward(batch))

    def check_batch(self, batch) -> int:
        return max(model.check_batch(batch) for model in self.members.values())
