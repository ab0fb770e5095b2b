"""What one recording takes (:class:`RecordingOptions`) and what it gives
(:class:`RecordingResult`); :class:`~timeseal.capture.recording.recorder.Recorder` makes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from timeseal.capture.recording.ffmpeg import Source
from timeseal.core.package.canonical import JSONValue


@dataclass(frozen=True, slots=True)
class RecordingOptions:
    source: Source
    output_dir: Path
    server: str
    kind: str = "screen_recording"  # or camera_recording
    segment_seconds: int = 2
    seal_every: int = 30
    fps: int = 10
    duration: int | None = None
    location: dict[str, JSONValue] | None = None
    #: The environment check's report (``timeseal.cli.capture.environment``), run before the
    #: recorder and recorded as it is, so that it is sealed with capture-start.json before
    #: ffmpeg starts.
    environment_check: dict[str, JSONValue] | None = None
    tsa_timeout: float = 5.0
    final_seal_wait: float = 10.0  # at stop: how long to keep trying the TSA for the end link
    #: Where the recording is registered for ``timeseal sync`` (default: the offline queue's
    #: directory; see :mod:`.recording_state`).
    state_base: Path | None = None
    #: ``--upload``: stream each chained segment to this server's live recording API
    #: (:mod:`.live_upload`), with ``upload_token`` (None: not logged in, ``timeseal sync``
    #: sends it all after ``timeseal login``).
    upload_server: str | None = None
    upload_token: str | None = None
    upload_title: str | None = None
    upload_wait: float = 30.0  # at stop: how long to wait for the last segments and finish

    def __post_init__(self) -> None:
        if self.segment_seconds < 1 or self.seal_every < 1 or self.fps < 1:
            raise ValueError("segment_seconds, seal_every and fps must be at least 1")
        if self.duration is not None and self.duration < 1:
            raise ValueError("duration must be at least 1 second")


@dataclass(slots=True)
class RecordingResult:
    output_dir: Path
    segments: int = 0
    tokens: list[Path] = field(default_factory=list)
    recording: Path | None = None
    unsealed_head: int | None = None  # a head still without a token (offline at the stop)
    tsa_errors: list[str] = field(default_factory=list)
    evidence: str | None = None  # --upload: the vault's evidence number of the recording
    upload_sent: int = 0  # --upload: segments the server has
    upload_problem: str | None = None  # --upload: why the rest waits for `timeseal sync`
