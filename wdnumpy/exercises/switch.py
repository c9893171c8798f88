"""The switch that runs the library on the student's functions.

::

    from wdnumpy.exercises import use

    with use(sparse_linear_backward=my_backward, ftrl_update=my_ftrl) as calls:
        history = train(model, train_batch, optimizer="paper", epochs=2)
    print(calls)     # how many times each of your functions ran

Inside the ``with`` block every place in the library that looks the function up at call
time gets the student's one: ``wdnumpy.layers.<name>`` (the model and the tower call
``layers.<name>``), ``wdnumpy.losses.<name>`` (``WideDeep.loss`` calls ``losses.<name>``),
``wdnumpy.optim.ftrl_update`` (``FTRL.update`` calls it), ``wdnumpy.features.tokens.cross_tokens``
(``Crossed`` calls ``tokens_module.cross_tokens``), ``wdnumpy.features.numeric.quantile_normalize``
(``Numeric`` calls it), and ``WideDeep.backward`` (``WideDeep.loss`` calls ``self.backward``).
On the way out — normally or by an exception — every attribute gets its old value back.
"""
from __future__ import annotations

import contextlib
import functools
import importlib

# name → the (module, attribute path) pairs that the library reads at call time
SWITCHABLE = {
    "sparse_linear_backward": [("wdnumpy.layers", "sparse_linear_backward")],
    "embedding_backward": [("wdnumpy.layers", "embedding_backward")],
    "bag_embedding_backward": [("wdnumpy.layers", "bag_embedding_backward")],
    "affine_backward": [("wdnumpy.layers", "affine_backward")],
    "relu_backward": [("wdnumpy.layers", "relu_backward")],
    "sigmoid_cross_entropy_forward": [("wdnumpy.losses", "sigmoid_cross_entropy_forward")],
    "sigmoid_cross_entropy_backward": [("wdnumpy.losses", "sigmoid_cross_entropy_backward")],
    "ftrl_update": [("wdnumpy.optim", "ftrl_update")],
    "cross_tokens": [("wdnumpy.features.tokens", "cross_tokens"), ("wdnumpy.features", "cross_tokens")],
    "quantile_normalize": [("wdnumpy.features.numeric", "quantile_normalize"),
                           ("wdnumpy.features", "quantile_normalize")],
    "backward": [("wdnumpy.model", "WideDeep.backward")],
}

_MISSING = object()


def _targets(name: str) -> list:
    """(owner object, attribute) pairs for a switchable name: a module, or a class inside one."""
    targets = []
    for module_name, path in SWITCHABLE[name]:
        owner = importlib.import_module(module_name)
        *inner, attribute = path.split(".")
        for part in inner:
            owner = getattr(owner, part)
        targets.append((owner, attribute))
    return targets


# the library's own functions, read once when this module is imported
ORIGINALS = {name: [vars(owner)[attribute] for owner, attribute in _targets(name)] for name in SWITCHABLE}


class Calls(dict):
    """How many times each switched-in function was called (name → count)."""

    def __str__(self) -> str:
        if not self:
            return "nothing switched in: the library's own code ran"
        width = max(len(name) for name in self)
        return "\n".join(f"{name:<{width}}  {count:>7,} calls" for name, count in self.items())


def _counting(name: str, function, calls: Calls):
    @functools.wraps(function)
    def student_code(*args, **kwargs):
        calls[name] += 1
        return function(*args, **kwargs)
    return student_code


@contextlib.contextmanager
def _replaced(values: dict):
    """Set each (owner, attribute) to its value; restore the previous values on exit, in reverse order."""
    saved = []
    try:
        for (owner, attribute), value in values.items():
            saved.append((owner, attribute, vars(owner).get(attribute, _MISSING)))
            setattr(owner, attribute, value)
        yield
    finally:
        for owner, attribute, old in reversed(saved):
            if old is _MISSING:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, old)


@contextlib.contextmanager
def use(**functions):
    """Run the library on your functions inside a ``with`` block; yields a :class:`Calls` counter.

    Parameters
    ----------
    **functions : name=function for names in :data:`SWITCHABLE` (each function has the
        library's signature; ``backward`` is ``WideDeep.backward(self, dz, cache)``). A value
        of None keeps the library's function for that name.

    Each function is wrapped to count its calls (``wrapper.__wrapped__`` is yours). Unknown
    names or values that are not functions raise ValueError before anything is switched.
    """
    unknown = sorted(set(functions) - set(SWITCHABLE))
    if unknown:
        raise ValueError(f"cannot switch {unknown}: the switchable names are {', '.join(SWITCHABLE)}")
    strange = sorted(name for name, f in functions.items() if f is not None and not callable(f))
    if strange:
        raise ValueError(f"use() needs functions; got {', '.join(f'{n}={functions[n]!r}' for n in strange)}")
    calls = Calls({name: 0 for name, f in functions.items() if f is not None})
    values = {}
    for name in calls:
        wrapper = _counting(name, functions[name], calls)
        values.update({target: wrapper for target in _targets(name)})
    with _replaced(values):
        yield calls


@contextlib.contextmanager
def library_only():
    """The library's own functions for every switchable name inside the block (the checkers
    use this so that their expected values never come from a switched-in function)."""
    with _replaced({target: original for name in SWITCHABLE
                    for target, original in zip(_targets(name), ORIGINALS[name])}):
        yield
