"""The HTTP side of a TimeSeal log client: fetch the log's key, checkpoint, tiles, entry
bundles and leaf indexes, each capped in size.

The log is served as C2SP tlog-tiles under ``<server>/log/`` (``checkpoint``, ``tile/<L>/<N>``,
``tile/entries/<N>``, and TimeSeal's ``vkey``); ``/api/v1/log/leaf-index/<leaf hash>`` says
where an entry landed. Nothing fetched here is checked: the auditor (:mod:`.audit`) and the
receipt fetcher (:mod:`.receipts`) check it against a checkpoint signed by a log key the
caller chose.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from timeseal.capture.clients import http_client
from timeseal.capture.clients.log.errors import LogClientError
from timeseal.core.errors import TimeSealError
from timeseal.core.tlog import (
    HASH_SIZE,
    TILE_WIDTH,
    EntriesTile,
    Tile,
    VerifierKey,
    parse_entry_bundle,
    parse_verifier_key,
)
from timeseal.core.tlog.note import MAX_NOTE_SIZE
from timeseal.core.tlog.tiles import MAX_BUNDLE_SIZE

TILE_BYTES = TILE_WIDTH * HASH_SIZE
_MAX_SMALL = 4096  # /log/vkey, leaf-index JSON


class LogClient:
    """Talks to one TimeSeal server's log. The transport is injectable (httpx ``MockTransport``
    in tests); ``sleep`` and ``clock`` too, for the receipt wait. The auditor
    (:func:`.audit.audit_log`) and the receipt fetcher (:class:`.receipts.ReceiptFetcher`)
    work over one."""

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        workers: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._http = http_client(transport=transport, timeout=timeout)
        self.workers = max(1, workers)  # tiles fetched at once by an audit
        self.sleep = sleep
        self.clock = clock

    def __enter__(self) -> LogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- HTTP ----------------------------------------------------------------------------------

    def _get(self, path: str, limit: int) -> bytes | None:
        """GET ``path``: its body, or None on 404; at most ``limit`` bytes once decoded."""
        url = f"{self._base}{path}"
        try:
            with self._http.stream("GET", url) as reply:
                if reply.status_code == 404:
                    return None
                if reply.status_code != 200:
                    raise LogClientError(f"{url} answered HTTP {reply.status_code}")
                body = bytearray()
                for chunk in reply.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise LogClientError(f"{url} sent more than {limit} bytes")
                return bytes(body)
        except httpx.HTTPError as exc:
            raise LogClientError(f"cannot fetch {url}: {exc}") from exc

    def fetch_verifier_key(self) -> VerifierKey | None:
        """``GET /log/vkey``: the key the server *says* it signs with (None: it has no log).
        Unauthenticated; pin it (trust on first use) or compare it with one you trust."""
        data = self._get("/log/vkey", _MAX_SMALL)
        if data is None:
            return None
        try:
            return parse_verifier_key(data.decode("utf-8").strip())
        except (UnicodeDecodeError, TimeSealError) as exc:
            raise LogClientError(f"{self._base}/log/vkey is not a verifier key: {exc}") from exc

    def fetch_checkpoint(self) -> bytes:
        """``GET /log/checkpoint``, unparsed and unverified."""
        data = self._get("/log/checkpoint", MAX_NOTE_SIZE)
        if data is None:
            raise LogClientError(f"{self._base}/log/checkpoint: not found (HTTP 404): no log here")
        return data

    def fetch_tile(self, tile: Tile) -> bytes:
        """A hash tile; for a partial tile that is gone, the full tile's first ``width`` hashes
        (C2SP tlog-tiles allows that fallback)."""
        data = self._get(f"/log/{tile.path}", TILE_BYTES)
        if data is None and tile.is_partial:
            data = self._get(f"/log/{Tile(tile.level, tile.index).path}", TILE_BYTES)
            if data is not None and len(data) == TILE_BYTES:
                data = data[: tile.width * HASH_SIZE]
        if data is None:
            raise LogClientError(f"{tile.path}: not found (HTTP 404)")
        return data

    def fetch_entries(self, bundle: EntriesTile) -> tuple[bytes, ...]:
        """An entry bundle's entries, exactly ``bundle.width`` of them (full-bundle fallback as
        for tiles). ``MalformedError`` if it does not parse."""
        data = self._get(f"/log/{bundle.path}", MAX_BUNDLE_SIZE)
        if data is not None:
            return parse_entry_bundle(data, bundle.width)
        if bundle.is_partial:
            data = self._get(f"/log/{EntriesTile(bundle.index).path}", MAX_BUNDLE_SIZE)
            if data is not None:
                return parse_entry_bundle(data, TILE_WIDTH)[: bundle.width]
        raise LogClientError(f"{bundle.path}: not found (HTTP 404)")

    def fetch_leaf_index(self, leaf_hash: bytes) -> int | None:
        """``GET /api/v1/log/leaf-index/<hex>``: where the entry landed (None: not yet)."""
        url = f"/api/v1/log/leaf-index/{leaf_hash.hex()}"
        data = self._get(url, _MAX_SMALL)
        return None if data is None else _parse_leaf_index(data, url)


def _parse_leaf_index(data: bytes, url: str) -> int:
    try:
        body: Any = json.loads(data)
    except ValueError as exc:
        raise LogClientError(f"{url}: not JSON") from exc
    index = body.get("leaf_index") if isinstance(body, dict) else None
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise LogClientError(f"{url}: no leaf_index in {data[:100]!r}")
    return index
