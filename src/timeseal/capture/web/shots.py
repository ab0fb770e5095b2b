"""Full-page screenshots, numbered in the order they were taken (``screenshots/NN-name.png``),
each logged with its SHA-256 so the log ties every picture to its moment."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page

from timeseal.capture.web.oplog import OperationLog

SCREENSHOT_DIR = "screenshots"


@dataclass
class Screenshots:
    directory: Path
    oplog: OperationLog
    taken: list[Path] = field(default_factory=list)

    def take(self, page: Page, name: str, *, source: str) -> Path:
        path = self.directory / f"{len(self.taken) + 1:02d}-{name}.png"
        data = page.screenshot(path=path, full_page=True)
        self.taken.append(path)
        self.oplog.record(
            "screenshot",
            {
                "name": name,
                "file": f"{SCREENSHOT_DIR}/{path.name}",
                "sha256": hashlib.sha256(data).hexdigest(),
                "url": page.url,
                "source": source,
            },
        )
        return path
