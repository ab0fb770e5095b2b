"""A TimeSeal log in memory, built with the core's own ``integrate`` and ``sign_checkpoint`` and
served from a dict of path -> bytes: through ``httpx.MockTransport`` or, for the CLI, a real
loopback HTTP server. Optionally a TSA (``POST /tsa``) whose tokens become pending leaves that
the "sequencer" integrates after a given number of leaf-index lookups.

Tests tamper with ``FakeLog.files`` directly: it is exactly what the server would serve under
``/log/`` (``checkpoint``, ``vkey``, ``tile/<L>/<N>[.p/<W>]``, ``tile/entries/<N>[.p/<W>]``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from cryptography.hazmat.primitives.serialization import Encoding

from tests.support.pki import NOW, PKIFixture
from timeseal.core.log_entry import TsaTokenEntry, format_entry
from timeseal.core.tlog import (
    Checkpoint,
    SignedCheckpoint,
    SignerKey,
    TreeState,
    edge_tiles,
    format_signed_checkpoint,
    format_verifier_key,
    generate_signer_key,
    integrate,
    leaf_hash,
    sign_checkpoint,
)
from timeseal.core.tsp.authority import Rejection

ORIGIN = "timeseal.test/log"


def entries(n: int, offset: int = 0, tag: str = "entry") -> list[bytes]:
    return [f"{tag} {i}".encode() for i in range(offset, offset + n)]


class FakeLog:
    """A log of ``len(entries)`` leaves; every ``append`` integrates one batch and signs."""

    def __init__(
        self,
        data: Sequence[bytes] = (),
        *,
        key: SignerKey | None = None,
        batch: int = 0,
    ) -> None:
        self.key = key or generate_signer_key(ORIGIN)
        self.state = TreeState()
        self.files: dict[str, bytes] = {"vkey": (self.vkey + "\n").encode()}
        self.leaves: dict[bytes, int] = {}
        self.checkpoint = self._sign()
        step = batch or max(1, len(data))
        for start in range(0, len(data), step):
            self.append(data[start : start + step])

    @property
    def vkey(self) -> str:
        return format_verifier_key(self.key.verifier_key)

    @property
    def size(self) -> int:
        return self.state.size

    def append(self, data: Sequence[bytes]) -> SignedCheckpoint:
        edge = {t: self.files[t.path] for t in edge_tiles(self.state.size)}
        done = integrate(self.state, list(data), edge)
        for tile, content in done.tiles:
            self.files[tile.path] = content
        for i, entry in enumerate(data):
            self.leaves[leaf_hash(entry)] = self.state.size + i
        self.state = done.state
        return self._sign()

    def _sign(self) -> SignedCheckpoint:
        self.checkpoint = sign_checkpoint(
            Checkpoint(ORIGIN, self.state.size, self.state.root_hash), self.key
        )
        self.files["checkpoint"] = format_signed_checkpoint(self.checkpoint)
        return self.checkpoint


class FakePlatform:
    """``/log/…``, ``/api/v1/log/leaf-index/…`` and, with a PKI, ``POST /tsa`` and
    ``GET /tsa/certs``.

    New tokens wait in ``pending`` until ``sequence_after`` lookups of a leaf that is not yet
    in the log have been answered 404 (0: the next lookup integrates; None: never).
    """

    def __init__(
        self, log: FakeLog | None = None, pki: PKIFixture | None = None, *, has_log: bool = True
    ) -> None:
        self.log = log or FakeLog()
        self.authority = pki.authority() if pki is not None else None
        self.chain_pem = b"".join(c.public_bytes(Encoding.PEM) for c in pki.chain) if pki else b""
        self.has_log = has_log
        self.pending: list[bytes] = []
        self.sequence_after: int | None = 0
        self.misses = 0
        self.requests: list[str] = []
        self._serial = 0
        self._lock = threading.Lock()

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(f"{request.method} {request.url.path}")
            return self._handle(request)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/tsa" and self.authority is not None:
            return self._tsa(request.content)
        if request.method == "GET" and path == "/tsa/certs" and self.chain_pem:
            return httpx.Response(200, content=self.chain_pem)
        if request.method != "GET" or not self.has_log:
            return httpx.Response(404)
        if path.startswith("/log/"):
            data = self.log.files.get(path.removeprefix("/log/"))
            return httpx.Response(404) if data is None else httpx.Response(200, content=data)
        if path.startswith("/api/v1/log/leaf-index/"):
            leaf = bytes.fromhex(path.rsplit("/", 1)[1])
            if leaf not in self.log.leaves and self.pending and self.sequence_after is not None:
                if self.misses >= self.sequence_after:
                    self.log.append(self.pending)
                    self.pending, self.misses = [], 0
                else:
                    self.misses += 1
            if leaf not in self.log.leaves:
                return httpx.Response(404, json={"error": "not_sequenced"})
            return httpx.Response(200, json={"leaf_index": self.log.leaves[leaf]})
        return httpx.Response(404)

    def _tsa(self, body: bytes) -> httpx.Response:
        assert self.authority is not None
        try:
            request = self.authority.check(body)
        except Rejection as exc:
            return _reply(exc.response_der)
        self._serial += 1
        gen_time = NOW + dt.timedelta(seconds=self._serial)
        issued = self.authority.issue(request, gen_time=gen_time, serial_number=self._serial)
        entry = TsaTokenEntry(
            serial_number=issued.serial_number,
            gen_time=issued.gen_time,
            hash_algorithm=issued.hash_algorithm,
            message_imprint=issued.message_imprint,
            policy=issued.policy,
            token_sha256=issued.token_sha256,
        )
        self.pending.append(format_entry(entry))
        return _reply(issued.response_der)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


def _reply(der: bytes) -> httpx.Response:
    return httpx.Response(200, content=der, headers={"Content-Type": "application/timestamp-reply"})


@contextmanager
def serve(platform: FakePlatform) -> Iterator[str]:
    """The platform on a real loopback HTTP server (for the CLI, which makes its own clients);
    yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = httpx.Request(
                self.command,
                f"http://test{self.path}",
                headers=dict(self.headers.items()),
                content=self.rfile.read(length),
            )
            response = platform.handler(request)
            body = response.content
            self.send_response(response.status_code)
            content_type = response.headers.get("Content-Type", "application/octet-stream")
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _answer  # noqa: N815 - the http.server naming convention
        do_POST = _answer  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
