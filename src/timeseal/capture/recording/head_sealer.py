"""Timestamping chain heads through the TSA, and carrying on when it cannot be reached.

Offline, the recording goes on and the newest unsealed head waits; as soon as the TSA answers
again, that head is timestamped. Only the newest pending head is sent: a token over link[j]
covers every segment up to j, and tokens fetched late for older heads would carry the same
(late) time, so they would prove nothing more.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from timeseal.capture.clients.tsa import StampResult, TSAClientError
from timeseal.core.files import write_durably
from timeseal.core.segment_chain import token_name


@dataclass(frozen=True, slots=True)
class Sealed:
    head_index: int
    path: Path
    gen_time: dt.datetime


#: Sends a head link (already a SHA-256 value) to the TSA: ``TSAClient.stamp_digest``.
StampFn = Callable[[bytes], StampResult]


class HeadSealer:
    """Its own thread stamps heads, so hashing and journaling segments never wait on the
    network: ``offer`` only records the newest head, the thread sends it (retrying every
    ``retry_seconds`` while offline)."""

    def __init__(self, stamp: StampFn, tokens_dir: Path, *, retry_seconds: float = 2.0) -> None:
        self._stamp = stamp
        self._dir = tokens_dir
        self._retry = retry_seconds
        self._wake = threading.Condition()
        self._pending: tuple[int, bytes] | None = None
        self._stopping = False
        self.sealed: list[Sealed] = []
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="head-sealer", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int | None:
        """The head index still waiting for a token, if any."""
        with self._wake:
            return None if self._pending is None else self._pending[0]

    def offer(self, head_index: int, link: bytes) -> None:
        """Have ``link`` (link[head_index]) timestamped as soon as possible."""
        with self._wake:
            self._pending = (head_index, link)
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and not self._stopping:
                    self._wake.wait()
                if self._pending is None:
                    return
            if self.flush() is None:
                with self._wake:
                    if self._stopping:
                        return
                    self._wake.wait(self._retry)

    def flush(self) -> Sealed | None:
        """Try the pending head once; ``None`` when there is none or the TSA is unreachable."""
        with self._wake:
            if self._pending is None:
                return None
            head_index, link = self._pending
        try:
            result = self._stamp(link)
        except TSAClientError as exc:
            with self._wake:
                self.errors.append(str(exc))
            return None
        assert result.response.token is not None
        path = self._dir / token_name(head_index)
        write_durably(path, result.response.der)
        sealed = Sealed(head_index, path, result.response.token.tst_info.gen_time)
        with self._wake:
            self.sealed.append(sealed)
            if self._pending is not None and self._pending[0] == head_index:
                self._pending = None
        return sealed

    def stop(self) -> None:
        """Stop the thread (a stamp in flight completes first)."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join()
