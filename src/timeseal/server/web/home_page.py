"""The landing page, ``/``: what TimeSeal does, what a trusted timestamp proves and what it
does not, how to capture well, and the steps of a consumer dispute in China with the evidence
that helps at each. Plain text for anyone, logged in or not; links to log in, capture and
verify."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from timeseal.server.web.account_pages import visitor_context
from timeseal.server.web.render import Pages


def include_home_page(app: FastAPI, pages: Pages) -> None:
    """Mount ``/``."""

    def home(request: Request) -> Response:
        return pages.render(request, "home.html", visitor_context(request))

    app.router.routes.append(Route("/", home, methods=["GET", "HEAD"]))
