"""Streaming a recording to the vault while it is made (``capture screen|camera --upload``).

Each segment the recorder chains is handed to :class:`LiveUploader`, whose own thread sends
the segments in chain order to the server's live recording API (:mod:`.recording_api`),
retrying with backoff; ``offer`` only appends to its list, so ffmpeg and local sealing never
wait on the network. The server chains the same bytes from the same recording id, so its
links are the local ``chain.jsonl``'s, and seals each head with its own TSA as it arrives: a
recording cut off at any moment is sealed on the server through the last segment it got. At
a normal stop the server recording is finished and files the joined segments
(``recording.ts``) as the evidence item; ``recording.mp4`` stays local, so the recording is
stored once in the vault. The local chain stays the source of truth: the server's answer is
never needed to go on.

Until the server has every chained segment (and, after a normal stop, the finish), the
recording is registered in the offline queue's directory
(``$XDG_DATA_HOME/timeseal/queue/live-uploads/<recording_id>.json``) and ``timeseal sync``
sends the rest (:func:`send_rest`), from the server's ``next_index``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

from timeseal.capture.clients.recordings import RecordingApi, RecordingApiError
from timeseal.capture.offline.queue import QueueError, queue_dir
from timeseal.core.digest import digest_stream
from timeseal.core.files import write_durably
from timeseal.core.segment_chain import parse_segment_chain

FORMAT: Final = "timeseal-live-upload/1"
SUBDIR: Final = "live-uploads"
CHAIN_NAME: Final = "chain.jsonl"
SEGMENTS_DIR: Final = "segments"
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 8.0
#: At the stop, a server that has failed every request for this long is not waited for:
#: ``timeseal sync`` sends the rest, so an offline stop is not held up by the full wait.
GIVE_UP_FAILING = 5.0


@dataclass(frozen=True, slots=True)
class LiveUpload:
    """A recording that owes the server segments (or its finish)."""

    recording_id: str  # 32 hex, the local chain's and the server recording's id
    directory: Path
    server: str
    kind: str  # camera_recording | screen_recording
    title: str | None = None
    location: dict[str, str] | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "recording_id": self.recording_id,
            "directory": str(self.directory),
            "server": self.server,
            "kind": self.kind,
            "title": self.title,
            "location": self.location,
        }

    @classmethod
    def from_json(cls, obj: object) -> LiveUpload:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise QueueError(f"not a {FORMAT} file")
        rid, directory, server, kind = (obj.get(k) for k in _REQUIRED)
        if not all(isinstance(v, str) and v for v in (rid, directory, server, kind)):
            raise QueueError("recording_id, directory, server and kind must be strings")
        assert isinstance(rid, str) and isinstance(directory, str)
        assert isinstance(server, str) and isinstance(kind, str)
        if len(rid) != 32 or any(c not in "0123456789abcdef" for c in rid):
            raise QueueError(f"bad recording id {rid!r}")
        title, location = obj.get("title"), obj.get("location")
        if title is not None and not isinstance(title, str):
            raise QueueError("title must be a string")
        if location is not None and not (
            isinstance(location, dict) and all(isinstance(v, str) for v in location.values())
        ):
            raise QueueError("location must be an object of strings")
        return cls(rid, Path(directory), server, kind, title, location)


_REQUIRED = ("recording_id", "directory", "server", "kind")


def _path(recording_id: str, base: Path | None) -> Path:
    return (base or queue_dir()) / SUBDIR / f"{recording_id}.json"


def register(upload: LiveUpload, base: Path | None = None) -> Path:
    """Note (atomically, durably) that ``upload``'s recording owes the server segments."""
    path = _path(upload.recording_id, base)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_durably(path, json.dumps(upload.to_json(), sort_keys=True).encode() + b"\n")
    os.chmod(path, 0o600)
    return path


def unregister(recording_id: str, base: Path | None = None) -> None:
    _path(recording_id, base).unlink(missing_ok=True)


def registered(base: Path | None = None) -> tuple[list[LiveUpload], list[str]]:
    """Every registered live upload, and a message for each file that could not be read."""
    directory = (base or queue_dir()) / SUBDIR
    uploads: list[LiveUpload] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            uploads.append(LiveUpload.from_json(json.loads(path.read_text("utf-8"))))
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: {exc}")
    return uploads, problems


def _create(api: RecordingApi, upload: LiveUpload) -> int:
    return api.create(
        upload.recording_id, upload.kind, title=upload.title, location=upload.location
    )


def _send(api: RecordingApi, recording_id: str, index: int, segment: Path) -> int:
    """Send segment ``index``; the index to send next (the server's, when it expects
    another one: a retry after a lost answer, or a gap)."""
    try:
        api.put_chunk(recording_id, index, segment.read_bytes())
    except RecordingApiError as exc:
        if exc.code == "chunk_out_of_order" and exc.next_index is not None:
            return exc.next_index
        raise
    return index + 1


class LiveUploader:
    """The background sender of one recording: ``offer`` each chained segment in chain
    order, ``finish`` at a normal stop. Failures that may pass (network, 5xx) are retried
    with exponential backoff; any other stops the sending, noted in ``errors``, and leaves
    the rest to ``timeseal sync``."""

    def __init__(
        self, api: RecordingApi, upload: LiveUpload, *, first_backoff: float = FIRST_BACKOFF
    ) -> None:
        self._api = api
        self._upload = upload
        self._first_backoff = first_backoff
        self._wake = threading.Condition()
        self._segments: list[Path] = []
        self._finish_count: int | None = None
        self._stopping = False
        self._created = False
        self.sent = 0  # segments the server has (every index below this one)
        self.evidence: str | None = None
        self.failed: str | None = None  # why sending stopped for good, if it did
        self.errors: list[str] = []
        self._done = threading.Event()
        self._failing_since: float | None = None  # every request failed since (monotonic)
        self._thread = threading.Thread(target=self._run, name="live-upload", daemon=True)
        self._thread.start()

    def offer(self, segment: Path) -> None:
        """Send ``segment`` (the next in the chain) as soon as the ones before it are sent."""
        with self._wake:
            self._segments.append(segment)
            self._wake.notify()

    def finish(self, chunks: int, wait: float) -> str | None:
        """After a normal stop: finish the server recording once all ``chunks`` segments are
        sent, waiting at most ``wait`` seconds (less when every request has failed for
        :data:`GIVE_UP_FAILING` seconds); its evidence number, or None (sync then)."""
        with self._wake:
            self._finish_count = chunks
            self._wake.notify()
        deadline = time.monotonic() + wait
        while not self._done.wait(0.2) and time.monotonic() < deadline:
            with self._wake:
                failing = self._failing_since
            if failing is not None and time.monotonic() - failing > GIVE_UP_FAILING:
                break
        self.stop()
        return self.evidence

    def stop(self, timeout: float = 1.0) -> None:
        """Stop sending (a request still in flight after ``timeout`` is left to its own
        timeout: the thread is a daemon, and the server takes a repeated segment alike)."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._api.close()

    def _run(self) -> None:
        backoff = self._first_backoff
        while True:
            with self._wake:
                while not self._stopping and not self._has_work():
                    self._wake.wait()
                if self._stopping:
                    return
            try:
                self._step()
            except RecordingApiError as exc:
                with self._wake:
                    self.errors.append(str(exc))
                    if self._failing_since is None:
                        self._failing_since = time.monotonic()
                    if not exc.retryable:
                        self.failed = str(exc)
                        self._done.set()
                        return
                    self._wake.wait(backoff)  # woken early only by stop()
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            except Exception as exc:  # the thread must not end silently: finish() says why
                with self._wake:
                    self.failed = f"{type(exc).__name__}: {exc}"
                    self.errors.append(self.failed)
                    self._done.set()
                return
            backoff = self._first_backoff
            with self._wake:
                self._failing_since = None
            if self.evidence is not None:
                self._done.set()
                return

    def _has_work(self) -> bool:
        return (
            not self._created
            or self.sent < len(self._segments)
            or (self._finish_count is not None and self.evidence is None)
        )

    def _step(self) -> None:
        """One request: create, the next segment, or the finish."""
        upload = self._upload
        if not self._created:
            self.sent = _create(self._api, upload)
            self._created = True
            return
        with self._wake:
            segment = self._segments[self.sent] if self.sent < len(self._segments) else None
            finish = self._finish_count
        if segment is not None:
            self.sent = _send(self._api, upload.recording_id, self.sent, segment)
        elif finish is not None and self.sent >= finish:
            self.evidence = self._api.finish(upload.recording_id, finish)


def start(
    upload: LiveUpload, token: str | None, base: Path | None, on_event: Callable[[str], None]
) -> LiveUploader | None:
    """The recorder's start: register ``upload`` for ``timeseal sync`` (until the server has
    it all) and, with a token (logged in), start its sender."""
    try:
        register(upload, base)
    except OSError as exc:
        on_event(f"cannot register the upload for `timeseal sync`: {exc}")
    if token is None:
        return None
    return LiveUploader(RecordingApi(upload.server, token), upload)


class Finished(NamedTuple):
    evidence: str | None  # the evidence number the server filed the recording as
    sent: int  # segments the server has
    problem: str | None  # why the rest waits for `timeseal sync`


def finish(
    uploader: LiveUploader | None, recording_id: str, chunks: int, wait: float, base: Path | None
) -> Finished:
    """The recorder's normal stop: the last segments and the finish; unregistered once the
    server filed it, else left for ``timeseal sync``."""
    if uploader is None:
        return Finished(None, 0, "未登录 not logged in")
    evidence = uploader.finish(chunks, wait)
    if evidence is not None:
        unregister(recording_id, base)
        return Finished(evidence, uploader.sent, None)
    slow = "服务器未及时应答 the server was slow"
    return Finished(None, uploader.sent, uploader.failed or (uploader.errors or [slow])[-1])


def drop(uploader: LiveUploader | None, recording_id: str, base: Path | None) -> None:
    """Nothing was recorded: nothing to upload."""
    if uploader is not None:
        uploader.stop()
    unregister(recording_id, base)


@dataclass(frozen=True, slots=True)
class SentRest:
    sent: int  # segments the server has now
    evidence: str | None  # the evidence number, once the recording was finished


def send_rest(api: RecordingApi, upload: LiveUpload) -> SentRest:
    """``timeseal sync``: send every chained segment the server lacks, from its
    ``next_index``, then finish the recording if the chain has its end link (a normal stop);
    a chain without one was cut off and is sent only. Each segment must still hash to its
    chain record, or nothing more is sent (:class:`ValueError`). Raises
    :class:`RecordingApiError` and ``MalformedError`` too."""
    directory = upload.directory
    chain = parse_segment_chain((directory / CHAIN_NAME).read_bytes())
    if chain.header.recording_id.hex() != upload.recording_id:
        raise ValueError(f"{directory / CHAIN_NAME} is another recording's chain")
    index = _create(api, upload)
    while index < len(chain.segments):
        record = chain.segments[index]
        segment = directory / SEGMENTS_DIR / record.name
        with segment.open("rb") as f:
            if digest_stream(f) != record.sha256:
                raise ValueError(f"{segment} is not the segment chained as link[{index}]")
        index = _send(api, upload.recording_id, index, segment)
    evidence = None
    if chain.end is not None:
        evidence = api.finish(upload.recording_id, len(chain.segments))
    return SentRest(index, evidence)
