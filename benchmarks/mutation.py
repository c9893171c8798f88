"""Mutation testing of wdnumpy with mutmut 3: which planted changes does the test suite notice?

A developer tool, not a requirement and not part of CI. In a virtual environment of its own:

    python -m venv /tmp/mutenv
    /tmp/mutenv/bin/pip install mutmut==3.8.1 -r requirements.txt
    /tmp/mutenv/bin/python benchmarks/mutation.py --sample 30 --seed 1      # 30 mutants per module
    /tmp/mutenv/bin/python benchmarks/mutation.py wdnumpy/metrics.py        # every mutant of one module
    /tmp/mutenv/bin/python benchmarks/mutation.py --after /tmp/wdnumpy-mutation-xyz   # after new tests: the survivors again
    /tmp/mutenv/bin/python benchmarks/mutation.py --after A --after B --rest   # ...and every mutant they never reached

It copies the files git tracks to a work folder (the checkout itself is never touched), tells mutmut
to mutate ``wdnumpy/`` (except ``__init__``, ``__main__`` and the exercise solutions, which the
notebooks test) and to judge each mutant by the test suite without the notebooks, runs it, and
prints one row per module: mutants run, killed, survived, judged equivalent, and the score

    killed ÷ (run − equivalent),

where the equivalent mutants are those listed, each with the reason, in
``benchmarks/mutmut-equivalent.txt``. That file also lists, with a reason beginning "killed by",
the few mutants that only the tests left out of mutation runs (see ``MUTMUT_CONFIG``) can kill,
each checked by hand: they count as killed. A timeout counts as killed (the mutant made the tests hang),
and so does a crash (the test process killed by a signal, such as a segmentation fault in SciPy's C
code fed indices the mutant left uninitialised); a mutant no test reaches counts as survived. Survivors are listed by name; ``mutmut show <name>``
in the work folder prints a survivor's diff. ``--sample`` draws the same mutants for the same seed
and the same code.
"""
import argparse
import ast
import functools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = ROOT / "benchmarks" / "mutmut-equivalent.txt"
SLICE = 1000  # mutants a mutmut command runs (each command first runs their tests once, unmutated)
NOT_MUTATED = ["wdnumpy/__init__.py", "wdnumpy/__main__.py", "wdnumpy/exercises/*"]
# mutmut calls every function through a trampoline of its own, so a warning's stacklevel can no
# longer reach the caller's file: the three tests that check it are left out of mutation runs.
MUTMUT_CONFIG = """[mutmut]
source_paths = wdnumpy/
do_not_mutate =
{not_mutated}
also_copy =
    data/
    notebooks/
    benchmarks/
    README.md
    requirements.txt
    .ci/
pytest_add_cli_args_test_selection =
    tests/
    --ignore=tests/test_notebooks.py
    --deselect=tests/test_feature_edges.py::test_the_separator_warning_points_at_the_code_that_fitted_the_column
    --deselect=tests/test_feature_edges.py::test_raw_values_warn_only_above_the_warning_level_and_at_the_code_that_fitted_them
    --deselect=tests/test_feature_edges.py::test_the_separator_warning_needs_most_values_to_hold_the_other_separator
    -p
    no:cacheprovider
"""


def copy_checkout(workdir: Path) -> None:
    """The files git tracks, as they are in the working tree, without the tests' mutmut settings."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in tracked.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (workdir / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, workdir / name)
    (workdir / "setup.cfg").write_text(MUTMUT_CONFIG.format(
        not_mutated="\n".join(f"    {p}" for p in NOT_MUTATED)))


def mutmut(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the mutmut command line in ``workdir``, its output captured."""
    command = [str(Path(sys.executable).with_name("mutmut")), *args]
    out = subprocess.run(command, cwd=workdir, text=True, capture_output=True,
                         env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    if check and out.returncode:
        raise SystemExit(f"{' '.join(command)} failed (exit {out.returncode}) in {workdir}:\n"
                         f"{out.stdout[-3000:]}{out.stderr[-3000:]}")
    return out


def make_mutants(workdir: Path, max_children: int) -> None:
    """Have mutmut make the mutants and map tests to functions, without running any mutant: it does
    both before it looks for the mutants asked for, and then stops because none has this name."""
    out = mutmut(workdir, "run", "--max-children", str(max_children), "no.such.mutant", check=False)
    if not (workdir / "mutants" / "mutmut-stats.json").exists():
        raise SystemExit(f"mutmut could not make the mutants in {workdir}:\n{out.stdout[-3000:]}{out.stderr[-3000:]}")


DETECTED = ("killed", "timeout", "crashed")  # statuses that count as killed


def status_of_exit_code(code) -> str:
    """What mutmut's exit code of a mutant's test run means (None: not run yet)."""
    known = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", None: "not checked"}
    if code in known:
        return known[code]
    if code in (24, -24, 36, 152, 255):
        return "timeout"
    return "crashed" if code < 0 else f"exit {code}"  # a negative code: the tests died by that signal


def statuses(workdir: Path) -> dict:
    """Mutant name → status, from mutmut's result files in ``workdir/mutants``."""
    found = {}
    for meta in (workdir / "mutants").rglob("*.meta"):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            found[name] = status_of_exit_code(code)
    return found


@functools.cache
def function_source(root: Path, module: str, function: str):
    """The source of ``function`` (``name`` or ``Class.name``) in ``root/module``, or None."""
    tree = ast.parse((root / module).read_text())
    scopes = {"": tree.body}
    scopes.update({node.name + ".": node.body for node in tree.body if isinstance(node, ast.ClassDef)})
    scope, _, name = function.rpartition(".")
    for node in scopes.get(scope + "." if scope else "", []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return ast.dump(node)
    return None


def function_of(mutant: str) -> str:
    """``wdnumpy.batch.x__rows__mutmut_5`` → ``_rows``; ``...xǁBatchǁvalidate__mutmut_5`` → ``Batch.validate``."""
    name = re.match(r".*?\.x[_ǁ](.*)__mutmut_\d+$", mutant).group(1)
    return name.replace("ǁ", ".")


def same_code(folder: Path, mutant: str) -> bool:
    """Whether an earlier work folder mutated the same code of the mutant's function as the checkout has now
    (mutmut numbers a function's mutants in order, so an edit changes what a name stands for)."""
    module, function = module_of(mutant), function_of(mutant)
    now = function_source(ROOT, module, function)
    return now is not None and function_source(folder, module, function) == now


def listed_names() -> tuple:
    """(equivalent, killed outside): the names in the equivalent file, and among them those whose reason
    begins with "killed by" (a test that mutation runs leave out kills them, checked by hand)."""
    equivalent, killed_outside = set(), set()
    for line in EQUIVALENT.read_text().splitlines():
        name, _, reason = (part.strip() for part in line.partition("#"))
        if name:
            (killed_outside if reason.startswith("killed by") else equivalent).add(name)
    return equivalent, killed_outside


def module_of(mutant: str) -> str:
    """``wdnumpy.features.spec.xǁFeatureSpecǁtransform__mutmut_3`` → ``wdnumpy/features/spec.py``."""
    return re.match(r"(.*?)\.x[_ǁ]", mutant).group(1).replace(".", "/") + ".py"


def report(found: dict, chosen: list) -> int:
    """Print the table; return the number of modules under 90%."""
    equivalent, killed_outside = listed_names()
    rows = defaultdict(Counter)
    for name in chosen:
        status = found.get(name, "not checked")
        status = "killed" if name in killed_outside and status != "not checked" else status
        row = rows[module_of(name)]
        row["run"] += status != "not checked"
        row["killed"] += status in DETECTED
        row["equivalent"] += status not in (*DETECTED, "not checked") and name in equivalent
        row["survived"] += status not in (*DETECTED, "not checked") and name not in equivalent
    print(f"{'module':32} {'run':>5} {'killed':>7} {'surv.':>6} {'equiv.':>7} {'score':>7}")
    total, below = Counter(), 0
    for module in sorted(rows):
        row = rows[module]
        total.update(row)
        score = row["killed"] / max(row["run"] - row["equivalent"], 1)
        below += score < 0.9
        print(f"{module:32} {row['run']:5} {row['killed']:7} {row['survived']:6} {row['equivalent']:7} {score:7.1%}")
    score = total["killed"] / max(total["run"] - total["equivalent"], 1)
    print(f"{'all':32} {total['run']:5} {total['killed']:7} {total['survived']:6} {total['equivalent']:7} {score:7.1%}")
    survivors = [n for n in chosen if found.get(n) not in (*DETECTED, "not checked", None)
                 and n not in equivalent | killed_outside]
    if survivors:
        print("\nsurvived (not listed as equivalent):\n  " + "\n  ".join(survivors))
    listed = [n for n in chosen if found.get(n) not in (*DETECTED, "not checked", None) and n in equivalent]
    if listed:  # an edit renumbers a function's mutants: these should still be the changes the file describes
        print("\nsurvived, listed as equivalent:\n  " + "\n  ".join(listed))
    return below


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="only these modules, e.g. wdnumpy/metrics.py (default: all)")
    parser.add_argument("--sample", type=int, help="run this many mutants drawn at random from each module")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --sample draw (default 0)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--workdir", type=Path, help="where to copy the checkout (default: a new temp folder); "
                        "run again on the same folder to go on where a run stopped")
    parser.add_argument("--after", type=Path, action="append", default=[],
                        help="the work folder of an earlier run (repeatable): judge the same mutants, counting "
                        "those it killed as killed and keeping the verdict of those listed in the equivalents file, if "
                        "their function's code is unchanged, and running the others again (after adding tests)")
    parser.add_argument("--rest", action="store_true", help="with --after: also run the mutants that no earlier "
                        "run reached, for a complete run")
    parser.add_argument("--report-only", action="store_true", help="print the table for what has run so far")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="wdnumpy-mutation-"))
    if not (workdir / "setup.cfg").exists():
        workdir.mkdir(parents=True, exist_ok=True)
        copy_checkout(workdir)
    print(f"work folder: {workdir}", flush=True)
    if not (workdir / "mutants" / "mutmut-stats.json").exists():
        make_mutants(workdir, args.max_children)
    wanted = {str(Path(m)) for m in args.modules}
    by_module = defaultdict(list)
    for name in sorted(statuses(workdir)):
        if not wanted or module_of(name) in wanted:
            by_module[module_of(name)].append(name)
    chosen = []
    for module, names in sorted(by_module.items()):
        chosen += random.Random(f"{args.seed}:{module}").sample(names, min(args.sample, len(names))) \
            if args.sample else names
    earlier = {}
    for folder in args.after:
        for name, status in statuses(folder).items():
            if status != "not checked" and earlier.get(name) not in DETECTED \
                    and same_code(folder, name):
                earlier[name] = status
    if args.after and not args.rest:  # the mutants the earlier runs judged, and all of functions edited since
        chosen = [n for n in chosen if earlier.get(n, "not checked") != "not checked"
                  or not same_code(args.after[-1], n)]
    done = {n for n, status in earlier.items() if status in DETECTED}
    # a survivor judged equivalent (or killed outside mutation runs) keeps its verdict while its code is unchanged
    listed = set(earlier) & set.union(*listed_names())
    done |= listed
    print(f"{len(chosen)} mutants of {sum(map(len, by_module.values()))} in {len(by_module)} modules", flush=True)
    so_far = statuses(workdir)
    todo = [n for n in chosen if n not in done and so_far.get(n) in (None, "not checked")]
    random.Random(args.seed).shuffle(todo)  # so that a run stopped part-way has sampled every module alike
    for start in range(0, 0 if args.report_only else len(todo), SLICE):
        mutmut(workdir, "run", "--max-children", str(args.max_children), *todo[start:start + SLICE])
        print(f"  {min(start + SLICE, len(todo))} of {len(todo)} run", flush=True)
    # a mutant not run again yet keeps its earlier verdict (a survivor stays one until a run shows otherwise)
    judged = {n: status for n, status in statuses(workdir).items() if status != "not checked"}
    return 1 if report({**earlier, **judged, **{n: "killed" for n in done - listed}}, chosen) else 0


if __name__ == "__main__":
    sys.exit(main())
