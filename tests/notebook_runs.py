"""Run the notebooks in the background while the rest of the suite runs.

Each notebook is executed in its own fresh kernel (a separate process), as a student would run it;
what this module adds is *when*: conftest.py schedules every notebook the session collected as soon
as collection ends, and `KERNELS_AT_ONCE` kernels run at a time on an event loop in a background
thread. The main process meanwhile runs the other tests, so a two-core machine is kept busy by both.
A notebook test only waits for its notebook's result, then checks it.

Kernels get a copy of the environment taken when they are scheduled, not the live `os.environ`,
so a test that patches an environment variable meanwhile cannot leak into a notebook.
"""
import asyncio
import os
import tempfile
import threading
import time

import nbformat
from nbclient import NotebookClient

CELL_TIMEOUT = 120  # seconds per cell; each notebook is meant to finish in well under a minute
KERNELS_AT_ONCE = min(2, os.cpu_count() or 1)


class NotebookRun:
    """One scheduled execution: `wait()` returns (executed notebook, seconds) or raises its error."""

    def __init__(self, path):
        self.path = path
        self.done = threading.Event()
        self.notebook = self.seconds = self.error = None

    def wait(self, timeout):
        if not self.done.wait(timeout):
            raise TimeoutError(f"{self.path.name} did not finish within {timeout} s")
        if self.error is not None:
            raise self.error
        return self.notebook, self.seconds


_runs = {}


def schedule(paths):
    """Start executing `paths` (those not already scheduled) in a background thread."""
    new = [NotebookRun(p) for p in paths if p not in _runs]
    if not new:
        return
    _runs.update((run.path, run) for run in new)
    env = dict(os.environ)
    threading.Thread(target=asyncio.run, args=(_execute_all(new, env),), daemon=True,
                     name="notebook-runs").start()


def result(path, timeout=30 * 60):
    """The executed notebook at `path` and its run time in seconds, scheduling it first if needed."""
    schedule([path])
    return _runs[path].wait(timeout)


async def _execute_all(runs, env):
    slots = asyncio.Semaphore(KERNELS_AT_ONCE)
    await asyncio.gather(*(_execute(run, env, slots) for run in runs))


async def _execute(run, env, slots):
    async with slots:
        # The kernel's own log (not the cells' outputs) goes to a file, not to the terminal
        # pytest is writing to; it is shown only if the notebook fails.
        with tempfile.TemporaryFile("w+") as kernel_log:
            try:
                notebook = nbformat.read(run.path, as_version=4)
                started = time.perf_counter()
                client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                                        resources={"metadata": {"path": str(run.path.parent)}})
                await client.async_execute(env=env, stdout=kernel_log, stderr=kernel_log)
                run.notebook, run.seconds = notebook, time.perf_counter() - started
            except BaseException as error:  # reported by the test that waits for this notebook
                kernel_log.seek(0)
                error.add_note("kernel log:\n" + kernel_log.read()[-3000:])
                run.error = error
            finally:
                run.done.set()
