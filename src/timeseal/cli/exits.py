"""How a command ends on an error: the message on stderr, then the exit to raise.

Exit codes follow DESIGN.md: 1 failed (or invalid), 2 usage error (``timeseal verify`` also
3: incomplete). Each helper returns the
``typer.Exit`` instead of raising it, so the caller writes ``raise fail(...) from None`` and
the reader sees where the command stops.
"""

from __future__ import annotations

import typer

from timeseal.cli.errors import CliError
from timeseal.cli.marks import echo


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``✗ message``; the exit to raise (1: failed, 2: usage)."""
    echo(f"✗ {message}", err=True)
    return typer.Exit(code)


class UsageExit(typer.Exit, CliError):
    """Exit 2 for a usage error, keeping its ``message`` (``timeseal verify --json`` puts it
    in its JSON document)."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message


def usage_error(message: str) -> UsageExit:
    """Print ``错误 error: message``; the exit (2) to raise."""
    typer.echo(f"错误 error: {message}", err=True)
    return UsageExit(message)
