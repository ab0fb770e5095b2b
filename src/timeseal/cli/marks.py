"""Colour for the ✓ / ✗ / ⚠ marks the ``timeseal`` command prints, honouring ``NO_COLOR``.

:func:`echo` is ``typer.echo`` with the marks painted (✓ green, ✗ red, ⚠ yellow). Colour is
only ever written to a terminal: click strips the escape codes when the stream is not one,
and with ``$NO_COLOR`` set (https://no-color.org) none are added at all.
"""

from __future__ import annotations

import typer

from timeseal.cli import settings as cli_settings

_COLOURS = {"✓": "green", "✗": "red", "⚠": "yellow"}


def paint(text: str) -> str:
    """``text`` with every mark coloured, unless ``$NO_COLOR`` asks for none."""
    if cli_settings.no_colour():
        return text
    for mark, colour in _COLOURS.items():
        if mark in text:
            text = text.replace(mark, typer.style(mark, fg=colour, bold=True))
    return text


def echo(text: str, *, err: bool = False) -> None:
    """Print ``text`` with its marks painted (plain when not on a terminal)."""
    typer.echo(paint(text), err=err)
