"""Your functions from the exercise notebooks, as saved on disk, for the last exercise to switch in."""
from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

TODO_START = "TODO: your code starts here"

# notebook (file stem) → the library functions its TODO cell asks for, in order
EXERCISES = {
    "01_wide_backward": ("sparse_linear_backward",),
    "02_embedding_backward": ("embedding_backward", "bag_embedding_backward"),
    "03_affine_relu_backward": ("affine_backward", "relu_backward"),
    "04_sigmoid_cross_entropy": ("sigmoid_cross_entropy_forward", "sigmoid_cross_entropy_backward"),
    "05_ftrl_update": ("ftrl_update",),
    "06_cross_tokens": ("cross_tokens",),
    "07_quantile_normalize": ("quantile_normalize",),
    "08_joint_backward": ("backward",),
}


def _code(source) -> str:
    """A cell's code without IPython's ``%magic`` and ``!shell`` lines."""
    text = "".join(source) if isinstance(source, list) else source
    return "\n".join(line for line in text.split("\n") if not line.lstrip().startswith(("%", "!")))


def notebook_functions(path) -> dict:
    """The functions the TODO cell of an exercise notebook defines, as the file on disk holds it.

    The notebook's code cells up to and including its TODO cell run in a fresh namespace
    (their printed output is swallowed). Returns name → function for the names the exercise
    asks for. Raises ValueError if the notebook has no TODO cell; whatever the cells raise
    passes through.
    """
    path = Path(path)
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    last = next((i for i, c in enumerate(cells) if TODO_START in _code(c["source"])), None)
    if last is None:
        raise ValueError(f"{path.name} has no cell with {TODO_START!r}")
    namespace = {"__name__": f"exercise_{path.stem}"}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cell in cells[:last + 1]:
            exec(compile(_code(cell["source"]), f"{path.name}", "exec"), namespace)
    names = EXERCISES.get(path.stem, ())
    return {name: namespace[name] for name in names if callable(namespace.get(name))}


def your_functions(folder, verbose: bool = True, **defined_here) -> dict:
    """Your functions that pass their checkers, by name, ready for ``use(**...)``.

    Reads the TODO cells of the exercise notebooks in ``folder`` (save them first!), adds
    the functions given as keywords (e.g. ``backward=backward`` from the notebook you are
    in), runs each one's checker without printing, and with ``verbose`` prints a table
    saying for each switchable function whether yours runs or the library's, and why.
    """
    from . import CHECKERS  # the package imports this module
    from .checks import quietly

    found, origin, status = {}, {}, {}
    for stem, names in EXERCISES.items():
        path = Path(folder) / f"{stem}.ipynb"
        for name in names:
            origin[name] = stem
        if any(name in defined_here for name in names) or not path.exists():
            if not path.exists():
                status.update({n: "library's: notebook not found" for n in names if n not in defined_here})
            continue
        try:
            found.update(notebook_functions(path))
        except Exception as error:
            status.update({n: f"library's: the notebook's cells raised {type(error).__name__}" for n in names})
    found.update({k: v for k, v in defined_here.items() if v is not None})
    ready = {}
    for name in CHECKERS:
        if name in status:
            continue
        if name not in found:
            status[name] = "library's: not defined in the TODO cell"
            continue
        result = quietly(CHECKERS[name], found[name])
        if result.passed:
            ready[name] = found[name]
            status[name] = "yours (its checker passes)"
        elif "not_implemented" in result.mistakes:
            status[name] = "library's: not implemented yet"
        else:
            status[name] = f"library's: its checker fails ({', '.join(result.mistakes)})"
    if verbose:
        width = max(len(n) for n in CHECKERS)
        print(f"{'function':<{width}}  {'notebook':<26}  runs")
        for name in CHECKERS:
            print(f"{name:<{width}}  {origin.get(name, ''):<26}  {status[name]}")
        print(f"{len(ready)} of {len(CHECKERS)} functions are yours")
    return ready
