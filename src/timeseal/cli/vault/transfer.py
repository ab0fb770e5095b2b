"""What uploads and downloads share: the retry policy, the streamed SHA-256, the progress bar."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from timeseal.core.digest import digest_file

READ_SIZE = 1024 * 1024
DEFAULT_RETRIES = 8
DEFAULT_BACKOFF = 0.5
MAX_BACKOFF = 8.0

Advance = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failing step is tried again, waiting ``backoff`` × 2ⁿ (at most ``cap``)."""

    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    cap: float = MAX_BACKOFF

    def wait(self, failures: int) -> float:
        return float(min(self.backoff * 2 ** (failures - 1), self.cap))


def file_sha256(path: Path, advance: Advance | None = None) -> str:
    """The file's SHA-256 in hex; ``advance`` is told every piece hashed."""
    return digest_file(path, progress=advance).hex()


def progress_bar() -> Progress:
    """The transfer progress bar on stderr (hidden when stderr is not a terminal)."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )
