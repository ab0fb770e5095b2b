"""The chain file on disk: append one line per closed segment, fsync before anything else.

A crash (``kill -9``, power cut) can only lose the line being written; the parser treats a
final partial line as torn and ignores it (docs/segment-chain.md). Nothing is ever rewritten.
"""

from __future__ import annotations

import os
from pathlib import Path

from timeseal.core.digest import digest_stream
from timeseal.core.files import fsync_dir
from timeseal.core.segment_chain import (
    ChainHeader,
    EndRecord,
    SegmentRecord,
    end_link,
    format_end,
    format_header,
    format_segment,
    segment_link,
)


class ChainJournal:
    """Appends to ``chain.jsonl``; keeps the head link and the segment count in memory."""

    def __init__(self, path: Path, recording_id: bytes) -> None:
        self.path = path
        self.header = ChainHeader(recording_id)
        self.head = self.header.start
        self.count = 0
        self._file = path.open("xb")  # a recording never reuses a chain file
        self._append(format_header(self.header))
        fsync_dir(path.parent)

    def _append(self, line: bytes) -> None:
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())

    def add_segment(self, segment: Path) -> SegmentRecord:
        """Hash a closed segment and chain it; durable when this returns."""
        with segment.open("rb") as f:
            sha256 = digest_stream(f)
            size = f.tell()
        link = segment_link(self.head, self.count, size, sha256)
        record = SegmentRecord(self.count, segment.name, size, sha256, link)
        self._append(format_segment(record))
        self.head, self.count = link, self.count + 1
        return record

    def end(self, recording: Path) -> EndRecord:
        """Bind the concatenated recording with the end link; the chain is then closed."""
        with recording.open("rb") as f:
            sha256 = digest_stream(f)
            size = f.tell()
        link = end_link(self.head, self.count, size, sha256)
        record = EndRecord(recording.name, self.count, size, sha256, link)
        self._append(format_end(record))
        self.head = link
        return record

    def close(self) -> None:
        self._file.close()
