"""Screen and camera recording with live sealing (docs/segment-chain.md).

ffmpeg's segment muxer cuts the recording into short MPEG-TS segments. This process watches
the segment list; each closed segment is hashed into ``chain.jsonl`` (appended and fsync'd
before anything else happens to it), and the chain head is timestamped at least every
``seal_every`` seconds by a separate thread (:class:`HeadSealer`), so a recording cut off at
any moment (``kill -9``, a flat battery) leaves every closed segment up to the last token
sealed. The same encode is written, as it goes, into ``recording.mp4.part`` too (ffmpeg's
``tee`` muxer); at a normal stop that finished file becomes ``recording.mp4``, the end link
binds it, and it is timestamped too. Only when ffmpeg did not close it (killed at a stuck
device) are the chained segments joined instead, without re-encoding.

Output directory::

    recording.mp4        the whole recording (only after a normal stop)
    recording.mp4.part   the whole recording while it is made (left as it is by kill -9;
                         nothing binds it, the segments are the evidence)
    segments/seg_*.ts    each segment, playable on its own
    chain.jsonl          the segment chain
    tokens/head-*.tsr    RFC 3161 tokens over chain heads
    capture-start.json   the metadata as the recording started (source, device, location,
                         start, the environment check's report), never rewritten;
                         capture-start.json.tsr its token, fetched before ffmpeg starts
                         (or by `timeseal sync` when offline then)
    capture.json         capture metadata; capture.json.tsr its token (after a normal stop)
    certs/tsa-chain.pem  the TSA chain as the server served it (display only, not trust)
"""

from __future__ import annotations

import ctypes
import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from timeseal.capture.clients.recordings import api_location
from timeseal.capture.clients.tsa import TSAClient, TSAClientError
from timeseal.capture.errors import CaptureError
from timeseal.capture.recording import capture_json as capture_meta
from timeseal.capture.recording import live_upload
from timeseal.capture.recording import state as recording_state
from timeseal.capture.recording.chain_journal import ChainJournal
from timeseal.capture.recording.ffmpeg import (
    SEGMENT_LIST,
    segment_argv,
    version_from_log,
)
from timeseal.capture.recording.head_sealer import HeadSealer, StampFn
from timeseal.capture.recording.live_upload import LiveUpload, LiveUploader
from timeseal.capture.recording.options import RecordingOptions, RecordingResult
from timeseal.capture.recording.segment_list import SegmentListReader
from timeseal.capture.recording.whole_file import (
    RECORDING_NAME,
    RECORDING_PART,
    join_chained_segments,
    take_finished_part,
)
from timeseal.core.digest import digest_stream
from timeseal.core.files import write_durably
from timeseal.core.package.canonical import JSONValue

POLL_SECONDS = 0.5  # segments are seconds long; polling faster only costs CPU
STOP_GRACE_SECONDS = 30.0
CHAIN_NAME = "chain.jsonl"
CAPTURE_NAME = "capture.json"
#: capture.json as it was at the start, sealed at once: a recording cut off before the stop
#: (when capture.json is sealed) still has its who/where/how fixed in time.
START_NAME = "capture-start.json"


class RecordingError(CaptureError):
    """The recording could not be made (ffmpeg failed, the output directory is in use)."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGTERM ffmpeg if we die (``kill -9``), so it closes its segment and exits
    instead of recording on, unwatched."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Recorder:
    """One recording. ``stamp`` replaces the TSA (tests); by default ``TSAClient(server)``."""

    def __init__(self, options: RecordingOptions, *, stamp: StampFn | None = None) -> None:
        self.options = options
        self._stamp = stamp
        self.on_event: Callable[[str], None] = lambda _message: None
        self._meta: dict[str, JSONValue] = {}
        self.ffmpeg_cpu = 0.0  # user + system seconds of the recording ffmpeg, once it exited
        self._uploader: LiveUploader | None = None

    def run(self, stop: threading.Event) -> RecordingResult:
        """Record until ``stop`` is set, the duration is over, or ffmpeg ends."""
        o = self.options
        out = o.output_dir
        if out.exists() and any(out.iterdir()):
            raise RecordingError(f"{out} is not empty")
        segments_dir, tokens_dir = out / "segments", out / "tokens"
        for d in (out, segments_dir, tokens_dir):
            d.mkdir(parents=True, exist_ok=True)
        client = TSAClient(o.server, timeout=o.tsa_timeout)
        try:
            return self._record(stop, client, segments_dir, tokens_dir)
        finally:
            client.close()

    def _record(
        self, stop: threading.Event, client: TSAClient, segments_dir: Path, tokens_dir: Path
    ) -> RecordingResult:
        o = self.options
        out = o.output_dir
        recording_id = secrets.token_bytes(16)
        started = dt.datetime.now(dt.UTC)
        argv = segment_argv(
            o.source,
            segments_dir,
            out / SEGMENT_LIST,
            fps=o.fps,
            segment_seconds=o.segment_seconds,
            duration=o.duration,
            whole=out / RECORDING_PART,
        )
        meta = self._start_metadata(recording_id, started, argv)
        self._meta = meta
        write_durably(out / CAPTURE_NAME, capture_meta.format_capture(meta))
        write_durably(out / START_NAME, capture_meta.format_capture(meta))
        self._register(recording_id)
        self._start_upload(recording_id)
        if self._save_tsa_chain(client, out):  # offline: no second wait; sync stamps it
            self._stamp_file(client, out / START_NAME)
        journal = ChainJournal(out / CHAIN_NAME, recording_id)
        sealer = HeadSealer(self._stamp or client.stamp_digest, tokens_dir)
        result = RecordingResult(out)
        returncode = self._run_ffmpeg(argv, stop, journal, sealer, segments_dir)
        sealer.stop()
        ended = dt.datetime.now(dt.UTC)
        result.segments = journal.count
        if journal.count == 0:
            journal.close()
            if o.upload_server is not None:  # nothing recorded: nothing to upload
                live_upload.drop(self._uploader, recording_id.hex(), o.state_base)
            tail = (out / "ffmpeg.log").read_text(errors="replace")[-2000:]
            raise RecordingError(f"ffmpeg recorded no segment (exit {returncode}): {tail}")
        recording = self._finished_recording(segments_dir, out)
        journal.end(recording)
        journal.close()
        result.recording = recording
        meta["ended_at"] = capture_meta.rfc3339(ended)
        meta["segments"] = journal.count
        write_durably(out / CAPTURE_NAME, capture_meta.format_capture(meta))
        self._seal_end_link(sealer, journal)
        result.unsealed_head = sealer.pending
        if result.unsealed_head is None:  # else `timeseal sync` seals the end link later
            recording_state.unregister(recording_id.hex(), o.state_base)
        self._stamp_file(client, out / CAPTURE_NAME)
        self._finish_upload(recording_id, journal.count, result)
        result.tokens = sorted(tokens_dir.glob("*.tsr"))
        result.tsa_errors = list(sealer.errors)
        return result

    def _start_metadata(
        self, recording_id: bytes, started: dt.datetime, argv: list[str]
    ) -> dict[str, JSONValue]:
        """capture.json as the recording starts (also kept as capture-start.json)."""
        o = self.options
        return {
            "kind": o.kind,
            "recording_id": recording_id.hex(),
            "started_at": capture_meta.rfc3339(started),
            "ended_at": None,
            "source": {"kind": o.source.kind, "description": o.source.description},
            "device": capture_meta.device_info(),
            "software": capture_meta.software_info("unknown"),  # from ffmpeg's banner, later
            "ffmpeg_argv": list(argv),
            "segment_seconds": o.segment_seconds,
            "seal_every": o.seal_every,
            "fps": o.fps,
            "location": o.location,
            "tsa": f"{o.server.rstrip('/')}/tsa",
            "environment_check": o.environment_check,
        }

    def _run_ffmpeg(
        self,
        argv: list[str],
        stop: threading.Event,
        journal: ChainJournal,
        sealer: HeadSealer,
        segments_dir: Path,
    ) -> int | None:
        """Run the recording ffmpeg, chaining its segments, until it ends; its exit code."""
        out = self.options.output_dir
        with (out / "ffmpeg.log").open("wb") as log:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # Ctrl-C reaches us; we stop ffmpeg cleanly
                preexec_fn=_die_with_parent,  # called from the main thread only
            )
            try:
                self._watch(process, stop, journal, sealer, out / SEGMENT_LIST, segments_dir)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        return process.returncode

    def _seal_end_link(self, sealer: HeadSealer, journal: ChainJournal) -> None:
        """The end link, then capture.json: both at once when the TSA is back; give up after
        ``final_seal_wait`` seconds (``timeseal sync`` seals it later)."""
        sealer.offer(journal.count, journal.head)
        deadline = time.monotonic() + self.options.final_seal_wait
        while sealer.flush() is None and sealer.pending is not None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)

    def _register(self, recording_id: bytes) -> None:
        """Until its end link is sealed, the recording is on ``timeseal sync``'s list (a
        recording that cannot be registered still records: its segments are the evidence)."""
        o = self.options
        state = recording_state.RecordingState(recording_id.hex(), o.output_dir.resolve(), o.server)
        try:
            recording_state.register(state, o.state_base)
        except OSError as exc:
            self.on_event(f"cannot register the recording for `timeseal sync`: {exc}")

    def _start_upload(self, recording_id: bytes) -> None:
        """``--upload``: registered for ``timeseal sync``; logged in, the sender starts."""
        o = self.options
        if o.upload_server is None:
            return
        upload = LiveUpload(
            recording_id.hex(),
            o.output_dir.resolve(),
            o.upload_server,
            o.kind,
            o.upload_title,
            api_location(o.location),
        )
        self._uploader = live_upload.start(upload, o.upload_token, o.state_base, self.on_event)

    def _finish_upload(self, recording_id: bytes, chunks: int, result: RecordingResult) -> None:
        o = self.options
        if o.upload_server is not None:
            done = live_upload.finish(self._uploader, recording_id.hex(), chunks, o.upload_wait,
                                      o.state_base)  # fmt: skip
            result.evidence, result.upload_sent, result.upload_problem = done

    def _watch(
        self,
        process: subprocess.Popen[bytes],
        stop: threading.Event,
        journal: ChainJournal,
        sealer: HeadSealer,
        list_file: Path,
        segments_dir: Path,
    ) -> None:
        """Chain each closed segment as it appears; offer the head to the sealer at least
        every ``seal_every`` seconds (one segment early, so the gap never exceeds it)."""
        o = self.options
        reader = SegmentListReader(list_file)
        threshold = o.seal_every - o.segment_seconds
        last_offer = time.monotonic()
        stopping = False
        stop_sent = 0.0
        while True:
            exited = self._reap(process)
            for name in reader.poll():
                record = journal.add_segment(segments_dir / name)
                self.on_event(f"segment {record.index} {name} {record.size} bytes")
                if self._uploader is not None:  # chained first: the local chain leads
                    self._uploader.offer(segments_dir / name)
                if record.index == 0:
                    self._note_ffmpeg_version()
                now = time.monotonic()
                if now - last_offer >= threshold or journal.count == 1:
                    sealer.offer(record.index, record.link)
                    last_offer = now
            if exited:
                return
            if stop.is_set() and not stopping:
                stopping = True
                stop_sent = time.monotonic()
                process.send_signal(signal.SIGINT)  # ffmpeg closes the segment and exits
            elif stopping and time.monotonic() - stop_sent > STOP_GRACE_SECONDS:
                process.kill()  # a stuck device: what was closed so far is chained
            time.sleep(POLL_SECONDS)

    def _reap(self, process: subprocess.Popen[bytes]) -> bool:
        """Has ffmpeg exited? Reaped with ``wait4`` to keep its CPU time (the benchmark
        compares it with the recorder's own)."""
        if process.returncode is not None:
            return True
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == 0:
            return False
        process.returncode = os.waitstatus_to_exitcode(status)
        self.ffmpeg_cpu = usage.ru_utime + usage.ru_stime
        return True

    def _note_ffmpeg_version(self) -> None:
        """Put ffmpeg's version, from its own banner, into capture.json."""
        out = self.options.output_dir
        version = version_from_log(out / "ffmpeg.log")
        software = self._meta.get("software")
        if version is not None and isinstance(software, dict):
            software["ffmpeg"] = version
            write_durably(out / CAPTURE_NAME, capture_meta.format_capture(self._meta))

    def _finished_recording(self, segments_dir: Path, out: Path) -> Path:
        """``recording.mp4``: the file ffmpeg wrote alongside the segments when it closed it,
        else the chained segments joined."""
        recording = take_finished_part(out)
        if recording is not None:
            return recording
        self.on_event("recording.mp4.part unfinished: joining the segments")
        failure = join_chained_segments(out, segments_dir)
        if failure is not None:
            raise RecordingError(f"ffmpeg concat failed: {failure}")
        return out / RECORDING_NAME

    @staticmethod
    def _save_tsa_chain(client: TSAClient, out: Path) -> bool:
        """Keep the TSA chain for display; False when the server cannot be reached."""
        try:
            certs = client.certificates()
        except TSAClientError:
            return False  # offline: verification needs the user's trust anchor anyway
        (out / "certs").mkdir(exist_ok=True)
        pem = b"".join(c.public_bytes(Encoding.PEM) for c in certs)
        write_durably(out / "certs" / "tsa-chain.pem", pem)
        return True

    def _stamp_file(self, client: TSAClient, path: Path) -> None:
        """``FILE.tsr`` for capture.json (start, end, source, location fixed in time) or
        capture-start.json; left to ``timeseal sync`` when the TSA cannot be reached."""
        with path.open("rb") as f:
            digest = digest_stream(f)
        try:
            stamped = (self._stamp or client.stamp_digest)(digest)
        except TSAClientError:
            return
        write_durably(path.with_name(path.name + ".tsr"), stamped.response.der)
