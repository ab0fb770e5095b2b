"""Static files under ``/static/`` with content-hashed names, cached for a year.

``static/js/verify.js`` is served as ``/static/js/verify.<hash>.js`` where ``<hash>`` is the
first 12 hex digits of its SHA-256: a changed file gets a new URL, so every URL can be cached
``immutable``. Templates ask for URLs with ``static_url("js/verify.js")``. A request for a
name with a stale or missing hash is 404 (it would otherwise pin old content in caches).

The page scripts under ``static/js/`` are ES modules that import each other by relative path
(``import { sha256Hex } from "./lib/hashing.js"``). Those names are not served, so each such
specifier is rewritten, at start-up, to the hashed URL of the module it names, dependencies
first: a module's hash then covers the modules it imports, and a change to ``lib/http.js``
gives ``capture.js`` a new URL too. No build step, and no import map (an inline script the
CSP would have to allow).
"""

from __future__ import annotations

import hashlib
import mimetypes
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/static/"
#: The folder of the ES modules whose relative imports are linked to hashed URLs.
MODULES = "js/"
#: ``from "./x.js"``, ``import "./x.js"``, ``import("./x.js")``: a relative specifier.
_IMPORT = re.compile(
    rb"(?P<lead>\b(?:from|import)\s*\(?\s*)"  # the keyword (and a dynamic import's parenthesis)
    rb"""(?P<q>["'])(?P<spec>\.\.?/[^"'\n]+)(?P=q)"""  # the quoted relative specifier
)
CACHE_FOREVER = "public, max-age=31536000, immutable"
_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    url: str
    media_type: str


def hashed_name(name: str, digest: str) -> str:
    """``js/verify.js`` -> ``js/verify.<digest>.js``; files without a suffix (LICENSE) get
    ``LICENSE.<digest>``."""
    p = PurePosixPath(name)
    if not p.suffix:
        return f"{name}.{digest}"
    return str(p.with_name(f"{p.stem}.{digest}{p.suffix}"))


class StaticAssets:
    """Every file under ``root``, read and hashed once at start-up (they are small)."""

    def __init__(self, root: Path = STATIC_DIR) -> None:
        self._by_name: dict[str, Asset] = {}
        self._by_url: dict[str, Asset] = {}
        raw = {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(p for p in root.rglob("*") if p.is_file())
        }
        for name in raw:
            self._add(name, raw, ())

    def _add(self, name: str, raw: dict[str, bytes], importing: tuple[str, ...]) -> Asset:
        """The asset of ``name``, made (after the modules it imports) unless it exists."""
        if name in self._by_name:
            return self._by_name[name]
        if name in importing:
            raise ValueError(f"static/{name}: import cycle {' -> '.join((*importing, name))}")
        body = raw[name]
        if name.startswith(MODULES) and name.endswith(".js"):
            body = self._link(name, body, raw, (*importing, name))
        digest = hashlib.sha256(body).hexdigest()[:12]
        media_type = _TYPES.get(PurePosixPath(name).suffix) or (
            mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        asset = Asset(body, PREFIX + hashed_name(name, digest), media_type)
        self._by_name[name] = asset
        self._by_url[asset.url] = asset
        return asset

    def _link(self, name: str, body: bytes, raw: dict[str, bytes], chain: tuple[str, ...]) -> bytes:
        """``body`` with each relative import specifier replaced by the hashed URL of the
        module it names; a specifier naming no file fails the start (the page would break)."""

        def hashed(match: re.Match[bytes]) -> bytes:
            spec = match["spec"].decode()
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), spec))
            if target not in raw:
                raise ValueError(f"static/{name}: imports {spec}, which does not exist")
            url = self._add(target, raw, chain).url.encode()
            return match["lead"] + match["q"] + url + match["q"]

        return _IMPORT.sub(hashed, body)

    def url(self, name: str) -> str:
        """The hashed URL of ``name`` (relative to ``static/``); KeyError if there is none."""
        return self._by_name[name].url

    def names(self) -> list[str]:
        return sorted(self._by_name)

    async def serve(self, request: Request) -> Response:
        asset = self._by_url.get(request.url.path)
        if asset is None:
            return PlainTextResponse(
                "Not found", status_code=404, headers={"X-Content-Type-Options": "nosniff"}
            )
        return Response(
            asset.body,
            media_type=asset.media_type,
            headers={"Cache-Control": CACHE_FOREVER, "X-Content-Type-Options": "nosniff"},
        )

    def route(self) -> Route:
        return Route(PREFIX + "{path:path}", self.serve, methods=["GET", "HEAD"])
