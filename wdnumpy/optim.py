"""Optimizers that update a model's ``params`` from its ``grads``, by name (paper §3.3).

The paper trains the wide part with FTRL-Proximal and L1 regularisation and the
deep part with AdaGrad; :class:`PerPart` gives each part its own optimizer, and
:func:`make_optimizer` builds the usual choices.

Lazy (sparse) updates
---------------------
For the wide weights and the embedding tables the model's backward keeps only
the rows a batch touched (``grads.row_grad(name)``). Every optimizer here then
updates just those rows and their per-row state, so a step costs O(touched rows),
not O(table size). For SGD without momentum, AdaGrad and FTRL this is *exactly*
the dense update, because a zero gradient leaves those rules' weights and state
unchanged. For SGD with momentum and for Adam it is not: in the dense rule an
untouched row keeps moving with its old momentum and its moments decay by β at
every step, while the lazy rule freezes both until the row is touched again
(TensorFlow's LazyAdam does the same). Adam's bias correction uses the global
step count.
"""
from __future__ import annotations

import numpy as np


class Optimizer:
    """Base class: walks ``model.params`` and applies :meth:`_apply` to each, lazily where it can.

    Subclasses implement ``_apply(state, param, index, grad)``, which updates
    ``param[index]`` from ``grad`` (the gradient of those rows), where ``index``
    is either ``slice(None)`` (the whole array) or the distinct touched rows.
    State arrays are created full-size once, by :meth:`_init_state`.
    """

    def __init__(self, lr: float):
        if not lr > 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        self.lr = float(lr)
        self.state: dict[str, dict] = {}
        self.steps = 0

    def step(self, model, names=None) -> None:
        """Update ``model.params`` in place from ``model.grads`` (all names, or ``names``)."""
        self.steps += 1
        for name in (model.params if names is None else names):
            param = model.params[name]
            state = self.state.get(name)
            if state is None:
                state = self.state[name] = self._init_state(param)
            row_grad = model.grads.row_grad(name)
            if row_grad is None:
                self._apply(state, param, slice(None), model.grads[name])
            elif row_grad.rows.size:
                self._apply(state, param, row_grad.rows, row_grad.values)

    def _init_state(self, param: np.ndarray) -> dict:
        return {}

    def _apply(self, state: dict, param: np.ndarray, index, grad: np.ndarray) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent: ``v ← μ v − lr g;  w ← w + v`` (μ = 0: ``w ← w − lr g``)."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.0):
        super().__init__(lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        self.momentum = float(momentum)

    def _init_state(self, param):
        return {"velocity": np.zeros_like(param)} if self.momentum else {}

    def _apply(self, state, param, index, grad):
        if not self.momentum:
            param[index] -= self.lr * grad
            return
        velocity = self.momentum * state["velocity"][index] - self.lr * grad
        state["velocity"][index] = velocity
        param[index] += velocity


class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al., 2011): ``n ← n + g²;  w ← w − lr g / √n``.

    The accumulator starts at 0.1, as TensorFlow's ``initial_accumulator_value``.
    """

    def __init__(self, lr: float = 0.05, initial_accumulator: float = 0.1):
        super().__init__(lr)
        if not initial_accumulator > 0:
            raise ValueError(f"initial_accumulator must be > 0, got {initial_accumulator}")
        self.initial_accumulator = float(initial_accumulator)

    def _init_state(self, param):
        return {"accumulator": np.full_like(param, self.initial_accumulator)}

    def _apply(self, state, param, index, grad):
        accumulator = state["accumulator"][index] + grad * grad
        state["accumulator"][index] = accumulator
        param[index] -= self.lr * grad / np.sqrt(accumulator)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015):
    ``m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  w ← w − lr · m̂ / (√v̂ + ε)``
    with ``m̂ = m/(1−β₁ᵗ)``, ``v̂ = v/(1−β₂ᵗ)`` and t the global step. Lazy on sparse
    parameters (see the module docstring)."""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(lr)
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"betas must lie in [0, 1), got {beta1}, {beta2}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _init_state(self, param):
        return {"m": np.zeros_like(param), "v": np.zeros_like(param)}

    def _apply(self, state, param, index, grad):
        m = self.beta1 * state["m"][index] + (1 - self.beta1) * grad
        v = self.beta2 * state["v"][index] + (1 - self.beta2) * (grad * grad)
        state["m"][index], state["v"][index] = m, v
        # m̂/(√v̂ + ε) with the bias corrections folded into two scalars (the same value, fewer array operations)
        correction = np.sqrt(1 - self.beta2 ** self.steps)
        step = self.lr * correction / (1 - self.beta1 ** self.steps)
        param[index] -= step * m / (np.sqrt(v) + self.eps * correction)


class FTRL(Optimizer):
    """FTRL-Proximal (McMahan et al., 2013, Algorithm 1), per coordinate:

        σ = (√(n + g²) − √n) / α
        z ← z + g − σ w
        n ← n + g²
        w = 0                                              if |z| ≤ λ₁
        w = −(z − sign(z) λ₁) / ((β + √n)/α + λ₂)          otherwise

    With λ₁ > 0 many weights are exactly zero: the sparse wide model of the paper.
    The weights are a function of (z, n); z starts at the value that gives the
    current weights with n = 0, so a warm-started model keeps its weights.
    """

    def __init__(self, alpha: float = 0.05, beta: float = 1.0, l1: float = 0.0, l2: float = 0.0):
        super().__init__(alpha)
        if beta < 0 or l1 < 0 or l2 < 0:
            raise ValueError(f"beta, l1 and l2 must be >= 0, got {beta}, {l1}, {l2}")
        self.beta, self.l1, self.l2 = float(beta), float(l1), float(l2)

    @property
    def alpha(self) -> float:
        return self.lr

    def _init_state(self, param):
        # invert the closed form at n = 0:  w = −(z − sign(z) λ₁) / (β/α + λ₂)
        z = -param * (self.beta / self.alpha + self.l2) - np.sign(param) * self.l1
        return {"z": z, "n": np.zeros_like(param)}

    def _apply(self, state, param, index, grad):
        n_old = state["n"][index]
        n = n_old + grad * grad
        sigma = (np.sqrt(n) - np.sqrt(n_old)) / self.alpha
        z = state["z"][index] + grad - sigma * param[index]
        state["z"][index], state["n"][index] = z, n
        shrunk = np.sign(z) * np.maximum(np.abs(z) - self.l1, 0.0)  # 0 where |z| ≤ λ₁
        param[index] = -shrunk / ((self.beta + np.sqrt(n)) / self.alpha + self.l2)


class PerPart:
    """One optimizer for the wide part's parameters (names starting ``wide.``) and
    another for everything else (the deep part and the shared bias)."""

    def __init__(self, wide: Optimizer, deep: Optimizer):
        self.wide, self.deep = wide, deep

    def step(self, model, names=None) -> None:
        names = list(model.params if names is None else names)
        self.wide.step(model, [n for n in names if n.startswith("wide.")])
        self.deep.step(model, [n for n in names if not n.startswith("wide.")])


OPTIMIZERS = ("paper", "adam", "sgd", "adagrad")


def make_optimizer(name: str = "paper", lr: float | None = None):
    """The optimizers the command line offers.

    - ``paper``: FTRL with L1 for the wide part (α = 0.5, λ₁ = 0.001), AdaGrad for
      the deep part and the bias (lr 0.1, or ``lr``); chosen on a validation split
      of Adult's training data;
    - ``adam`` (lr 0.001), ``sgd`` (lr 0.05, momentum 0.9), ``adagrad`` (lr 0.05) for everything.
    """
    if name == "paper":
        return PerPart(FTRL(alpha=0.5, l1=1e-3), AdaGrad(lr or 0.1))
    if name == "adam":
        return Adam(lr or 0.001)
    if name == "sgd":
        return SGD(lr or 0.05, momentum=0.9)
    if name == "adagrad":
        return AdaGrad(lr or 0.05)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {OPTIMIZERS}")
