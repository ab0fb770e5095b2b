"""How a command ends on an error: the message on stderr, then the exit to raise.

Exit codes follow DESIGN.md: 1 failed (or invalid), 2 usage error. Each helper returns the
``typer.Exit`` instead of raising it, so the caller writes ``raise fail(...) from None`` and
the reader sees where the command stops.
"""

from __future__ import annotations

import typer

from timeseal.cli.marks import echo


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``✗ message``; the exit to raise (1: failed, 2: usage)."""
    echo(f"✗ {message}", err=True)
    return typer.Exit(code)


def usage_error(message: str) -> typer.Exit:
    """Print ``错误 error: message``; the exit (2) to raise."""
    typer.echo(f"错误 error: {message}", err=True)
    return typer.Exit(2)
