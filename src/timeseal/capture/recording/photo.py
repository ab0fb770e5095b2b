"""One still from a camera (or ffmpeg's ``lavfi`` test source), timestamped at once.

Output directory: ``photo.jpg`` with ``photo.jpg.tsr`` beside it (so ``timeseal verify
DIR/photo.jpg`` checks it as any file), and ``capture.json`` (with the environment check's
report) with ``capture.json.tsr``.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass
from pathlib import Path

from timeseal.capture.errors import CaptureError
from timeseal.capture.recording import capture_json as capture_meta
from timeseal.capture.recording.ffmpeg import Source, ffmpeg_version, photo_argv
from timeseal.capture.recording.head_sealer import StampFn
from timeseal.core.digest import digest_stream
from timeseal.core.files import write_durably
from timeseal.core.package.canonical import JSONValue

PHOTO_NAME = "photo.jpg"


class PhotoError(CaptureError):
    """ffmpeg could not take the picture."""


@dataclass(frozen=True, slots=True)
class Photo:
    path: Path
    token: Path
    sha256: bytes
    gen_time: dt.datetime


def take_photo(
    source: Source,
    output_dir: Path,
    stamp: StampFn,
    location: dict[str, JSONValue] | None,
    environment_check: dict[str, JSONValue] | None = None,
) -> Photo:
    """Take the still, timestamp its SHA-256, then write and timestamp capture.json (with
    ``environment_check``, the report of the check run before the still was taken).
    ``TSAClientError`` propagates: a photo that is not sealed is not reported as taken."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / PHOTO_NAME
    started = dt.datetime.now(dt.UTC)
    argv = photo_argv(source, path)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0 or not path.exists():
        raise PhotoError(f"ffmpeg could not take the photo: {done.stderr[-2000:]}")
    with path.open("rb") as f:
        digest = digest_stream(f)
    stamped = stamp(digest)
    assert stamped.response.token is not None
    token = path.with_name(path.name + ".tsr")
    write_durably(token, stamped.response.der)
    meta: dict[str, JSONValue] = {
        "kind": "photo",
        "started_at": capture_meta.rfc3339(started),
        "ended_at": capture_meta.rfc3339(dt.datetime.now(dt.UTC)),
        "source": {"kind": source.kind, "description": source.description},
        "device": capture_meta.device_info(),
        "software": capture_meta.software_info(ffmpeg_version()),
        "ffmpeg_argv": list(argv),
        "location": location,
        "environment_check": environment_check,
        "photo": {"name": PHOTO_NAME, "sha256": digest.hex()},
    }
    capture = output_dir / "capture.json"
    write_durably(capture, capture_meta.format_capture(meta))
    with capture.open("rb") as f:
        meta_stamp = stamp(digest_stream(f))
    write_durably(capture.with_name(capture.name + ".tsr"), meta_stamp.response.der)
    return Photo(path, token, digest, stamped.response.token.tst_info.gen_time)
