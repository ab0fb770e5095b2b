"""Slowloris: a client that sends its headers slowly, or stalls in a body, is cut off (issue 12,
point 8). Before, uvicorn closed only idle keep-alive connections: a connection that sent a
byte now and then, or nothing at all after connecting, was kept for ever, and a few thousand
of them held every worker.

Raw sockets against a real ``timeseal serve`` (two workers) started with small bounds, on the
ASGI path and on the ``POST /tsa`` fast path alike. There is no clock to inject into a server
in another process: the tests wait in wall time, with bounds far from the configured ones.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import urlsplit

import pytest

from tests.e2e.test_tsa_http import granted_serial, make_query, post, read_reply
from tests.support.live_args import live_server_with
from tests.support.server import LiveServer
from timeseal.server.runtime import configuration
from timeseal.server.runtime.http import HttpConfig, resolve
from timeseal.server.tsa.fast_path import MAX_HEAD_BYTES

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 1.5
BODY_TIMEOUT = 1.5
#: How long past a bound the server may take to close (a loaded machine, two workers).
SLACK = 6.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("slow") / "data"
    args = ["--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT)]
    with live_server_with(data_dir, args, workers=2) as live:
        yield live


@pytest.fixture
def connection(server: LiveServer) -> Iterator[tuple[socket.socket, BinaryIO]]:
    address = urlsplit(server.url)
    assert address.hostname is not None and address.port is not None
    with (
        socket.create_connection((address.hostname, address.port), timeout=30) as sock,
        sock.makefile("rb") as stream,
    ):
        yield sock, stream


def answer_and_close(stream: BinaryIO) -> tuple[int, bytes]:
    """The status of the server's answer and whatever else it sent before closing."""
    status_line = stream.readline()
    rest = stream.read()  # to EOF: the server must close
    return int(status_line.split()[1]), rest


def test_a_connection_that_sends_nothing_is_closed(
    connection: tuple[socket.socket, BinaryIO],
) -> None:
    _, stream = connection
    start = time.monotonic()
    status, _ = answer_and_close(stream)
    assert status == 408
    assert HEADER_TIMEOUT - 0.2 <= time.monotonic() - start < HEADER_TIMEOUT + SLACK


def test_headers_trickling_in_are_cut_off_at_the_bound(
    connection: tuple[socket.socket, BinaryIO],
) -> None:
    sock, stream = connection
    start = time.monotonic()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
    closed = False
    for i in range(int((HEADER_TIMEOUT + SLACK) / 0.25)):  # a header every 250 ms, for ever
        try:
            sock.sendall(b"X-Slow-%d: 1\r\n" % i)
        except OSError:  # the server closed (reset) the connection
            closed = True
            break
        time.sleep(0.25)
        try:
            if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                break  # the answer is there
        except BlockingIOError:
            pass
    elapsed = time.monotonic() - start
    assert elapsed < HEADER_TIMEOUT + SLACK, "the slow head was never cut off"
    if not closed:
        status, _ = answer_and_close(stream)
        assert status == 408


@pytest.mark.parametrize(
    "request_head",
    [
        b"POST /api/v1/auth/sms-code HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n",
        post(b"\x30" * 100)[:-100],  # POST /tsa: the fast path
    ],
    ids=["asgi", "tsa-fast-path"],
)
def test_a_stalled_body_is_cut_off_with_408(
    connection: tuple[socket.socket, BinaryIO], request_head: bytes
) -> None:
    sock, stream = connection
    start = time.monotonic()
    sock.sendall(request_head + b'{"phone": ')  # and then nothing
    status, _ = answer_and_close(stream)
    assert status == 408
    assert BODY_TIMEOUT - 0.2 <= time.monotonic() - start < BODY_TIMEOUT + SLACK


def test_a_slow_body_that_keeps_coming_is_not_cut_off(
    connection: tuple[socket.socket, BinaryIO],
) -> None:
    """The body bound is on silence, not on the whole body: a slow upload that keeps sending
    (each pause well under the bound, all of them well over it) is answered."""
    sock, stream = connection
    query = make_query(9001)
    request = post(query.der)
    head_end = request.index(b"\r\n\r\n") + 4
    sock.sendall(request[:head_end])
    body = request[head_end:]
    pieces = [body[i : i + 8] for i in range(0, len(body), 8)]
    start = time.monotonic()
    for piece in pieces:
        time.sleep(BODY_TIMEOUT / 4)
        sock.sendall(piece)
    assert time.monotonic() - start > BODY_TIMEOUT
    granted_serial(read_reply(stream), query)


def test_a_head_larger_than_the_bound_is_refused(
    connection: tuple[socket.socket, BinaryIO],
) -> None:
    sock, stream = connection
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
    line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    try:
        for _ in range(MAX_HEAD_BYTES // len(line) + 2):
            sock.sendall(line)
    except OSError:
        return  # reset while sending: refused
    status, _ = answer_and_close(stream)
    assert status == 400


def test_keep_alive_requests_after_a_slow_one_still_work(
    connection: tuple[socket.socket, BinaryIO],
) -> None:
    sock, stream = connection
    for nonce in (9101, 9102):
        query = make_query(nonce)
        sock.sendall(post(query.der))
        granted_serial(read_reply(stream), query)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert read_reply(stream).status == 200
    time.sleep(HEADER_TIMEOUT + 0.5)  # idle between requests: keep-alive's business
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert read_reply(stream).status == 200


def test_bounds_come_from_config_json() -> None:
    config = HttpConfig.from_json({"header_timeout_s": 3, "body_timeout_s": 4})
    assert (config.header_timeout_s, config.body_timeout_s) == (3, 4)
    assert resolve(config, header_timeout=7).header_timeout_s == 7
    assert configuration.Config.from_json('{"tsa": {"policy": "1.2.3"}}').http == HttpConfig()
    with pytest.raises(ValueError, match="header_timeout_s"):
        HttpConfig(header_timeout_s=0)
