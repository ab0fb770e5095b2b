"""The landing page, ``/``: what TimeSeal does, what a trusted timestamp proves and what it
does not, how to capture well, and the steps of a consumer dispute in China with the evidence
that helps at each. Plain text for anyone, logged in or not; links to log in, capture and
verify."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from timeseal.server.web.account_pages import visitor_context
from timeseal.server.web.state import web_pages


def home(request: Request) -> Response:
    return web_pages(request).render(request, "home.html", visitor_context(request))


#: ``/``.
routes: list[BaseRoute] = [Route("/", home, methods=["GET", "HEAD"])]
