"""Running the system's own tools (gsettings, systemd-detect-virt, xprop, dpkg, openssl).

Checks take a :data:`Runner` so that tests can hand in canned answers; the real one never
raises for a missing tool or a non-zero exit, because an absent tool is itself a finding
("not checked"), not an error of the check.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str = ""


#: Runs argv; ``None`` when the program is not installed or did not finish in time.
Runner = Callable[[Sequence[str]], CommandResult | None]


def run_command(
    argv: Sequence[str], timeout: float = 10.0, stdin: str = ""
) -> CommandResult | None:
    """Run a system tool without a shell; ``None`` if it is missing or hangs."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return CommandResult(done.returncode, done.stdout, done.stderr)
