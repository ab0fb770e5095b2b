"""The capture clients' settings: the one module of ``timeseal.capture`` that reads the
environment (see README, "Settings"). The capture code may not import the CLI, so the few
variables it needs at run time are read here, when they are needed, never at import time.

(The environment check, :mod:`timeseal.capture.environment`, *inspects* the environment — proxy
variables, the display — to report it as evidence; it is given a mapping, ``os.environ`` by
default, and reads no settings.)
"""

from __future__ import annotations

import os

#: The Chromium executable web captures drive (default: ``chromium`` on the PATH).
CHROMIUM_ENV = "TIMESEAL_CHROMIUM"


def chromium_from_env() -> str | None:
    """``$TIMESEAL_CHROMIUM`` if set and not empty."""
    return os.environ.get(CHROMIUM_ENV) or None


def xdg_data_home() -> str:
    """``$XDG_DATA_HOME`` as set, or "" (the caller applies the specification's default)."""
    return os.environ.get("XDG_DATA_HOME", "")
