"""The deep part's MLP as a list of layers, walked forward and backward in a loop (paper §3.2, Eq. 2).

    a⁽ˡ⁺¹⁾ = f(W⁽ˡ⁾ a⁽ˡ⁾ + b⁽ˡ⁾),   f = ReLU,   then one logit  w_deepᵀ a⁽ˡᶠ⁾

Each layer wraps a forward/backward pair of :mod:`wdnumpy.layers` and knows the
names of its parameters in ``model.params``:

- ``forward(x, params, training, rng) -> (out, cache)``
- ``backward(dout, cache) -> (dx, {parameter name: gradient})``

Adding a kind of layer (dropout is the example) is one class here and one
entry in :func:`build_tower`; the model's passes do not change. Shapes follow
the glossary in :mod:`wdnumpy.layers`.
"""
from __future__ import annotations

import numpy as np

from . import layers


class Affine:
    """``h = a W + b`` with parameters ``deep.W<l>`` (H_in, H_out) and ``deep.b<l>`` (H_out,).

    The output layer is an Affine without bias (``deep.w_out``, shape (H_L, 1)):
    the bias of the joint logit is shared with the wide part (paper Eq. 3).
    """

    def __init__(self, weight: str, bias: str | None, name: str):
        self.weight, self.bias, self.name = weight, bias, name

    @property
    def param_names(self) -> tuple:
        return (self.weight,) if self.bias is None else (self.weight, self.bias)

    def forward(self, x, params, training=False, rng=None):
        return layers.affine_forward(x, params[self.weight], None if self.bias is None else params[self.bias])

    def backward(self, dout, cache):
        dx, dW, db = layers.affine_backward(dout, cache)
        return dx, ({self.weight: dW} if self.bias is None else {self.weight: dW, self.bias: db})

    def __repr__(self):
        return f"Affine({self.name}: {', '.join(self.param_names)})"


class ReLU:
    """``a = max(0, h)``, the activation f of paper Eq. 2; no parameters."""

    param_names = ()

    def __init__(self, name: str):
        self.name = name

    def forward(self, x, params, training=False, rng=None):
        return layers.relu_forward(x)

    def backward(self, dout, cache):
        return layers.relu_backward(dout, cache), {}

    def __repr__(self):
        return f"ReLU({self.name})"


class Dropout:
    """Inverted dropout with drop probability ``p`` in training, the identity in evaluation."""

    param_names = ()

    def __init__(self, p: float, name: str):
        if not 0 <= p < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {p}")
        self.p, self.name = float(p), name

    def forward(self, x, params, training=False, rng=None):
        return layers.dropout_forward(x, self.p, training=training, rng=rng)

    def backward(self, dout, cache):
        return layers.dropout_backward(dout, cache), {}

    def __repr__(self):
        return f"Dropout({self.name}: p={self.p})"


def build_tower(n_hidden: int, dropout: float = 0.0) -> list:
    """The layers of a tower with ``n_hidden`` hidden layers, in forward order.

    Layer names say what their output is: ``h<l>`` the pre-activation,
    ``a<l>`` the activation (after dropout, when dropout is on, ``a<l>``
    names the dropped-out activation ``dropout<l>``), ``deep_logit`` the output.
    """
    tower = []
    for layer in range(1, n_hidden + 1):
        tower.append(Affine(f"deep.W{layer}", f"deep.b{layer}", f"h{layer}"))
        tower.append(ReLU(f"a{layer}"))
        if dropout:
            tower.append(Dropout(dropout, f"dropout{layer}"))
    tower.append(Affine("deep.w_out", None, "deep_logit"))
    return tower


def tower_forward(tower, x: np.ndarray, params, training: bool = False, rng=None, record: dict | None = None):
    """Run ``x`` (N, H_0) through every layer; returns the output (N, 1) and the list of caches.

    With ``record`` (a dict), each layer's output is stored under the layer's name.
    """
    caches = []
    for layer in tower:
        x, cache = layer.forward(x, params, training, rng)
        caches.append(cache)
        if record is not None:
            record[layer.name] = x
    return x, caches


def tower_backward(tower, dout: np.ndarray, caches) -> tuple:
    """Walk the layers backwards from ∂L/∂out (N, 1); returns ∂L/∂x (N, H_0) and the parameter gradients."""
    grads = {}
    for layer, cache in zip(reversed(tower), reversed(caches)):
        dout, layer_grads = layer.backward(dout, cache)
        grads.update(layer_grads)
    return dout, grads
