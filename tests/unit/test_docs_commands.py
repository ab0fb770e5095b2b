"""Every ``timeseal …`` command line in the code blocks of README.md and docs/*.md names a
command that exists and only flags that command has, so the docs cannot fall behind the CLI.

Lines are read as a shell reads them (continuations joined, comments dropped, quotes kept
together); ``[…]`` marks optional parts, and ``$(timeseal …)`` inside an argument is checked
too. Arguments are not checked, only the command path and the option names. Inline code in
the prose (``timeseal capture screen|camera [--upload]``, its ``|`` escaped in tables) is
checked the same way, each alternative (``a|b``, ``a/b/c``) included; a bare ``timeseal case``
or ``timeseal log …`` names the group.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from timeseal.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_SUBSTITUTION = re.compile(r"\$\((timeseal\s[^)]*)\)")
_INLINE = re.compile(r"`(timeseal [^`]*)`")


def _shell_lines(block: str) -> list[str]:
    lines: list[str] = []
    pending = ""
    for raw in block.split("\n"):
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    return lines


def _command_lines(text: str) -> list[list[str]]:
    """The argument lists after each ``timeseal`` in the code blocks of ``text``."""
    found: list[list[str]] = []
    for block in _FENCE.findall(text):
        for line in _shell_lines(block):
            if not re.search(r"(^|[\s/$])timeseal\s", line):
                continue
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                continue  # not shell (a YAML or JSON block that mentions timeseal)
            for word in words:
                found += [shlex.split(m) for m in _SUBSTITUTION.findall(word)]
            starts = [i for i, w in enumerate(words) if w == "timeseal" or w.endswith("/timeseal")]
            if starts:
                found.append([w.strip("[]") for w in words[starts[0] :] if w.strip("[]")])
    return found


def _inline_commands(text: str) -> list[list[str]]:
    """The words of each inline ``timeseal …`` code span in the prose of ``text``."""
    prose = _FENCE.sub("", text)
    spans = [span.replace("\\|", "|").split() for span in _INLINE.findall(prose)]
    return [[w.strip("[]") for w in words if w.strip("[]")] for words in spans]


def _cases() -> list[tuple[str, list[str], bool]]:
    """(where and what, the arguments, whether the line is a whole command)."""
    cases = []
    for path in DOCS:
        text = path.read_text()
        for words in _command_lines(text):
            cases.append((f"{path.name}: {' '.join(words)}", words[1:], True))
        for words in _inline_commands(text):
            cases.append((f"{path.name} (inline): {' '.join(words)}", words[1:], False))
    return list({line: (line, args, whole) for line, args, whole in cases}.values())


def _eager_options(command: Any) -> set[str]:
    """The options that act on their own and exit (``--help``, ``--version``)."""
    eager = {"--help"}
    for param in command.params:
        if getattr(param, "is_eager", False):
            eager.update(param.opts)
    return eager


def _problems(root: Any, args: list[str], *, whole: bool = True) -> list[str]:
    """What is wrong with ``timeseal ARGS`` (typer's click commands: a group has
    ``commands``). ``whole=False``: a mention in prose, which may stop at a group."""
    command = root
    rest = list(args)
    path = ["timeseal"]
    while hasattr(command, "commands"):
        if rest and rest[0] in _eager_options(command):
            return []  # `timeseal --version`: the group acts and exits
        if not rest or rest[0].startswith("-") or rest[0] == "…":
            return [f"`{' '.join(path)}` needs a subcommand"] if whole else []
        names = re.split(r"[|/]", rest.pop(0).rstrip("…"))
        unknown = [name for name in names if name not in command.commands]
        if unknown:
            return [f"`{' '.join(path)}` has no command {name!r}" for name in unknown]
        command, path = command.commands[names[0]], [*path, names[0]]
    options = {"--help"}
    for param in command.params:
        options.update(param.opts, param.secondary_opts)
    flags = [flag.split("=")[0] for word in rest for flag in word.split("|")]
    return [
        f"`{' '.join(path)}` has no option {flag}"
        for flag in flags
        if flag.startswith("-") and flag != "-" and flag not in options
    ]


CASES = _cases()


ROOT_COMMAND = typer.main.get_command(app)


def test_the_docs_have_command_lines_to_check() -> None:
    # one from a plain block, one continued over lines, one from inside $(…), one inline
    lines = {line.split(": ", 1)[1] for line, _, _ in CASES}
    assert "timeseal witness vkey" in lines
    assert any(line.startswith("timeseal log verify --server") for line in lines)
    assert "timeseal capture screen|camera --upload --force" in lines
    assert len(CASES) > 100


def test_the_check_finds_what_is_wrong() -> None:
    assert _problems(ROOT_COMMAND, ["stamp", "--no-such-flag", "x"]) == [
        "`timeseal stamp` has no option --no-such-flag"
    ]
    assert _problems(ROOT_COMMAND, ["case", "create/frobnicate"]) == [
        "`timeseal case` has no command 'frobnicate'"
    ]
    assert _problems(ROOT_COMMAND, ["log"]) == ["`timeseal log` needs a subcommand"]
    assert _problems(ROOT_COMMAND, ["--version"]) == []
    assert _problems(ROOT_COMMAND, ["--frobnicate"]) == ["`timeseal` needs a subcommand"]
    assert _problems(ROOT_COMMAND, ["log", "…"], whole=False) == []


@pytest.mark.parametrize(("line", "args", "whole"), CASES, ids=[line for line, _, _ in CASES])
def test_every_documented_command_line_parses(line: str, args: list[str], whole: bool) -> None:
    assert _problems(ROOT_COMMAND, args, whole=whole) == [], line
