"""``POST /tsa`` answered from the HTTP parser's callbacks, without the ASGI round trip.

Issuing a token costs about 100 µs of CPU; the ASGI machinery around one request (a scope,
a task, receive and send messages, per-header validation, two socket writes) cost about as
much again. :class:`TSAHttpProtocol` is uvicorn's httptools protocol with one addition: a plain
timestamp query — ``POST /tsa`` with the query content type, a Content-Length of at most
64 KiB, on a connection with no other request in progress — is answered by the TSA service
directly, and the reply goes out in one write once its journal commit is done.

Everything else takes uvicorn's ordinary path: other paths, wrong content types, oversized
or chunked bodies, ``Expect: 100-continue``, pipelined requests. There
:class:`~timeseal.server.tsa.service.TSAEndpoint` gives the same answers, so this module adds speed,
not behaviour.

The service is found in the ASGI lifespan state under :data:`TSA_STATE_KEY`, where the
application puts it at start-up.

Forwarded headers: the fast path reads neither the client's address nor the scheme, so an
``X-Forwarded-For`` sent with a query changes nothing here. Should it ever record an address,
it must take it as the application does: from a listed proxy only
(:class:`timeseal.server.runtime.http.HttpConfig`), never from uvicorn's defaults.

**Slow clients** (slowloris). uvicorn closes a connection only when it idles between
requests; one that sends its headers a byte at a time, or stops half way through a body, is
kept for ever, and a few thousand of them hold every worker's sockets and memory. So, on
every path (the fast one and the ASGI one alike):

- a request's head (request line and headers) must be complete within ``header_timeout``
  seconds of its first byte — of the connection's opening, for the first request — and may
  not exceed :data:`MAX_HEAD_BYTES`;
- a body that sends nothing for ``body_timeout`` seconds is cut off. Time during which *we*
  stopped reading (the application has not taken what came) does not count.

Either answers ``408 Request Timeout`` (when no response has started) and closes the
connection. The two bounds come from :class:`TimeSealConfig` (``timeseal serve
--header-timeout/--body-timeout``, see :mod:`timeseal.server.runtime.http`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from timeseal.server.runtime.http import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT
from timeseal.server.tsa.service import REPLY_TYPE, Reply, TSAService, refuse_headers

log = logging.getLogger("timeseal.server")

#: The most a request's head (request line and headers) may hold: far above any browser's or
#: client's, far below what could exhaust a worker.
MAX_HEAD_BYTES = 64 << 10

#: Where the application's lifespan leaves its :class:`TSAService` for this protocol.
TSA_STATE_KEY = "timeseal.tsa"

_PATH = b"/tsa"
_REPLY_HEAD = b"content-type: " + REPLY_TYPE.encode() + b"\r\ncontent-length: "


class TimeSealConfig(uvicorn.Config):
    """uvicorn's ``Config`` plus the bounds on slow clients that :class:`TSAHttpProtocol`
    enforces (seconds)."""

    def __init__(
        self,
        *args: Any,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout


class _TooLarge(Exception):
    """Raised from a parser callback when the head outgrows :data:`MAX_HEAD_BYTES`."""


class TSAHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with plain timestamp queries answered in place and slow
    clients cut off."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._header_timeout: float = getattr(config, "header_timeout", DEFAULT_HEADER_TIMEOUT)
        self._body_timeout: float = getattr(config, "body_timeout", DEFAULT_BODY_TIMEOUT)
        # A head is being received since _head_since (loop time); _head_bytes of it so far.
        self._in_head = False
        self._head_since = 0.0
        self._head_bytes = 0
        # A body is being received; the last of it arrived at _body_seen (loop time).
        self._in_body = False
        self._body_seen = 0.0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # --- slow clients -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a byte counts as a head that never completes.
        self._in_head, self._head_since, self._head_bytes = True, self.loop.time(), 0
        self._arm_timers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        self._in_head = self._in_body = False
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.transport.is_closing():
            self._arm_timers()

    def handle_websocket_upgrade(self) -> None:
        self._cancel_timers()  # the connection is another protocol's from here on
        self._in_head = self._in_body = False
        super().handle_websocket_upgrade()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:  # the first request's head counts from the connection's start
            self._in_head, self._head_since, self._head_bytes = True, self.loop.time(), 0

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_head(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > MAX_HEAD_BYTES:
            raise _TooLarge  # httptools turns it into a parser error: 400, closed

    def _arm_timers(self) -> None:
        """After each read: a timer for what is still incomplete, armed lazily, so that a
        request that arrives in one read (nearly all of them) never creates one."""
        if self._in_head and self._head_timer is None:
            delay = self._head_since + self._header_timeout - self.loop.time()
            self._head_timer = self.loop.call_later(max(delay, 0), self._head_deadline)
        if self._in_body and self._body_timer is None:
            self._body_timer = self.loop.call_later(self._body_timeout, self._body_deadline)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _head_deadline(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        remaining = self._head_since + self._header_timeout - self.loop.time()
        if remaining > 0:  # a new head began since this timer was armed
            self._head_timer = self.loop.call_later(remaining, self._head_deadline)
            return
        log.info("closing %s: request head incomplete after %gs", self.client, self._header_timeout)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False  # a request before this one is still being answered
            self.flow.pause_reading()
            return
        self._refuse_408()

    def _body_deadline(self) -> None:
        self._body_timer = None
        if not self._in_body or self.transport.is_closing():
            return
        now = self.loop.time()
        cycle = self.cycle
        if self.flow.read_paused or getattr(cycle, "waiting_for_100_continue", False):
            # We stopped reading (the application has not taken what came), or the client
            # waits for our "100 Continue": its time stands still.
            self._body_seen = now
        remaining = self._body_seen + self._body_timeout - now
        if remaining > 0:
            self._body_timer = self.loop.call_later(remaining, self._body_deadline)
            return
        log.info("closing %s: request body stalled for %gs", self.client, self._body_timeout)
        self._in_body = False
        if cycle is None:
            self.transport.close()
            return
        started = cycle.response_started
        # The application, still waiting for the body, learns that the client is gone; its
        # answer (if it still makes one) goes nowhere.
        cycle.disconnected = True
        cycle.message_event.set()
        if started:
            self.transport.close()
        else:
            self._refuse_408()

    def _refuse_408(self) -> None:
        head = [STATUS_LINE[408]]
        for name, value in self.server_state.default_headers:
            head += (name, b": ", value, b"\r\n")
        head.append(b"content-type: text/plain; charset=utf-8\r\ncontent-length: 15\r\n")
        head.append(b"connection: close\r\n\r\nRequest Timeout")
        self.transport.write(b"".join(head))
        self.transport.close()

    # --- the fast path --------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._in_head, self._in_body, self._body_seen = False, True, self.loop.time()
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
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
        self._body_seen = self.loop.time()
        exchange = self.cycle
        if isinstance(exchange, TSAExchange):
            exchange.body += body
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_body = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
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

    @property
    def response_started(self) -> bool:
        """The reply goes out in one write: started means complete."""
        return self.response_complete

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
