"""Reading ffmpeg's segment list as it grows: a line appears only once a segment is closed.

The segment muxer writes ``name,start,end`` (``-segment_list_type csv``) after it has
finished writing that segment's file, so a complete line means a complete, playable segment.
"""

from __future__ import annotations

from pathlib import Path


class SegmentListReader:
    """Returns the names of newly closed segments on each :meth:`poll`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def poll(self) -> list[str]:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []  # a line still being written
        self._offset += end + 1
        names = []
        for line in data[: end + 1].decode("utf-8").splitlines():
            name = line.split(",", 1)[0].strip().strip('"')
            if name:
                names.append(name)
        return names
