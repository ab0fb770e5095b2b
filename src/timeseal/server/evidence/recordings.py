"""Live browser recordings (no HTTP): chunks in, the segment chain of docs/segment-chain.md out.

A browser streams a MediaRecorder recording in chunks. For each chunk, in this order (so a
crash at any point loses nothing that was answered, and a retry finishes what was begun):

1. its bytes go to the blob store (durable, content-addressed: a retry writes the same blob);
2. it is chained: ``link[i]`` from the head, the chunk row and the new head in one transaction;
3. the new head is timestamped by this server's TSA and the token kept with the chunk;
4. only then is the request answered.

A normal stop (:meth:`RecordingService.finish`) joins the chunks (MediaRecorder timeslice
chunks concatenate into one playable file), writes and timestamps the end link, and files the
joined file as an ordinary sealed evidence item through :meth:`VaultService.seal`. A recording
that gets no chunk for a while is cut off (:meth:`RecordingService.close_idle`, run by the
housekeeper): its chunks so far are filed the same way, without an end link. Either way the
chain itself stays downloadable as the recording directory (:meth:`RecordingService.chain_zip`)
that ``timeseal verify DIR`` checks (its files: :mod:`timeseal.server.evidence.recording_files`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import anyio.to_thread

from timeseal.core.segment_chain import end_link, segment_link, start_link
from timeseal.server.evidence.recording_files import (
    capture_metadata,
    chain_zip,
    extension,
    rfc3339,
)
from timeseal.server.evidence.vault import SealingFailed, SealRequest, VaultService
from timeseal.server.tsa.service import utc_now
from timeseal.store.blobs import BlobRef
from timeseal.store.evidence.rows import EvidenceRecord
from timeseal.store.recording_tables import CLOSED_STATES
from timeseal.store.recordings import Chunk, NewRecording, Recording, RecordingStore

#: Largest chunk a browser may send (MediaRecorder timeslices are far smaller).
CHUNK_MAX_BYTES = 8 * 1024 * 1024
#: Recording kind (capture.json ``kind``) -> evidence kind of the filed item.
EVIDENCE_KIND = {"camera_recording": "video", "screen_recording": "screen-recording"}
#: Evidence records remember which recording they came from through this upload id.
UPLOAD_ID_PREFIX = "recording-"


class RecordingProblem(Exception):
    """A request the recording cannot take; ``code`` is the API error code."""

    code = "recording_problem"


class RecordingClosed(RecordingProblem):
    code = "recording_closed"


class ChunkConflict(RecordingProblem):
    code = "chunk_conflict"


class ChunkOutOfOrder(RecordingProblem):
    code = "chunk_out_of_order"

    def __init__(self, next_index: int) -> None:
        super().__init__(f"the recording expects chunk {next_index}")
        self.next_index = next_index


class ChunkCountMismatch(RecordingProblem):
    code = "chunk_count_mismatch"

    def __init__(self, next_index: int) -> None:
        super().__init__(f"the recording has {next_index} chunks")
        self.next_index = next_index


class RecordingEmpty(RecordingProblem):
    code = "recording_empty"


class QuotaExceeded(RecordingProblem):
    code = "quota_exceeded"


@dataclass(frozen=True, slots=True)
class ChunkAnswer:
    """What a chunk PUT answers: the chunk as chained, and the token that seals it."""

    index: int
    size: int
    sha256: bytes
    link: bytes
    token_time: dt.datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "size": self.size,
            "sha256": self.sha256.hex(),
            "link": self.link.hex(),
            "sealed_through": self.index,
            "token_time": rfc3339(self.token_time),
        }


class RecordingService:
    """Takes chunks into chains, closes recordings into evidence, serves their chains."""

    def __init__(
        self,
        store: RecordingStore,
        vault: VaultService,
        *,
        tsa_chain_pem: bytes,
        quota_bytes: int,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.store = store
        self.vault = vault
        self._tsa_chain_pem = tsa_chain_pem
        self._quota_bytes = quota_bytes
        self._clock = clock
        vault.count_pending(store.open_bytes)  # uploads and chunks share one quota

    # --- starting ---------------------------------------------------------------------------

    def create(
        self,
        *,
        recording_id: bytes,
        owner_id: int,
        kind: str,
        mime_type: str,
        title: str | None,
        case_id: int | None,
        declared: dict[str, Any],
        client_ip: str,
    ) -> Recording | None:
        """A new recording (link[-1] from its id); None if the id is taken already (the
        caller tells a retry of its own create from someone else's recording)."""
        if kind not in EVIDENCE_KIND:
            raise ValueError(f"kind must be one of {', '.join(EVIDENCE_KIND)}")
        new = NewRecording(
            id=recording_id.hex(),
            owner_id=owner_id,
            kind=kind,
            mime_type=mime_type,
            title=title,
            case_id=case_id,
            declared=declared,
            client_ip=client_ip,
            head=start_link(recording_id),
            started_at=self._clock(),
        )
        if not self.store.create(new):
            return None
        return self.store.get(new.id)

    # --- chunks -----------------------------------------------------------------------------

    async def put_chunk(self, recording: Recording, index: int, data: bytes) -> ChunkAnswer:
        """Store, chain and seal chunk ``index``; an identical retry gets the same answer.
        Raises a :class:`RecordingProblem`, or :class:`SealingFailed` when the TSA refuses
        (the chunk is then chained already: a retry seals it)."""
        if not 0 < len(data) <= CHUNK_MAX_BYTES:
            raise ValueError(f"a chunk is 1 to {CHUNK_MAX_BYTES} bytes")
        sha256 = hashlib.sha256(data).digest()
        for _attempt in range(3):
            if index < recording.chunks:
                return await self._repeat(recording, index, len(data), sha256)
            if recording.state in CLOSED_STATES:
                raise RecordingClosed(f"recording {recording.id} is {recording.state}")
            if index > recording.chunks:
                raise ChunkOutOfOrder(recording.chunks)
            self._check_quota(recording.owner_id, len(data))
            # (1) durable first: a crash after this leaves a blob the retry writes again.
            blob = await anyio.to_thread.run_sync(self.vault.blobs.write_stream, [data], sha256)
            # (2) chained: the row and the new head together, only if index is still next.
            link = segment_link(recording.head, index, blob.size, blob.sha256)
            if self.store.append_chunk(
                recording.id, index, blob.size, blob.sha256, link, now=self._clock()
            ):
                # (3) sealed, (4) answered.
                return await self._sealed(recording.id, index, link)
            # Another request chained this index, or the recording closed: look again.
            found = self.store.get(recording.id)
            assert found is not None
            recording = found
        raise AssertionError("the recording kept changing under this chunk")

    async def _repeat(
        self, recording: Recording, index: int, size: int, sha256: bytes
    ) -> ChunkAnswer:
        """A chunk sent again: the same answer for the same bytes, a conflict for others."""
        chunk = self.store.chunk(recording.id, index)
        assert chunk is not None, "chunks below the count are chained"
        if (chunk.size, chunk.sha256) != (size, sha256):
            raise ChunkConflict(f"chunk {index} was received with other bytes")
        if chunk.tsr is not None and chunk.token_time is not None:
            return ChunkAnswer(index, chunk.size, chunk.sha256, chunk.link, chunk.token_time)
        if recording.state in CLOSED_STATES:  # its sealing is settled by the close
            raise RecordingClosed(f"recording {recording.id} is {recording.state}")
        return await self._sealed(recording.id, index, chunk.link)

    async def _sealed(self, recording_id: str, index: int, link: bytes) -> ChunkAnswer:
        """Timestamp link[index] (the token's imprint *is* the link) and keep the token;
        the answer is what the store kept, so racing requests answer alike."""
        stamped = await self.vault.timestamp(link)
        self.store.note_chunk_token(recording_id, index, stamped.response_der, stamped.gen_time)
        chunk = self.store.chunk(recording_id, index)
        assert chunk is not None and chunk.token_time is not None
        return ChunkAnswer(index, chunk.size, chunk.sha256, chunk.link, chunk.token_time)

    def _check_quota(self, owner_id: int, size: int) -> None:
        if self.vault.used_bytes(owner_id) + size > self._quota_bytes:
            raise QuotaExceeded(f"{size} more bytes would pass the quota")

    # --- closing ----------------------------------------------------------------------------

    async def finish(self, recording: Recording, chunks: int) -> Recording:
        """A normal stop after ``chunks`` chunks: join, end link, its token, file as
        evidence. Repeating it (or finishing what a crash interrupted) gives the same."""
        for _attempt in range(3):
            if recording.state in ("cutting_off", "cut_off"):
                raise RecordingClosed(f"recording {recording.id} was cut off")
            if chunks != recording.chunks:
                raise ChunkCountMismatch(recording.chunks)
            if recording.state == "finished":
                return recording
            if recording.state == "finishing":
                return await self._close(recording)
            if chunks == 0:
                raise RecordingEmpty(f"recording {recording.id} has no chunks")
            if self.store.claim_close(recording.id, "finishing", chunks=chunks):
                found = self.store.get(recording.id)
                assert found is not None
                return await self._close(found)
            found = self.store.get(recording.id)  # a chunk or another closer came first
            assert found is not None
            recording = found
        raise AssertionError("the recording kept changing under finish")

    async def cut_off(self, recording: Recording) -> Recording | None:
        """Close a recording that stopped sending: file its chunks so far (no end link); one
        without chunks is closed with nothing to file. A close a crash left half done is
        completed. None if a chunk arrived meanwhile (the recording is alive after all)."""
        if recording.state == "recording":
            if not self.store.claim_close(recording.id, "cutting_off", chunks=recording.chunks):
                return None  # a chunk arrived meanwhile: it is alive
            found = self.store.get(recording.id)
            assert found is not None
            recording = found
        if recording.state not in ("cutting_off", "finishing"):
            return recording
        if recording.chunks == 0:
            self.store.note_filed(recording.id, None)
            return self.store.get(recording.id)
        return await self._close(recording)

    async def close_idle(self, now: dt.datetime, idle: dt.timedelta) -> int:
        """Cut off every recording with no chunk for ``idle`` (and complete the closes that
        a crash left half done). Returns how many were closed."""
        closed = 0
        for recording in self.store.idle(now - idle):
            try:
                done = await self.cut_off(recording)
            except SealingFailed:  # the TSA is down: the next round tries again
                continue
            if done is not None and done.state in ("cut_off", "finished"):
                closed += 1
        return closed

    async def _close(self, recording: Recording) -> Recording:
        """Join the chunks, write the end link (normal stop) with its token, and file the
        joined file as evidence; every step keeps what an earlier, interrupted try did."""
        finishing = recording.state == "finishing"
        chunks = self.store.chunks(recording.id)
        last = chunks[-1]
        if not finishing and last.tsr is None and recording.joined_sha256 is None:
            # Cut off right after a chunk whose token failed: seal the head now, so the
            # item proves every chunk received (at this later time).
            await self._sealed(recording.id, last.index, last.link)
            chunks = self.store.chunks(recording.id)
        if recording.joined_sha256 is None:
            joined = await anyio.to_thread.run_sync(self._join, chunks)
            end: bytes | None = None
            stamped = None
            if finishing:
                end = end_link(recording.head, len(chunks), joined.size, joined.sha256)
                stamped = await self.vault.timestamp(end)
            ended_at = self._clock() if finishing else recording.last_chunk_at
            recording = self.store.note_end(
                recording.id,
                joined_sha256=joined.sha256,
                joined_size=joined.size,
                end_link=end,
                end_tsr=None if stamped is None else stamped.response_der,
                end_token_time=None if stamped is None else stamped.gen_time,
                ended_at=ended_at,
            )
        assert recording.joined_sha256 is not None and recording.joined_size is not None
        record = await self.vault.seal(
            BlobRef(recording.joined_sha256, recording.joined_size),
            SealRequest(
                owner_id=recording.owner_id,
                kind=EVIDENCE_KIND[recording.kind],
                title=(recording.title or _default_title(recording))[:255],
                filename=f"recording-{recording.id[:12]}.{extension(recording.mime_type)}",
                media_type=recording.mime_type.split(";")[0].strip().lower(),
                upload_id=UPLOAD_ID_PREFIX + recording.id,
                capture=capture_metadata(recording, chunks),
                client_ip=recording.client_ip,
            ),
        )
        self._file_in_case(recording, record)
        self.store.note_filed(recording.id, record.number)
        found = self.store.get(recording.id)
        assert found is not None
        return found

    def _join(self, chunks: list[Chunk]) -> BlobRef:
        """The chunks' bytes concatenated into one blob, streamed a piece at a time."""

        def pieces() -> Iterator[bytes]:
            for chunk in chunks:
                with self.vault.blobs.open(chunk.sha256) as reader:
                    yield from reader

        return self.vault.blobs.write_stream(pieces())

    def chain_zip(self, recording: Recording) -> IO[bytes]:
        """The recording directory as a ZIP (:func:`.recording_files.chain_zip`)."""
        chunks = self.store.chunks(recording.id)
        return chain_zip(recording, chunks, self.vault.blobs, self._tsa_chain_pem)

    def _file_in_case(self, recording: Recording, record: EvidenceRecord) -> None:
        if recording.case_id is not None:
            self.vault.cases.put_item(
                recording.owner_id, recording.case_id, record.id, None, now=self._clock()
            )


def _default_title(recording: Recording) -> str:
    if recording.kind == "camera_recording":
        return "浏览器摄像录像 Camera recording"
    return "浏览器录屏 Screen recording"
