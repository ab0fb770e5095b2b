"""The Time-Stamp Authority service: RFC 3161 over HTTP (RFC 3161 §3.4).

Every answer to a well-formed HTTP exchange is a TimeStampResp: bad requests, an untrusted
clock and internal failures become PKIStatus ``rejection`` with the matching failInfo, never
an HTTP 500. Only transport-level problems get HTTP errors (415 wrong content type, 413 body
over 64 KiB, 405 wrong method).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from starlette.types import Receive, Scope, Send

from timeseal.core.tsp.authority import Rejection, TimeStampAuthority, format_rejection
from timeseal.core.tsp.response import FailureInfo
from timeseal.server.tsa.clock import ClockGuard, refusal_text
from timeseal.store.issuance import Journal, JournalEntry, SerialAllocator

log = logging.getLogger("timeseal.tsa")

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
MAX_REQUEST_BYTES = 64 * 1024


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Reply:
    """A TimeStampResp to send. A granted one carries ``journalled``, the future of its journal
    commit: it may leave the server only once that is done (see :meth:`settled`)."""

    der: bytes
    granted: bool
    failure: FailureInfo | None = None
    journalled: asyncio.Future[None] | None = None

    def settled(self) -> Reply:
        """This reply once its journal commit is done: itself, or ``systemFailure`` if the
        commit failed (a token that is not journalled is never handed out)."""
        done = self.journalled
        if done is None or (not done.cancelled() and done.exception() is None):
            return self
        log.error("journal commit failed", exc_info=None if done.cancelled() else done.exception())
        return _reject(FailureInfo.SYSTEM_FAILURE, "internal failure; the token was not issued")


class TSAService:
    """Checks, issues, journals. One per server process."""

    def __init__(
        self,
        authority: TimeStampAuthority,
        allocator: SerialAllocator,
        journal: Journal,
        guard: ClockGuard,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.authority = authority
        self.allocator = allocator
        self.journal = journal
        self.guard = guard
        self._clock = clock

    async def respond(self, body: bytes) -> Reply:
        """The reply to a timestamp query, once it may be sent."""
        reply = self.answer(body)
        if reply.journalled is not None:
            await asyncio.wait([reply.journalled])
        return reply.settled()

    def answer(self, body: bytes) -> Reply:
        """The reply to a timestamp query, at once, without waiting for the journal: for
        callers that send it from the future's callback instead of a task (the HTTP fast
        path). Call :meth:`Reply.settled` when ``journalled`` is done."""
        try:
            request = self.authority.check(body)
        except Rejection as rejection:
            return Reply(rejection.response_der, False, rejection.failure)
        if not self.guard.trusted():
            self.guard.note_refusal()
            return _reject(FailureInfo.TIME_NOT_AVAILABLE, refusal_text(self.guard.status))
        try:
            issued = self.authority.issue(
                request, gen_time=self._clock(), serial_number=self.allocator.next()
            )
            journalled = self.journal.record(
                JournalEntry(
                    serial_number=issued.serial_number,
                    gen_time=issued.gen_time,
                    hash_algorithm=issued.hash_algorithm.name,
                    message_imprint=issued.message_imprint,
                    policy=issued.policy,
                    token_sha256=issued.token_sha256,
                )
            )
        except Exception:  # an answer must still be a TimeStampResp; the cause goes to the log
            log.exception("issuance failed")
            return _reject(FailureInfo.SYSTEM_FAILURE, "internal failure; the token was not issued")
        return Reply(issued.response_der, True, journalled=journalled)


def _reject(failure: FailureInfo, text: str) -> Reply:
    return Reply(format_rejection(failure, text), False, failure)


_QUERY_TYPE = QUERY_TYPE.encode()
_REPLY_TYPE = REPLY_TYPE.encode()
_TOO_LARGE = (413, "request body too large (64 KiB at most)\n")


def refuse_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[int, str] | None:
    """The HTTP status and text for a query whose headers are refused (415 wrong content type,
    413 a declared body over 64 KiB), or None."""
    content_type = b""
    declared: bytes | None = None
    for name, value in headers:
        if name == b"content-type":
            content_type = value
        elif name == b"content-length":
            declared = value
    if content_type.split(b";")[0].strip().lower() != _QUERY_TYPE:
        return 415, f"Content-Type must be {QUERY_TYPE}\n"
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_REQUEST_BYTES):
        return _TOO_LARGE
    return None


class TSAEndpoint:
    """``POST /tsa`` as a bare ASGI application.

    It sits in front of the web framework: a token costs well under a millisecond, and the
    framework's middleware stack would otherwise be a large share of it.
    """

    def __init__(self, service: Callable[[], TSAService]) -> None:
        self._service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _plain(send, 405, "use POST\n", [(b"allow", b"POST")])
            return
        refused = refuse_headers(scope["headers"])
        if refused is not None:
            await _plain(send, *refused)
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_REQUEST_BYTES:
                await _plain(send, *_TOO_LARGE)
                return
            if not message.get("more_body", False):
                break
        reply = await self._service().respond(body)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", _REPLY_TYPE),
                    (b"content-length", str(len(reply.der)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": reply.der})


async def _plain(
    send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
