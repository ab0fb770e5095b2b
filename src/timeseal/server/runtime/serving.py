"""How a worker runs the application: uvicorn's options (:func:`server_options`) and the factory
that builds the application with the server's settings bound to it (:func:`app_factory`).

Apart from :mod:`.http` (the HTTP settings, which the application reads) because this module
imports the application: the one room that runs it sits above it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from timeseal.server.app import ServerSettings, create_app


def app_factory(settings: ServerSettings) -> Callable[[], Any]:
    """The factory a worker calls to build its application, with ``settings`` bound to it (a
    ``functools.partial``, so they travel to spawned workers by pickling, not by
    environment)."""
    return functools.partial(create_app, settings)


def server_options(host: str, port: int, settings: ServerSettings) -> dict[str, Any]:
    """Keyword arguments for :class:`timeseal.server.tsa.fast_path.TimeSealConfig` (uvicorn's
    ``Config`` plus our timeouts), for the single process and for every worker alike.
    ``settings.http`` must be set (:func:`.http.resolve`'s result)."""
    http = settings.http
    if http is None:
        raise ValueError("server_options needs the resolved HTTP settings (settings.http)")
    return {
        "app": app_factory(settings),
        "factory": True,
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": False,
        "loop": "uvloop",
        # httptools, with /tsa answered in place
        "http": "timeseal.server.tsa.fast_path:TSAHttpProtocol",
        # uvicorn trusts no proxy header: the application does, from the listed peers only.
        # Both given explicitly, so that FORWARDED_ALLOW_IPS in the environment is never read.
        "proxy_headers": False,
        "forwarded_allow_ips": [],
        "header_timeout": http.header_timeout_s,
        "body_timeout": http.body_timeout_s,
    }
