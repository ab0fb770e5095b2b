"""``POST /tsa`` over raw sockets against a real ``timeseal serve``: the HTTP fast path
(answered from the parser callbacks) and every request it hands to the ASGI path."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit

import pytest
from asn1crypto import tsp
from cryptography import x509

from tests.support.server import LiveServer
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import FailureInfo, PKIStatus, parse_response

pytestmark = pytest.mark.e2e

QUERY_TYPE = b"application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def read_reply(stream: BinaryIO) -> Reply:
    """One HTTP/1.1 reply: status line, headers, a Content-Length body (none if not given)."""
    status_line = stream.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", "0")))
    return Reply(int(status_line.split()[1]), headers, body)


@dataclass(frozen=True)
class Query:
    imprint: bytes
    nonce: int
    der: bytes


def make_query(nonce: int) -> Query:
    imprint = hashlib.sha256(f"evidence {nonce}".encode()).digest()
    return Query(imprint, nonce, build_request(imprint, nonce=nonce).der)


def post(body: bytes, *, version: str = "1.1", extra: bytes = b"", target: str = "/tsa") -> bytes:
    head = f"POST {target} HTTP/{version}\r\nHost: t\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"Content-Type: " + QUERY_TYPE + b"\r\n" + extra + b"\r\n" + body


def get(target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode()


def granted_serial(reply: Reply, query: Query) -> int:
    """Checks a granted token for ``query`` (status, nonce, imprint); returns its serial."""
    assert reply.status == 200
    assert reply.headers["content-type"] == REPLY_TYPE
    response = tsp.TimeStampResp.load(reply.body)
    assert response["status"]["status"].native == "granted"
    tst_info = response["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert tst_info["nonce"].native == query.nonce
    assert tst_info["message_imprint"]["hashed_message"].native == query.imprint
    serial: int = tst_info["serial_number"].native
    return serial


def open_socket(server: LiveServer) -> socket.socket:
    address = urlsplit(server.url)
    assert address.hostname is not None and address.port is not None
    return socket.create_connection((address.hostname, address.port), timeout=15)


@pytest.fixture
def connect(server: LiveServer) -> Iterator[tuple[socket.socket, BinaryIO]]:
    """A raw connection to the server and a buffered reader over it."""
    with open_socket(server) as sock, sock.makefile("rb") as stream:
        yield sock, stream


def assert_closed_by_server(stream: BinaryIO) -> None:
    assert stream.read(1) == b"", "the server kept the connection open"


def test_fifty_queries_on_one_keep_alive_connection(
    connect: tuple[socket.socket, BinaryIO],
) -> None:
    sock, stream = connect
    serials = []
    for nonce in range(50):
        query = make_query(nonce)
        sock.sendall(post(query.der))
        reply = read_reply(stream)
        assert "connection" not in reply.headers
        serials.append(granted_serial(reply, query))
    assert len(set(serials)) == 50
    # Still open: one more query on the same socket is answered.
    query = make_query(50)
    sock.sendall(post(query.der))
    assert granted_serial(read_reply(stream), query) not in serials


def test_pipelined_queries_are_answered_in_order(
    connect: tuple[socket.socket, BinaryIO],
) -> None:
    sock, stream = connect
    queries = [make_query(nonce) for nonce in (101, 102, 103)]
    sock.sendall(b"".join(post(query.der) for query in queries))
    serials = [granted_serial(read_reply(stream), query) for query in queries]
    assert len(set(serials)) == 3


def test_pipelined_mix_of_query_certs_and_query(connect: tuple[socket.socket, BinaryIO]) -> None:
    sock, stream = connect
    first, last = make_query(201), make_query(202)
    sock.sendall(post(first.der) + get("/tsa/certs") + post(last.der))
    granted_serial(read_reply(stream), first)
    certs = read_reply(stream)
    assert certs.status == 200
    assert len(x509.load_pem_x509_certificates(certs.body)) == 2  # the TSA, then the root
    granted_serial(read_reply(stream), last)


def test_other_requests_and_queries_alternate_on_one_connection(
    connect: tuple[socket.socket, BinaryIO],
) -> None:
    sock, stream = connect
    sock.sendall(get("/healthz"))
    health = read_reply(stream)
    assert health.status == 200 and b'"status":"ok"' in health.body
    first = make_query(301)
    sock.sendall(post(first.der))
    granted_serial(read_reply(stream), first)
    sock.sendall(get("/tsa/certs"))
    certs = read_reply(stream)
    assert certs.status == 200 and certs.body.startswith(b"-----BEGIN CERTIFICATE-----")
    second = make_query(302)
    sock.sendall(post(second.der))
    granted_serial(read_reply(stream), second)


@pytest.mark.parametrize(
    ("version", "extra"),
    [("1.0", b""), ("1.1", b"Connection: close\r\n")],
    ids=["http-1.0", "connection-close"],
)
def test_query_without_keep_alive_closes_after_the_reply(
    connect: tuple[socket.socket, BinaryIO], version: str, extra: bytes
) -> None:
    sock, stream = connect
    query = make_query(401)
    sock.sendall(post(query.der, version=version, extra=extra))
    reply = read_reply(stream)
    granted_serial(reply, query)
    assert reply.headers["connection"] == "close"
    assert_closed_by_server(stream)


def test_body_arriving_in_pieces(connect: tuple[socket.socket, BinaryIO]) -> None:
    sock, stream = connect
    query = make_query(501)
    request = post(query.der)
    head_end = request.index(b"\r\n\r\n") + 4
    sock.sendall(request[:head_end])
    time.sleep(0.05)
    sock.sendall(request[head_end : head_end + 10])
    time.sleep(0.05)
    sock.sendall(request[head_end + 10 :])
    granted_serial(read_reply(stream), query)


def test_wrong_content_type_is_415(connect: tuple[socket.socket, BinaryIO]) -> None:
    sock, stream = connect
    sock.sendall(post(make_query(601).der).replace(QUERY_TYPE, b"text/plain"))
    assert read_reply(stream).status == 415


def test_declared_body_over_64_kib_is_413(connect: tuple[socket.socket, BinaryIO]) -> None:
    sock, stream = connect
    sock.sendall(post(b"\x30" * (64 * 1024 + 1)))
    assert read_reply(stream).status == 413


def test_chunked_query_is_granted(connect: tuple[socket.socket, BinaryIO]) -> None:
    sock, stream = connect
    query = make_query(701)
    half = len(query.der) // 2
    chunks = b"".join(
        f"{len(part):x}\r\n".encode() + part + b"\r\n"
        for part in (query.der[:half], query.der[half:])
    )
    head = b"POST /tsa HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
    sock.sendall(head + b"Content-Type: " + QUERY_TYPE + b"\r\n\r\n" + chunks + b"0\r\n\r\n")
    granted_serial(read_reply(stream), query)


def test_expect_100_continue_gets_continue_then_a_token(
    connect: tuple[socket.socket, BinaryIO],
) -> None:
    sock, stream = connect
    query = make_query(801)
    request = post(query.der, extra=b"Expect: 100-continue\r\n")
    head_end = request.index(b"\r\n\r\n") + 4
    sock.sendall(request[:head_end])
    assert read_reply(stream).status == 100
    sock.sendall(request[head_end:])
    granted_serial(read_reply(stream), query)


def test_query_with_a_query_string_is_granted(connect: tuple[socket.socket, BinaryIO]) -> None:
    sock, stream = connect
    query = make_query(901)
    sock.sendall(post(query.der, target="/tsa?x=1"))
    granted_serial(read_reply(stream), query)


def test_get_tsa_is_405(connect: tuple[socket.socket, BinaryIO]) -> None:
    sock, stream = connect
    sock.sendall(get("/tsa"))
    reply = read_reply(stream)
    assert reply.status == 405 and reply.headers["allow"] == "POST"


def test_garbage_body_is_a_rejection_not_an_http_error(
    connect: tuple[socket.socket, BinaryIO],
) -> None:
    sock, stream = connect
    for _ in range(2):  # and the connection still serves the next one
        sock.sendall(post(b"not DER at all"))
        reply = read_reply(stream)
        assert reply.status == 200 and reply.headers["content-type"] == REPLY_TYPE
        # asn1crypto's TimeStampResp wrongly requires the token, so parse with ours.
        response = parse_response(reply.body)
        assert response.status is PKIStatus.REJECTION
        assert response.failure_info == {FailureInfo.BAD_DATA_FORMAT}


def test_client_that_leaves_after_its_query_does_not_break_the_server(
    server: LiveServer, connect: tuple[socket.socket, BinaryIO]
) -> None:
    for nonce in range(20):
        with open_socket(server) as leaver:
            leaver.sendall(post(make_query(nonce).der))
    sock, stream = connect
    query = make_query(1001)
    sock.sendall(post(query.der))
    granted_serial(read_reply(stream), query)


def test_slow_body_behind_a_pipelined_rejection(connect: tuple[socket.socket, BinaryIO]) -> None:
    """A rejection is answered at once; the request read with it must not be cut off by the
    keep-alive timer while the rest of its body is on the way."""
    sock, stream = connect
    query = make_query(1101)
    request = post(query.der)
    sock.sendall(post(b"not DER at all") + request[:-10])
    assert read_reply(stream).status == 200
    time.sleep(6)  # longer than uvicorn's keep-alive timeout (5 s)
    sock.sendall(request[-10:])
    granted_serial(read_reply(stream), query)
