"""``/docs`` (Swagger UI), only when the operator asks for it and only from local files.

FastAPI's default ``/docs`` and ``/redoc`` pages load their scripts from a public CDN: script
from a third party running on the origin that holds the session cookie, able to call every
API the logged-in user can. So both are off by default. ``timeseal serve --api-docs`` (or
``"api_docs": true`` in config.json's ``"http"``) turns ``/docs`` on when Swagger UI's files
are installed on this machine (the ``swagger-ui-bundle`` Python package); without them it
stays off, and says so in the log. ``/redoc`` has no such package and stays off.
``/openapi.json`` is always served: it is the API's contract.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

log = logging.getLogger("timeseal.server")

#: The files /docs needs, all served from ``/docs/assets/``.
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css")
DOCS_PATH = "/docs"


def offline_swagger_ui() -> Path | None:
    """The directory of an installed ``swagger-ui-bundle`` package, if it has the files."""
    try:
        module = importlib.import_module("swagger_ui_bundle")
    except ImportError:
        return None
    path = Path(str(getattr(module, "swagger_ui_path", "")))
    return path if all((path / name).is_file() for name in ASSETS) else None


def include_api_docs(app: FastAPI, assets: Path | None) -> bool:
    """Serve ``/docs`` with the Swagger UI files in ``assets``; whether it is on."""
    if assets is None or not all((assets / name).is_file() for name in ASSETS):
        log.warning("api docs: Swagger UI is not installed locally; /docs stays off")
        return False

    async def docs(_request: Request) -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_PATH}/assets/{ASSETS[0]}",
            swagger_css_url=f"{DOCS_PATH}/assets/{ASSETS[1]}",
            swagger_favicon_url="data:,",
        )

    app.router.routes += [
        Route(DOCS_PATH, docs, methods=["GET"], include_in_schema=False),
        Mount(f"{DOCS_PATH}/assets", StaticFiles(directory=assets)),
    ]
    return True
