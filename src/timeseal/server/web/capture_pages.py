"""Capture in the browser: ``/capture`` records camera video or the screen, takes photos and
uploads picked files, for the logged-in account.

The page is a form and a script (``static/js/capture.js`` and the ES modules it imports, no
build step; how a file is hashed, and up to which size with Web Crypto, is
``static/js/lib/hashing.js``, shared with the verify page); everything it does
goes through the JSON API with the session cookie and the ``X-CSRF-Token`` header, exactly as
other API clients would:

- a recording streams while it happens: ``POST /api/v1/recordings``, then every 2-second
  MediaRecorder chunk ``PUT …/chunks/{index}`` in order (each is chained and its head
  timestamped by the server at once, so a closed tab leaves everything sent so far sealed),
  and ``POST …/finish`` on Stop;
- a photo (a still from the camera, or any picked file) is a tus upload to
  ``/api/v1/uploads``, as ``timeseal upload`` does;
- before anything is recorded the page shows the browser environment report (user agent,
  language, time zone, screen, connection, the clock offset against ``GET /api/v1/time``)
  that goes into the item's capture metadata, and the location when the person ticks the box.

This is the one page whose Permissions-Policy lets it ask for the camera, the microphone, the
screen and the location (:data:`.render.CAPTURE_DEVICES`); the browser still asks the person.
Without JavaScript, or in a browser without MediaRecorder, the page says so and still lists
what it would do.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from timeseal.server.web.account_pages import login_redirect, page_principal
from timeseal.server.web.state import vault_service, web_pages

CAPTURE_PATH = "/capture"
#: MediaRecorder's timeslice: a chunk every 2 seconds, each sent and sealed as it comes.
TIMESLICE_MS = 2000
#: tus PATCH size for photo and file uploads: small enough for a phone's upload to resume
#: often, large enough to keep the requests few.
UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024


def capture_page(request: Request) -> Response:
    principal = page_principal(request)
    if principal is None:
        return login_redirect(request)
    context = {
        "account": principal.account,
        "csrf_token": principal.csrf_token,
        "cases": vault_service(request).cases.list_for(principal.account.id),
        "timeslice_ms": TIMESLICE_MS,
        "upload_chunk": UPLOAD_CHUNK_BYTES,
    }
    # hash-wasm compiles WebAssembly (wasm); the recorder needs the devices.
    return web_pages(request).render(request, "capture.html", context, wasm=True, devices=True)


#: ``/capture`` (login required).
routes: list[BaseRoute] = [Route(CAPTURE_PATH, capture_page, methods=["GET", "HEAD"])]
