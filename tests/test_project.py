"""The project's promises about itself: the Quickstart and CI run the same test command."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quickstart_commands():
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## Quickstart\n(.*?)^## ", text, re.S | re.M).group(1)
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quickstart_has_exactly_two_commands_and_ci_runs_the_second():
    commands = quickstart_commands()
    assert len(commands) == 2
    assert "requirements.txt" in commands[0] and "python -m wdnumpy" in commands[0]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert commands[1] in ci_lines


def test_requirements_have_lower_bounds():
    lines = [l for l in (ROOT / "requirements.txt").read_text().splitlines() if l.strip()]
    names = {re.split(r"[<>=]", l)[0] for l in lines}
    assert {"numpy", "scipy", "matplotlib", "jupyter", "pytest"} <= names
    assert all(">=" in l for l in lines)
