"""Every notebook runs top to bottom in a fresh kernel; every exercise checker can fail and can pass."""
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from wdnumpy.exercises import CHECKERS, solutions

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
EXERCISES = sorted((ROOT / "notebooks" / "exercises").glob("0*.ipynb"))
CELL_TIMEOUT = 120  # seconds per cell; each notebook is meant to finish in well under a minute


def test_there_are_five_notebooks_and_five_exercises():
    assert len([p for p in NOTEBOOKS if p.parent.name == "notebooks"]) == 5
    assert len(EXERCISES) >= 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def test_notebook_runs_in_a_fresh_kernel(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:  # committed with outputs cleared
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} has saved outputs"
    started = time.perf_counter()
    NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    print(f"{path.name}: {time.perf_counter() - started:.1f} s")
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


def todo_function(path):
    """The function defined in the notebook's fenced TODO cell, exactly as a student first sees it."""
    notebook = nbformat.read(path, as_version=4)
    [cell] = [c for c in notebook.cells if "TODO: your code starts here" in c.source]
    [checker_cell] = [c for c in notebook.cells if "from wdnumpy.exercises import check_" in c.source]
    namespace = {}
    exec(cell.source, namespace)
    checker_name = checker_cell.source.split("import ")[1].split()[0]
    function_name = cell.source.split("def ")[1].split("(")[0]
    return namespace[function_name], function_name, checker_name


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_checker_fails_the_untouched_todo_and_passes_the_solution(path, capsys):
    function, name, checker_name = todo_function(path)
    checker = CHECKERS[checker_name.removeprefix("check_")]
    assert checker_name == checker.__name__
    untouched = checker(function)
    assert not untouched.passed and "FAIL" in capsys.readouterr().out
    solved = checker(getattr(solutions, name))
    assert solved.passed and "PASS" in capsys.readouterr().out
