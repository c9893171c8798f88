"""The README's command-line reference ("## Command line", "### Every option") is what the parser says: every
command's one-line help, and every option's name, placeholder, accepted values, default (or that it is
required) and help text, as `python -m wdnumpy COMMAND --help` shows them. The reference is built here from
`build_parser()` (its actions, not argparse's line-wrapped help, which differs between Python versions) and must
appear in the README word for word, so that the README and `--help` never disagree."""
import argparse
import re
from pathlib import Path

from wdnumpy import cli

ROOT = Path(__file__).resolve().parent.parent

# What each type function accepts, in the README's words (tests/test_cli.py checks each function against them).
ACCEPTS = {
    cli.positive_int: "integer ≥ 1",
    cli.non_negative_int: "integer ≥ 0",
    cli.positive_float: "number > 0",
    cli.non_negative_float: "number ≥ 0",
    cli.finite_float: "number",
    cli.probability: "number in [0, 1)",
    cli.fraction: "number in (0, 1)",
    cli.rates_by_column: "RATE in [0, 1), or COLUMN:RATE,…",
    cli.split_spec: "`random:F` or `time:COLUMN:F`, F in (0, 1)",
    cli.hidden_widths: "widths ≥ 1 such as `100,50`, or `none`",
}


def placeholder(action) -> str:
    """The value's placeholder as `--help` shows it: the metavar, else the choices, else the option's name."""
    if action.metavar is not None:
        return action.metavar
    if action.choices is not None:
        return "{" + ",".join(map(str, action.choices)) + "}"
    return action.dest.upper()


def default_of(action) -> str:
    if action.required:
        return "required"
    value = action.default
    if action.nargs == 0:  # a flag
        return {False: "off", True: "on"}[value]
    if value is None:
        return ""
    if isinstance(value, tuple):
        value = ",".join(map(str, value))
    elif isinstance(value, float):
        value = f"{value:g}"
    return f"`{value}`"


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def option_row(action) -> str:
    name = ", ".join(action.option_strings)
    if action.nargs != 0:
        name += " " + placeholder(action)
    accepts = "" if action.type is None else ACCEPTS[action.type]
    if action.nargs == 0:
        accepts = "flag"
    return f"| {cell(f'`{name}`')} | {cell(accepts)} | {cell(default_of(action))} | {cell(action.help or '')} |"


def reference(parser: argparse.ArgumentParser) -> str:
    """The reference as Markdown: per command, its help line and a table of its options in the parser's order."""
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {a.dest: a.help for a in sub._choices_actions}
    parts = []
    for name, command in sub.choices.items():
        rows = [option_row(a) for a in command._actions if not isinstance(a, argparse._HelpAction)]
        parts.append(f"#### `{name}`: {helps.get(name) or ''}\n\n"
                     "| Option | Takes | Default | Help |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
    return "\n".join(parts)


def readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.search(r"^## Command line\n(.*?)^## ", text, re.S | re.M).group(1)


def test_the_readme_reference_is_what_the_parser_says():
    expected = reference(cli.build_parser())
    section = readme_section()
    assert "### Every option" in section
    written = section.split("### Every option", 1)[1]
    assert expected in written, "README's option reference is stale; the parser says:\n\n" + expected


def test_the_reference_covers_every_command_and_option():
    """A guard on the builder above: five commands, each option once, none without a row."""
    text = reference(cli.build_parser())
    assert re.findall(r"^#### `(\w+)`", text, re.M) == ["train", "predict", "explain", "spec", "experiment"]
    assert text.count("\n| `--") == 25 + 4 + 4 + 6 + 5


def test_the_program_names_itself_and_describes_itself(capsys):
    """`--help` starts `usage: python -m wdnumpy` (how it is run, whatever the interpreter's argv[0]) and says
    what it is; leaving out the command names the missing argument `command`."""
    try:
        cli.main(["--help"])
    except SystemExit as exit:
        assert exit.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m wdnumpy ")
    assert "\nWide & Deep in NumPy.\n" in out
    try:
        cli.main([])
    except SystemExit as exit:
        assert exit.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m wdnumpy ")
    assert err.rstrip().endswith("python -m wdnumpy: error: the following arguments are required: command")
