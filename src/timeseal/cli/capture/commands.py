"""``timeseal capture …``: record evidence on this machine (web pages, the screen, a camera,
photos, existing files). Each kind of capture lives in its own module and adds its command to
:data:`capture_app` through a ``register(capture_app)`` function listed here."""

from __future__ import annotations

import typer

from timeseal.cli.capture.av import register as register_av
from timeseal.cli.capture.file import register as register_file
from timeseal.cli.capture.web import register as register_web

capture_app = typer.Typer(
    help="取证 Capture evidence: web pages, the screen, a camera, photos, files.",
    no_args_is_help=True,
)
register_av(capture_app)
register_file(capture_app)
register_web(capture_app)


def register(app: typer.Typer) -> None:
    """Add ``capture`` and its subcommands to ``app``."""
    app.add_typer(capture_app, name="capture")
