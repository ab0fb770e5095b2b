"""``POST /tsa`` answered from the HTTP parser's callbacks, without the ASGI round trip.

Issuing a token costs about 100 µs of CPU; the ASGI machinery around one request (a scope,
a task, receive and send messages, per-header validation, two socket writes) cost about as
much again. :class:`TSAHttpProtocol` is uvicorn's httptools protocol with one addition: a plain
timestamp query — ``POST /tsa`` with the query content type, a Content-Length of at most
64 KiB, on a connection with no other request in progress — is answered by the TSA service
directly, and the reply goes out in one write once its journal commit is done.

Everything else takes uvicorn's ordinary path: other paths, wrong content types, oversized
or chunked bodies, ``Expect: 100-continue``, pipelined requests. There
:class:`~timeseal.server.tsa.TSAEndpoint` gives the same answers, so this module adds speed,
not behaviour.

The service is found in the ASGI lifespan state under :data:`TSA_STATE_KEY`, where the
application puts it at start-up.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from timeseal.server.tsa import REPLY_TYPE, Reply, TSAService, refuse_headers

#: Where the application's lifespan leaves its :class:`TSAService` for this protocol.
TSA_STATE_KEY = "timeseal.tsa"

_PATH = b"/tsa"
_REPLY_HEAD = b"content-type: " + REPLY_TYPE.encode() + b"\r\ncontent-length: "


class TSAHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with plain timestamp queries answered in place."""

    def on_headers_complete(self) -> None:
        service = self.app_state.get(TSA_STATE_KEY)
        if service is None or not self._plain_query():
            super().on_headers_complete()
            return
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        # uvicorn's own callbacks (disconnect, shutdown, pipelining) see this as the cycle.
        self.cycle = TSAExchange(self, service, keep_alive=keep_alive)  # type: ignore[assignment]

    def _plain_query(self) -> bool:
        in_progress = self.cycle is not None and not self.cycle.response_complete
        return (
            self.url == _PATH
            and self.parser.get_method() == b"POST"
            and not in_progress
            and not self.expect_100_continue
            and self.limit_concurrency is None
            and not self.parser.should_upgrade()
            and refuse_headers(self.headers) is None
            and _fixed_length(self.headers)
        )

    def on_body(self, body: bytes) -> None:
        exchange = self.cycle
        if isinstance(exchange, TSAExchange):
            exchange.body += body
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        exchange = self.cycle
        if isinstance(exchange, TSAExchange):
            exchange.answer()
        else:
            super().on_message_complete()


def _fixed_length(headers: list[tuple[bytes, bytes]]) -> bool:
    """A declared Content-Length and no Transfer-Encoding: the body is bounded up front
    (``refuse_headers`` has checked the length is at most 64 KiB)."""
    names = [name for name, _ in headers]
    return b"content-length" in names and b"transfer-encoding" not in names


class TSAExchange:
    """One query on the fast path. Its attributes are the ones uvicorn's protocol reads from
    a request cycle: ``response_complete``, ``disconnected``, ``keep_alive`` and
    ``message_event`` (set on disconnect)."""

    __slots__ = (
        "_protocol",
        "_service",
        "body",
        "disconnected",
        "keep_alive",
        "message_event",
        "response_complete",
    )

    def __init__(self, protocol: TSAHttpProtocol, service: TSAService, *, keep_alive: bool) -> None:
        self._protocol = protocol
        self._service = service
        self.keep_alive = keep_alive
        self.body = bytearray()
        self.disconnected = False
        self.response_complete = False
        self.message_event = asyncio.Event()

    def answer(self) -> None:
        """The whole body is in: issue, and send once the journal has the token."""
        reply = self._service.answer(bytes(self.body))
        self.body = bytearray()
        if reply.journalled is None:
            # Not from inside the parser's callback: a request behind this one in the same
            # read must be queued as uvicorn queues it, or on_response_complete would arm the
            # keep-alive timer under it and close the connection while it is still arriving.
            self._protocol.loop.call_soon(self._send, reply)
        else:
            reply.journalled.add_done_callback(lambda _: self._send(reply.settled()))

    def _send(self, reply: Reply) -> None:
        protocol = self._protocol
        self.response_complete = True
        if self.disconnected:
            return
        head = [STATUS_LINE[200]]
        for name, value in protocol.server_state.default_headers:
            head += (name, b": ", value, b"\r\n")
        head += (_REPLY_HEAD, str(len(reply.der)).encode(), b"\r\n")
        if not self.keep_alive:
            head.append(b"connection: close\r\n")
        head += (b"\r\n", reply.der)
        protocol.transport.write(b"".join(head))
        if not self.keep_alive:
            protocol.transport.close()
        if protocol.flow.write_paused:
            # The client is not reading: take its next request once the reply has drained.
            task = protocol.loop.create_task(self._after_drain())
            protocol.tasks.add(task)
            task.add_done_callback(protocol.tasks.discard)
        else:
            protocol.on_response_complete()

    async def _after_drain(self) -> None:
        await self._protocol.flow.drain()
        self._protocol.on_response_complete()
