"""Every notebook runs top to bottom in a fresh kernel; every exercise checker can fail and can pass.

The notebooks are executed in the background from the start of the session (see notebook_runs.py);
each test below waits for its notebook and checks the result."""
from pathlib import Path

import nbformat
import pytest

import notebook_runs
from wdnumpy.exercises import CHECKERS, solutions
from wdnumpy.exercises import EXERCISES as EXERCISE_FUNCTIONS

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
EXERCISES = sorted((ROOT / "notebooks" / "exercises").glob("0*.ipynb"))


def test_there_are_six_notebooks_and_at_least_eight_exercises():
    assert len([p for p in NOTEBOOKS if p.parent.name == "notebooks"]) == 6
    assert len(EXERCISES) >= 8
    assert [p.stem for p in EXERCISES] == list(EXERCISE_FUNCTIONS)  # each notebook is in the registry, in order
    assert (ROOT / "notebooks" / "exercises" / "solutions.ipynb").exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def test_notebook_runs_in_a_fresh_kernel(path):
    for cell in nbformat.read(path, as_version=4).cells:  # committed with outputs cleared
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} has saved outputs"
    notebook, seconds = notebook_runs.result(path)
    print(f"{path.name}: {seconds:.1f} s")
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    if path in EXERCISES:  # the checker cell reports the untouched TODO as a FAIL, without raising
        printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
        assert "FAIL — not implemented yet" in printed


def todo_functions(path):
    """The functions defined in the notebook's fenced TODO cell, exactly as a student first sees them,
    and the source of the checker cell below it."""
    notebook = nbformat.read(path, as_version=4)
    [cell] = [c for c in notebook.cells if "TODO: your code starts here" in c.source]
    [checker_cell] = [c for c in notebook.cells if "from wdnumpy.exercises import check_" in c.source]
    namespace = {}
    exec(cell.source, namespace)  # a stub needs no imports: it only raises NotImplementedError
    functions = {k: v for k, v in namespace.items() if callable(v) and not k.startswith("__")}
    return functions, checker_cell.source


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: f"exercises/{p.stem}")
def test_each_checker_fails_the_untouched_todo_and_passes_the_solution(path, capsys):
    functions, checker_source = todo_functions(path)
    assert list(functions) == list(EXERCISE_FUNCTIONS[path.stem])  # the library's names, in order
    for name, stub in functions.items():
        checker = CHECKERS[name]
        assert f"{checker.__name__}({name})" in checker_source  # the notebook runs this checker on it
        untouched = checker(stub)
        out = capsys.readouterr().out
        assert not untouched.passed and "FAIL" in out and "not implemented yet" in out
        assert untouched.mistakes == ("not_implemented",)
        solved = checker(getattr(solutions, name))
        assert solved.passed and "PASS" in capsys.readouterr().out
