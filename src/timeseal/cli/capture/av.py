"""``timeseal capture screen|camera|photo``: recordings sealed while they are made.

First the environment check (:mod:`timeseal.cli.capture.environment`, no target): a ``fail`` stops
the capture with exit 2 before ffmpeg starts, unless ``--force``; its report is recorded as
``environment_check`` in capture-start.json / capture.json.
Stops at ``--duration``, Ctrl-C (SIGINT) or SIGTERM: the current segment is finished, chained
and sealed, and the segments are joined into ``recording.mp4``.
An output directory that already holds something is refused first (exit 2, nothing started).
A recording whose last head could not be sealed (the TSA unreachable) is queued for
``timeseal sync`` and ends with exit 0 and a notice, as every offline capture does.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from timeseal.capture.recording.capture_json import parse_location
from timeseal.capture.recording.ffmpeg import Source, camera_source, screen_source
from timeseal.capture.recording.options import RecordingOptions, RecordingResult
from timeseal.capture.recording.recorder import Recorder, RecordingError
from timeseal.cli import settings as cli_settings
from timeseal.cli.capture.environment import check_environment
from timeseal.cli.capture.output import refuse_used_output
from timeseal.cli.exits import fail, usage_error
from timeseal.cli.server_client import ServerOption, resolve_server
from timeseal.core.package.canonical import JSONValue

OutputOption = Annotated[
    Path | None,
    typer.Option("-o", "--output", help="Output directory (default ./timeseal-<kind>-<time>)."),
]
DurationOption = Annotated[
    int | None, typer.Option(min=1, help="Stop after this many seconds (default: Ctrl-C).")
]
SegmentOption = Annotated[
    int, typer.Option("--segment-seconds", min=1, help="Length of each sealed segment.")
]
SealOption = Annotated[
    int, typer.Option("--seal-every", min=1, help="Timestamp the chain head at least this often.")
]
FpsOption = Annotated[int, typer.Option(min=1, max=60, help="Frames per second.")]
LocationOption = Annotated[
    str | None, typer.Option(help='Where: "lat,lon" in decimal degrees, or an address.')
]
DeviceOption = Annotated[
    str | None, typer.Option(help="V4L2 camera device (Linux), e.g. /dev/video0.")
]
UploadOption = Annotated[
    bool,
    typer.Option(
        "--upload",
        help="Stream each sealed segment to the vault as it is recorded (needs `timeseal login`; "
        "offline, `timeseal sync` sends the rest).",
    ),
]
LavfiOption = Annotated[
    str | None,
    typer.Option(help="ffmpeg lavfi source instead of a camera, e.g. testsrc (for tests)."),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Go on even if the environment check fails (the evidence is marked forced).",
    ),
]


def _new_output(output: Path | None, kind: str) -> Path:
    """``--output``, else ``./timeseal-<kind>-<time>``; refused (exit 2) before anything
    starts when it already holds something."""
    out = output or Path(f"timeseal-{kind}-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}")
    refuse_used_output(out)
    return out


def _location(text: str | None) -> dict[str, JSONValue] | None:
    if text is None:
        return None
    try:
        return parse_location(text)
    except ValueError as exc:
        raise usage_error(f"--location: {exc}") from None


def _record(options: RecordingOptions) -> None:
    """Run the recorder with SIGINT/SIGTERM as a clean stop; print a bilingual summary."""
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    recorder = Recorder(options)
    recorder.on_event = lambda message: typer.echo(f"  {message}")
    typer.echo(f"录制中 recording {options.source.description} -> {options.output_dir}")
    if options.duration is None:
        typer.echo("按 Ctrl-C 结束 press Ctrl-C to stop")
    else:
        typer.echo(f"{options.duration} 秒后结束 stops after {options.duration} s")
    try:
        result = recorder.run(stop)
    except RecordingError as exc:
        raise fail(str(exc)) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    typer.echo(f"片段 segments: {result.segments}; 时间戳 tokens: {len(result.tokens)}")
    if result.recording is not None:
        typer.echo(f"录像 recording: {result.recording}")
    _report_upload(options, result)
    typer.echo(f"验证 verify: timeseal verify {options.output_dir}")
    if result.unsealed_head is not None:  # queued: an offline capture is not a failure
        typer.echo(
            f"… 已排队 queued: 时间戳服务不可达，链头 {result.unsealed_head} 未盖时间戳，"
            f"稍后运行 `timeseal sync` 封存 / the TSA was unreachable; head "
            f"{result.unsealed_head} is not sealed yet: run `timeseal sync` later to seal it",
            err=True,
        )


def _with_upload(options: RecordingOptions, upload: bool, title: str) -> RecordingOptions:
    """``--upload``: the logged-in server and its token (None: record now, upload after
    ``timeseal login`` with ``timeseal sync``)."""
    if not upload:
        return options
    from timeseal.cli.credentials import stored_token

    base = resolve_server(options.server)
    token = stored_token(base)
    if token is None:
        typer.echo(
            f"! 未登录 {base}：先在本地录制并封存，`timeseal login` 后运行 `timeseal sync` 上传 "
            f"not logged in to {base}: recording and sealing locally; after `timeseal login`, "
            "`timeseal sync` uploads it",
            err=True,
        )
    return replace(options, upload_server=base, upload_token=token, upload_title=title)


def _record_live(
    options: RecordingOptions, *, location: str | None, force: bool, upload: bool, title: str
) -> None:
    """The location checked, then the environment check (a fail stops here unless ``force``),
    then the recording, streamed to the vault with ``upload``."""
    where = _location(location)
    environment = check_environment(options.server, force=force)
    options = replace(options, location=where, environment_check=environment)
    _record(_with_upload(options, upload, title))


def _report_upload(options: RecordingOptions, result: RecordingResult) -> None:
    if options.upload_server is None:
        return
    if result.evidence is not None:
        typer.echo(f"已上传 uploaded: 证据 evidence {result.evidence} ({result.segments} segments)")
        return
    typer.echo(
        f"… 服务器已收到 {result.upload_sent}/{result.segments} 段，其余由 `timeseal sync` 上传 "
        f"the server has {result.upload_sent} of {result.segments} segments; "
        f"`timeseal sync` sends the rest ({result.upload_problem})",
        err=True,
    )


def register(capture_app: typer.Typer) -> None:
    """Add ``screen``, ``camera`` and ``photo`` to ``timeseal capture``."""
    capture_app.command("screen")(screen)
    capture_app.command("camera")(camera)
    capture_app.command("photo")(photo)


def screen(
    display: Annotated[
        str | None,
        typer.Option(
            help="X display (Linux x11grab, default $DISPLAY); screen index on macOS "
            "(avfoundation). Windows uses gdigrab's desktop."
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(help="Record one window: X window id (Linux) or window title (Windows)."),
    ] = None,
    duration: DurationOption = None,
    segment_seconds: SegmentOption = 2,
    seal_every: SealOption = 30,
    fps: FpsOption = 10,
    location: LocationOption = None,
    server: ServerOption = None,
    output: OutputOption = None,
    force: ForceOption = False,
    upload: UploadOption = False,
) -> None:
    """录屏取证 Record the screen, sealed as it goes (x11grab; gdigrab, avfoundation)."""
    output = _new_output(output, "screen")
    try:
        source = screen_source(display or cli_settings.display_from_env(), window, fps)
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    _record_live(
        RecordingOptions(
            source=source,
            output_dir=output,
            server=resolve_server(server),
            kind="screen_recording",
            segment_seconds=segment_seconds,
            seal_every=seal_every,
            fps=fps,
            duration=duration,
        ),
        location=location,
        force=force,
        upload=upload,
        title="录屏 Screen recording (timeseal capture screen)",
    )


def _camera(device: str | None, lavfi: str | None, fps: int) -> Source:
    if device is not None and lavfi is not None:
        raise usage_error("--device 与 --lavfi 只能选一个 give --device or --lavfi, not both")
    return camera_source(device, lavfi, fps)


def camera(
    device: DeviceOption = None,
    lavfi: LavfiOption = None,
    location: LocationOption = None,
    duration: DurationOption = None,
    segment_seconds: SegmentOption = 2,
    seal_every: SealOption = 30,
    fps: FpsOption = 15,
    server: ServerOption = None,
    output: OutputOption = None,
    force: ForceOption = False,
    upload: UploadOption = False,
) -> None:
    """摄像取证 Film with a camera (V4L2 through ffmpeg), sealing it as it goes."""
    output = _new_output(output, "camera")
    _record_live(
        RecordingOptions(
            source=_camera(device, lavfi, fps),
            output_dir=output,
            server=resolve_server(server),
            kind="camera_recording",
            segment_seconds=segment_seconds,
            seal_every=seal_every,
            fps=fps,
            duration=duration,
        ),
        location=location,
        force=force,
        upload=upload,
        title="摄像录像 Camera recording (timeseal capture camera)",
    )


def photo(
    device: DeviceOption = None,
    lavfi: LavfiOption = None,
    location: LocationOption = None,
    server: ServerOption = None,
    output: OutputOption = None,
    force: ForceOption = False,
) -> None:
    """拍照取证 Take one photo and timestamp it at once."""
    from timeseal.capture.clients.tsa import TSAClient, TSAClientError
    from timeseal.capture.recording.photo import PhotoError, take_photo
    from timeseal.cli.verify.report import format_time

    out = _new_output(output, "photo")
    source = _camera(device, lavfi, 1)
    where = _location(location)
    base = resolve_server(server)
    environment = check_environment(base, force=force)
    with TSAClient(base, timeout=10) as client:
        try:
            taken = take_photo(source, out, client.stamp_digest, where, environment)
        except (PhotoError, TSAClientError) as exc:
            raise fail(str(exc)) from None
    typer.echo(f"照片 photo: {taken.path}  SHA-256 {taken.sha256.hex()}")
    typer.echo(f"时间 Time: {format_time(taken.gen_time)}")
    typer.echo(f"验证 verify: timeseal verify {taken.path}")
