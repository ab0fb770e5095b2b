"""The command line's settings: the one module of the ``timeseal`` command that reads the
environment (see README, "Settings").

Options with an environment variable (``--data-dir``: ``$TIMESEAL_DATA_DIR``) name it here,
and typer reads it when a command line is parsed, never when a module is imported; the
functions below read the rest when a command runs (``$TIMESEAL_SERVER`` through
:func:`timeseal.cli.server_client.resolve_server`, the one place every command's server is
chosen), and the commands hand the values down as arguments. ``timeseal serve`` reads the
server's settings through :meth:`timeseal.server.app.ServerSettings.from_env` instead, once,
and passes them to its workers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from timeseal.store.db import DATABASE_URL_ENV

DATA_DIR_ENV = "TIMESEAL_DATA_DIR"
SERVER_ENV = "TIMESEAL_SERVER"
DEFAULT_DATA_DIR = Path("./timeseal-data")
DEFAULT_SERVER = "http://127.0.0.1:8000"


def data_dir_option(
    help: str = "Data directory (PKI, database, blobs).",
) -> Any:
    """``--data-dir`` (a ``typer.Option``): default ``$TIMESEAL_DATA_DIR``, else
    ``./timeseal-data``."""
    return typer.Option("--data-dir", envvar=DATA_DIR_ENV, help=help)


def data_dir_from_env() -> Path:
    """The data directory a command without ``--data-dir`` looks in (``verify``'s local
    trust anchor)."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def server_from_env() -> str | None:
    """``$TIMESEAL_SERVER`` if set and not empty."""
    return os.environ.get(SERVER_ENV) or None


def database_url_from_env() -> str | None:
    """``$TIMESEAL_DATABASE_URL`` for the commands that open the data directory's database
    (``init``, ``tsa journal``); None: SQLite in the data directory."""
    return os.environ.get(DATABASE_URL_ENV) or None


def secret_from_env(name: str) -> str | None:
    """The secret in the environment variable ``config.json`` names (e.g. the HSM's PIN)."""
    return os.environ.get(name)


def xdg_base(variable: str) -> str:
    """An XDG base directory variable (``XDG_CONFIG_HOME``, ``XDG_STATE_HOME``) as set, or
    "" (the caller applies the specification's default)."""
    return os.environ.get(variable, "")


def locale_name() -> str | None:
    """The user's message locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``), if any."""
    return os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG")


def no_colour() -> bool:
    """Whether ``$NO_COLOR`` is set and not empty (https://no-color.org): print no colour."""
    return bool(os.environ.get("NO_COLOR"))


def display_from_env() -> str | None:
    """The X display a screen recording captures by default (``$DISPLAY``)."""
    return os.environ.get("DISPLAY")


def limit_malloc_arenas() -> None:
    """For ``timeseal serve``'s workers, which inherit this environment: at most two malloc
    arenas per process (unless the operator chose), so the threads that write uploads do not
    each keep their own heap."""
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")


def uvicorn_proxy_variable_set() -> bool:
    """Whether uvicorn's ``FORWARDED_ALLOW_IPS`` is set (``timeseal serve`` ignores it and
    says so)."""
    return "FORWARDED_ALLOW_IPS" in os.environ
