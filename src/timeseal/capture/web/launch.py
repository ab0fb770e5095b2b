"""Starting the system Chromium through Playwright: a fresh profile, the flags, and the
ffmpeg Playwright needs for video.

Playwright's own browser downloads are never used (they cannot be fetched on machines without
the internet, and a court-facing tool should run the distribution's audited Chromium). Video
recording, though, looks for Playwright's ffmpeg build under
``$PLAYWRIGHT_BROWSERS_PATH/ffmpeg-<revision>/ffmpeg-linux``. We give it the system ffmpeg by
making that path a symlink inside the capture's temporary directory, with the revision read
from the installed Playwright's ``browsers.json`` — nothing is written outside the capture.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import playwright
from playwright.sync_api import Playwright, ViewportSize, sync_playwright

from timeseal.capture.settings import CHROMIUM_ENV, chromium_from_env
from timeseal.capture.web.errors import WebCaptureError

#: Quiet, reproducible Chromium: no sync, no component or background updates during a capture
#: (their traffic would land in the WACZ); ``--no-sandbox`` because captures may run as root
#: in containers, where Chromium's sandbox cannot start.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
)
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}

_FFMPEG_NAMES = {"linux": "ffmpeg-linux", "darwin": "ffmpeg-mac", "win32": "ffmpeg-win64.exe"}


def chromium_executable() -> str:
    path = chromium_from_env() or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise WebCaptureError(
            f"找不到 Chromium（请安装 chromium 软件包或设置 {CHROMIUM_ENV}）"
            f" Chromium not found: install the chromium package or set {CHROMIUM_ENV}"
        )
    return path


def ffmpeg_revision() -> str:
    """The ffmpeg revision the installed Playwright driver expects."""
    browsers = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    try:
        data = json.loads(browsers.read_text())
        revisions = [b["revision"] for b in data["browsers"] if b["name"] == "ffmpeg"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WebCaptureError(f"cannot read Playwright's {browsers}: {exc}") from exc
    if len(revisions) != 1:
        raise WebCaptureError(f"Playwright's {browsers} names no single ffmpeg revision")
    return str(revisions[0])


def prepare_browsers_path(directory: Path) -> Path:
    """``directory/ffmpeg-<rev>/ffmpeg-linux`` -> the system ffmpeg; returns ``directory``."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise WebCaptureError(
            "找不到 ffmpeg（录像需要）ffmpeg not found: install the ffmpeg package (video)"
        )
    name = _FFMPEG_NAMES.get(sys.platform, "ffmpeg-linux")
    target = directory / f"ffmpeg-{ffmpeg_revision()}" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(ffmpeg)
    return directory


@contextmanager
def playwright_session(browsers_path: Path) -> Iterator[Playwright]:
    """``sync_playwright()`` whose driver sees ``PLAYWRIGHT_BROWSERS_PATH=browsers_path``.

    The driver process reads the variable when it starts, so it is set only around the start
    and the caller's environment is restored at once."""
    prepare_browsers_path(browsers_path)
    saved = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    os.environ["PLAYWRIGHT_BROWSERS_PATH"] = str(browsers_path)
    manager = sync_playwright()
    try:
        p = manager.start()
    finally:
        if saved is None:
            os.environ.pop("PLAYWRIGHT_BROWSERS_PATH", None)
        else:
            os.environ["PLAYWRIGHT_BROWSERS_PATH"] = saved
    try:
        yield p
    finally:
        p.stop()
