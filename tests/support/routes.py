"""Every route of the application, for the security suite's table-driven tests: the API's
operations as /openapi.json lists them, and every HTTP route the app serves (web pages and forms
too, which are not in /openapi.json), so that a route added later shows up by itself."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Set
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: FastAPI's own pages, not TimeSeal's.
FRAMEWORK_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def fastapi_app(app: Any) -> FastAPI:
    """The FastAPI app inside ``create_app``'s answer (:class:`~timeseal.server.app.RouteFirst`)."""
    inner = getattr(app, "app", app)
    assert isinstance(inner, FastAPI), type(inner)
    return inner


def http_routes(app: Any) -> Iterator[tuple[str, str]]:
    """``(METHOD, path template)`` for every HTTP route, included routers flattened."""
    for context in iter_route_contexts(fastapi_app(app).routes):
        route: BaseRoute = context.original_route
        path = context.path
        methods = getattr(route, "methods", None)
        if path is None or not methods or path in FRAMEWORK_PATHS:
            continue
        for method in sorted(methods):
            yield method, path


def api_operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(METHOD, path, operation)`` for every ``/api/v1`` operation in an OpenAPI document."""
    for path, operations in spec["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            yield method.upper(), path, operation


def path_names(path: str) -> list[str]:
    """The parameters of a path template: ``/cases/{case}/items/{number}`` -> case, number."""
    return [name.split(":")[0] for name in re.findall(r"\{([^}]+)\}", path)]


def fill(path: str, values: dict[str, Any]) -> str:
    """``path`` with each ``{name}`` (or ``{name:conv}``) replaced from ``values``."""
    return re.sub(r"\{([^}:]+)(?::[^}]+)?\}", lambda m: str(values[m.group(1)]), path)


def check_every_route_decided(
    served: Set[tuple[str, str]], decisions: Mapping[tuple[str, str], str], *, todo: str, table: str
) -> None:
    """A decision table (``table``, for the message) covers exactly the routes served: one
    added later fails until someone writes its decision down (``todo`` says how)."""
    undecided = served - set(decisions)
    assert not undecided, f"{todo}: {undecided}"
    assert not set(decisions) - served, f"{table} names routes the app no longer serves"
