"""Exercises in the CS231n way: you write the library's own functions, and the library runs on them.

The notebooks in ``notebooks/exercises/`` each ask for one or two functions of the
library, with the library's names and signatures:

==============================  ===================================================  ==========
notebook                        your function(s)                                     paper
==============================  ===================================================  ==========
01_wide_backward                ``sparse_linear_backward(dy, cache)``                §3.1
02_embedding_backward           ``embedding_backward(dout, cache)``,                 §3.2
                                ``bag_embedding_backward(dout, cache)``
03_affine_relu_backward         ``affine_backward(dout, cache)``,                    §3.2, Eq. 2
                                ``relu_backward(dout, cache)``
04_sigmoid_cross_entropy        ``sigmoid_cross_entropy_forward(z, y, weights)``,    §3.3
                                ``sigmoid_cross_entropy_backward(cache)``
05_ftrl_update                  ``ftrl_update(w, z, n, g, alpha, beta, l1, l2)``     §3.3
06_cross_tokens                 ``cross_tokens(a, b)``                               §3.1, Eq. 1
07_quantile_normalize           ``quantile_normalize(x, boundaries, n_quantiles)``   §4.1
08_joint_backward               ``backward(self, dz, cache)`` of ``WideDeep``,       §3.3, Eq. 3
                                then Wide & Deep trained on Adult with all of yours
==============================  ===================================================  ==========

Checkers
--------
``check_<name>(your_function)`` (also ``CHECKERS[name]``) runs your function on tiny
inputs, compares it with the expected values and, where there is a gradient, with
finite differences, and prints a report ending in PASS or FAIL. When it is wrong, the
report names the usual mistake it recognises (repeated ids dropped by fancy-index
``+=``, a missing transpose, a missing 1/N, an input changed in place, arrays that
alias, a sparse return, a wrong shape, ...) and shows expected against actual, without
giving the formula away. It returns a :class:`CheckResult` (``passed``, ``error``,
``message``, ``mistakes``); an unfinished TODO gets "not implemented yet".

The switch
----------
::

    from wdnumpy.exercises import use

    with use(sparse_linear_backward=sparse_linear_backward, backward=backward) as calls:
        loss, grads = model.loss(batch)         # runs on your two functions
    print(calls)                                # how often each one ran

``use(**functions)`` accepts the names in :data:`SWITCHABLE` (the eleven above;
``backward`` is ``WideDeep.backward``), patches the module attributes the library
looks up at call time, and restores them on exit, also after an exception. An unknown
name raises ValueError listing the switchable ones; None keeps the library's function.
:func:`your_functions` gathers what you wrote in the notebooks (as saved on disk) and
keeps those that pass their checkers; :mod:`.solutions` holds one solution of each.
"""
from .check_features import check_cross_tokens, check_quantile_normalize
from .check_layers import (check_affine_backward, check_bag_embedding_backward, check_embedding_backward,
                           check_relu_backward, check_sparse_linear_backward)
from .check_training import (check_backward, check_ftrl_update, check_sigmoid_cross_entropy_backward,
                             check_sigmoid_cross_entropy_forward, tiny_batch, tiny_model)
from .checks import CheckResult
from .notebooks import EXERCISES, notebook_functions, your_functions
from .switch import SWITCHABLE, Calls, library_only, use

# name → checker, in the order of the exercises
CHECKERS = {
    "sparse_linear_backward": check_sparse_linear_backward,
    "embedding_backward": check_embedding_backward,
    "bag_embedding_backward": check_bag_embedding_backward,
    "affine_backward": check_affine_backward,
    "relu_backward": check_relu_backward,
    "sigmoid_cross_entropy_forward": check_sigmoid_cross_entropy_forward,
    "sigmoid_cross_entropy_backward": check_sigmoid_cross_entropy_backward,
    "ftrl_update": check_ftrl_update,
    "cross_tokens": check_cross_tokens,
    "quantile_normalize": check_quantile_normalize,
    "backward": check_backward,
}

__all__ = ["CHECKERS", "Calls", "CheckResult", "EXERCISES", "SWITCHABLE", "library_only", "notebook_functions",
           "tiny_batch", "tiny_model", "use", "your_functions", *(c.__name__ for c in CHECKERS.values())]
