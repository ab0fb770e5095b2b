"""ffmpeg command lines for screen, camera and still capture, and for joining segments.

Only argument lists are built here (no process is started), so the exact commands can be
tested and shown in ``capture.json``. Sources by platform:

- screen: ``x11grab`` on Linux (tested), ``gdigrab`` on Windows and ``avfoundation`` on macOS
  (named, not tested);
- camera: ``v4l2`` on Linux; ffmpeg's synthetic ``lavfi`` source (``testsrc``) for tests.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

FFMPEG = "ffmpeg"
#: ffmpeg without its banner, its prompts or anything below an error: the one-shot commands.
QUIET_FFMPEG = (FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error")
SEGMENT_PATTERN = "seg_%06d.ts"
SEGMENT_LIST = "segments.csv"


@dataclass(frozen=True, slots=True)
class Source:
    """An ffmpeg input: ``kind`` is what capture.json calls it (display, window, camera,
    lavfi); ``args`` are the input options ending with ``-i …``."""

    kind: str
    description: str
    args: tuple[str, ...]


def screen_source(
    display: str | None, window: str | None, fps: int, platform: str = sys.platform
) -> Source:
    """The whole screen, or one window, of this machine."""
    rate = ("-framerate", str(fps))
    if platform.startswith("linux"):
        where = display or ":0"
        extra = ("-window_id", window) if window else ()
        return Source(
            "window" if window else "display",
            f"x11grab {where}" + (f" window {window}" if window else ""),
            ("-f", "x11grab", *rate, *extra, "-i", where),
        )
    if platform == "win32":  # gdigrab: "desktop" or "title=<window title>"
        target = f"title={window}" if window else "desktop"
        return Source(
            "window" if window else "display",
            f"gdigrab {target}",
            ("-f", "gdigrab", *rate, "-i", target),
        )
    if platform == "darwin":  # avfoundation: "<screen device index>:none"
        device = f"{display or '1'}:none"
        return Source(
            "display", f"avfoundation {device}", ("-f", "avfoundation", *rate, "-i", device)
        )
    raise ValueError(f"screen capture is not supported on {platform}")


def camera_source(device: str | None, lavfi: str | None, fps: int) -> Source:
    """A V4L2 camera, or ffmpeg's synthetic source (``testsrc``…) read at its native rate."""
    if lavfi is not None:
        graph = lavfi if "=" in lavfi else f"{lavfi}=size=640x480:rate={fps}"
        return Source("lavfi", f"lavfi {graph}", ("-re", "-f", "lavfi", "-i", graph))
    path = device or "/dev/video0"
    return Source("camera", f"v4l2 {path}", ("-f", "v4l2", "-framerate", str(fps), "-i", path))


def encoder_args(fps: int, segment_seconds: int) -> tuple[str, ...]:
    """H.264 with a key frame at every segment boundary, so each segment plays on its own."""
    return (
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-r",
        str(fps),
        "-force_key_frames",
        f"expr:gte(t,n_forced*{segment_seconds})",
    )


def _escaped(text: str, special: str) -> str:
    """``text`` with each character of ``special`` backslash-escaped (ffmpeg's
    ``av_get_token`` takes any backslash-escaped character literally)."""
    return "".join("\\" + c if c in special else c for c in text)


#: The tee muxer reads its output list with ``av_get_token`` (outputs split at ``|``, quotes
#: and backslashes unescaped, whitespace trimmed), then each output's ``[key=value:…]`` values
#: with ``av_get_token`` again (split at ``:`` and ``]``): so a value is escaped twice, and a
#: file name (taken as it is after ``]``) once.
_TEE_OUTPUT_SPECIAL = "\\'| \t\n"
_TEE_VALUE_SPECIAL = "\\':=[]|"


def segment_argv(
    source: Source,
    segments_dir: Path,
    list_file: Path,
    *,
    fps: int,
    segment_seconds: int,
    duration: int | None,
    whole: Path | None = None,
) -> list[str]:
    """Record ``source`` into MPEG-TS segments of ``segment_seconds``; ffmpeg appends a line
    to ``list_file`` (CSV: name,start,end) only once a segment is closed.

    With ``whole``, the same encode is also written there as one MP4, through ffmpeg's
    ``tee`` muxer: the finished recording needs no join at the stop (no second ffmpeg, no
    second read of every segment). Its failure does not stop the segments (``onfail=ignore``),
    a failure of the segments stops the recording (the default, ``abort``)."""
    limit = ["-t", str(duration)] if duration is not None else []
    segment_options = [
        ("segment_time", str(segment_seconds)),
        ("segment_format", "mpegts"),
        ("reset_timestamps", "1"),
        ("segment_list", str(list_file)),
        ("segment_list_type", "csv"),
    ]
    head = [
        FFMPEG,
        "-nostdin",
        "-nostats",
        "-loglevel",
        "info",  # the banner names ffmpeg's version (version_from_log): no second process
        *source.args,
        *limit,
        *encoder_args(fps, segment_seconds),
    ]
    pattern = str(segments_dir / SEGMENT_PATTERN)
    if whole is None:
        flags = [arg for key, value in segment_options for arg in (f"-{key}", value)]
        return [*head, "-f", "segment", *flags, pattern]
    options = ":".join(
        f"{key}={_escaped(value, _TEE_VALUE_SPECIAL)}"
        for key, value in [("f", "segment"), *segment_options]
    )
    outputs = (f"[{options}]{pattern}", f"[f=mp4:onfail=ignore]{whole}")
    tee = "|".join(_escaped(output, _TEE_OUTPUT_SPECIAL) for output in outputs)
    return [*head, "-map", "0:v", "-f", "tee", tee]


def plain_argv(
    source: Source, output: Path, *, fps: int, segment_seconds: int, duration: int
) -> list[str]:
    """The same recording as :func:`segment_argv` into one file, with no live sealing (the
    benchmark's baseline)."""
    return [
        *QUIET_FFMPEG,
        *source.args,
        "-t",
        str(duration),
        *encoder_args(fps, segment_seconds),
        "-f",
        "mpegts",
        "-y",
        str(output),
    ]


def concat_argv(list_file: Path, output: Path) -> list[str]:
    """Join the segments without re-encoding (concat demuxer, ``-c copy``)."""
    return [
        *QUIET_FFMPEG,
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(list_file),
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        "-y",
        str(output),
    ]


def photo_argv(source: Source, output: Path) -> list[str]:
    """One still frame as JPEG (after a short warm-up, so a camera's exposure settles)."""
    return [
        *QUIET_FFMPEG,
        *source.args,
        "-frames:v",
        "1",
        "-q:v",
        "2",
        "-y",
        str(output),
    ]


def ffmpeg_version() -> str:
    """The first line of ``ffmpeg -version`` (for capture.json), or ``unknown``."""
    try:
        out = subprocess.run(
            [FFMPEG, "-hide_banner", "-version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except OSError:
        return "unknown"
    return out.splitlines()[0].strip() if out else "unknown"


def version_from_log(log: Path) -> str | None:
    """The ``ffmpeg version …`` banner line ffmpeg wrote first into its log, if it has."""
    try:
        with log.open("rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
    for line in head.splitlines():
        if line.startswith("ffmpeg version "):
            return line.strip()
    return None
