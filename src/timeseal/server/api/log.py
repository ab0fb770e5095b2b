"""The public log over HTTP: the C2SP tlog-tiles endpoints, and where an entry landed.

Any server process serves the log from the database, whichever process sequences it
(:mod:`timeseal.server.log.sequencer`):

- ``GET /log/checkpoint``                     the signed checkpoint (cosigned when witnessed)
- ``GET /log/tile/<L>/<N>[.p/<W>]``           hash tiles          } C2SP tlog-tiles,
- ``GET /log/tile/entries/<N>[.p/<W>]``       entry bundles       } tile height 8
- ``GET /log/vkey``                            the log's note verifier key, one line
- ``GET /api/v1/log/leaf-index/<leaf hash>``   where an entry landed, once sequenced (JSON)
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from timeseal.core.errors import MalformedError
from timeseal.core.tlog import SignerKey, format_verifier_key
from timeseal.core.tlog.tiles import parse_tile_path
from timeseal.store.log.store import LogStore

IMMUTABLE = "public, max-age=31536000, immutable"
# A partial tile's path names its width, so its bytes never change either; it is only
# superseded (by a wider partial, then the full tile), so clients may cache it briefly.
PARTIAL = "public, max-age=60"
CHECKPOINT_CACHE = "no-cache"


def log_routes(store: LogStore, key: SignerKey) -> list[Route]:
    vkey = (format_verifier_key(key.verifier_key) + "\n").encode()

    async def checkpoint(_request: Request) -> Response:
        head = store.head()
        if head is None:
            return PlainTextResponse("the log has no checkpoint yet\n", status_code=503)
        return Response(
            head.served_checkpoint,
            media_type="text/plain; charset=utf-8",
            headers={"Cache-Control": CHECKPOINT_CACHE},
        )

    async def tile(request: Request) -> Response:
        path = "tile/" + request.path_params["rest"]
        try:
            address = parse_tile_path(path)
        except MalformedError:
            return PlainTextResponse("not a tile path\n", status_code=404)
        data = store.tile(address.path)
        if data is None:
            return PlainTextResponse("no such tile\n", status_code=404)
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Cache-Control": PARTIAL if address.is_partial else IMMUTABLE},
        )

    async def verifier_key(_request: Request) -> Response:
        return Response(vkey, media_type="text/plain; charset=utf-8")

    return [
        Route("/log/checkpoint", checkpoint, methods=["GET"]),
        Route("/log/vkey", verifier_key, methods=["GET"]),
        Route("/log/tile/{rest:path}", tile, methods=["GET"]),
    ]


class LeafIndex(BaseModel):
    leaf_index: int


def log_api(store: LogStore) -> APIRouter:
    """``/api/v1/log``: where an entry landed (JSON, in the OpenAPI document)."""
    router = APIRouter(prefix="/api/v1/log", tags=["log"])

    @router.get(
        "/leaf-index/{leaf_hash}",
        response_model=LeafIndex,
        responses={400: {"description": "not 64 hex digits"}, 404: {"description": "not yet"}},
    )
    async def leaf_index(leaf_hash: str) -> LeafIndex | JSONResponse:
        """The index of the first sequenced entry whose RFC 6962 leaf hash is ``leaf_hash``
        (404 until the sequencer has integrated it, within a second or so)."""
        try:
            leaf = bytes.fromhex(leaf_hash)
        except ValueError:
            leaf = b""
        if len(leaf) != 32:
            return JSONResponse(
                {"error": {"code": "bad_leaf_hash", "message": "leaf hash must be 64 hex digits"}},
                status_code=400,
            )
        index = store.leaf_index(leaf)
        if index is None:
            return JSONResponse(
                {"error": {"code": "not_sequenced", "message": "not in the log yet"}},
                status_code=404,
            )
        return LeafIndex(leaf_index=index)

    return router
