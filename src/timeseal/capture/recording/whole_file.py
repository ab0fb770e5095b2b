"""``recording.mp4`` at a normal stop: the file ffmpeg's ``tee`` output wrote alongside the
segments (``recording.mp4.part``), once ffmpeg finished it; else the chained segments joined,
in chain order, without re-encoding."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from timeseal.capture.recording.ffmpeg import concat_argv
from timeseal.capture.recording.mp4_boxes import is_finished_mp4
from timeseal.capture.recording.state import CHAIN_NAME
from timeseal.core.segment_chain import parse_segment_chain

RECORDING_NAME = "recording.mp4"
RECORDING_PART = RECORDING_NAME + ".part"


def take_finished_part(out: Path) -> Path | None:
    """``recording.mp4``, the finished part renamed (fsync'd first); None when ffmpeg did not
    finish it (killed at a stuck device)."""
    part, output = out / RECORDING_PART, out / RECORDING_NAME
    if not is_finished_mp4(part):
        return None
    with part.open("rb") as f:
        os.fsync(f.fileno())
    part.replace(output)
    return output


def join_chained_segments(out: Path, segments_dir: Path) -> str | None:
    """Join the segments ``chain.jsonl`` lists, in its order, into ``recording.mp4``
    (fsync'd); the end of ffmpeg's error output when it fails, else None."""
    chain = parse_segment_chain((out / CHAIN_NAME).read_bytes())
    names = [f"file '{(segments_dir / r.name).resolve()}'" for r in chain.segments]
    listing = out / "concat.txt"
    listing.write_text("\n".join(names) + "\n")
    output = out / RECORDING_NAME
    try:
        done = subprocess.run(
            concat_argv(listing, output), capture_output=True, text=True, check=False
        )
    finally:
        listing.unlink()
    if done.returncode != 0:
        return done.stderr[-2000:]
    with output.open("rb") as f:
        os.fsync(f.fileno())
    return None
