"""A private X server (Xvfb) for tests that need real X11 windows and properties."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def xvfb_display() -> Iterator[str]:
    """Yield ``:N`` of a fresh Xvfb; fails (never skips) without Xvfb and x11-utils, which
    ``make test`` installs. ``-displayfd`` lets Xvfb pick a free display, so parallel runs
    never clash; ``-noreset`` keeps root-window properties after their setter disconnects."""
    for tool in ("Xvfb", "xprop", "xwininfo"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run `make test` (apt packages xvfb, x11-utils)")
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "640x480x24", "-nolisten", "tcp", "-noreset"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        number = process.stdout.readline().strip()  # written once the server is ready
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number.decode()}"
    finally:
        process.terminate()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def root_window_claiming(display: str, pid: int) -> int:
    """Give the root window a ``_NET_WM_PID`` (as an application sets on its own window) and
    return the root window's id."""
    subprocess.run(
        ["xprop", "-display", display, "-root", "-f", "_NET_WM_PID", "32c"]
        + ["-set", "_NET_WM_PID", str(pid)],
        check=True,
    )
    info = subprocess.run(
        ["xwininfo", "-display", display, "-root"], capture_output=True, text=True, check=True
    )
    return int(info.stdout.split("Window id:")[1].split()[0], 16)
