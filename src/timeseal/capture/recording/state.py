"""Recordings that may still owe a head token, for ``timeseal sync`` to find.

The recorder registers each recording as it starts, in the offline queue's directory
(``$XDG_DATA_HOME/timeseal/queue/recordings/<recording_id>.json``, mode 0700, written
atomically)::

    {"format": "timeseal-recording-state/1", "recording_id": "<32 hex>",
     "directory": "/abs/shop-chat", "server": "http://127.0.0.1:8000"}

and removes the file only after a normal stop whose newest head (the end link) got its
token. A recording killed (``kill -9``, a flat battery) or stopped while the TSA could not be
reached stays registered, and ``timeseal sync`` seals its newest head then
(:func:`seal_newest_head`): a token over the newest link of ``chain.jsonl`` covers every
segment chained before the cut. Its genTime is the sync time, honestly later than the
recording; only the newest head is stamped, as the recorder itself does (older heads would get
the same late time and prove nothing more). Segments ffmpeg closed after the recorder died are
not chained afterwards: what the recorder did not chain while it ran stays unchained.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from timeseal.capture.clients.tsa import StampResult
from timeseal.capture.offline.queue import QueueError, queue_dir
from timeseal.capture.recording.head_sealer import StampFn
from timeseal.core.digest import digest_stream
from timeseal.core.errors import MalformedError
from timeseal.core.files import write_durably
from timeseal.core.segment_chain import parse_segment_chain, token_name

FORMAT: Final = "timeseal-recording-state/1"
SUBDIR: Final = "recordings"
CHAIN_NAME: Final = "chain.jsonl"
TOKENS_DIR: Final = "tokens"


@dataclass(frozen=True, slots=True)
class RecordingState:
    recording_id: str
    directory: Path
    server: str

    def to_json(self) -> dict[str, str]:
        return {
            "format": FORMAT,
            "recording_id": self.recording_id,
            "directory": str(self.directory),
            "server": self.server,
        }

    @classmethod
    def from_json(cls, obj: object) -> RecordingState:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise QueueError(f"not a {FORMAT} file")
        values = [obj.get(k) for k in ("recording_id", "directory", "server")]
        if not all(isinstance(v, str) and v for v in values):
            raise QueueError("recording_id, directory and server must be strings")
        rid, directory, server = (str(v) for v in values)
        if len(rid) != 32 or any(c not in "0123456789abcdef" for c in rid):
            raise QueueError(f"bad recording id {rid!r}")
        return cls(rid, Path(directory), server)


def state_dir(base: Path | None = None) -> Path:
    return (base or queue_dir()) / SUBDIR


def _path(recording_id: str, base: Path | None) -> Path:
    return state_dir(base) / f"{recording_id}.json"


def register(state: RecordingState, base: Path | None = None) -> Path:
    """Record that ``state``'s recording may owe a head token (atomically, durably)."""
    directory = state_dir(base)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = _path(state.recording_id, base)
    write_durably(path, json.dumps(state.to_json(), sort_keys=True).encode() + b"\n")
    os.chmod(path, 0o600)
    return path


def unregister(recording_id: str, base: Path | None = None) -> None:
    _path(recording_id, base).unlink(missing_ok=True)


def registered(base: Path | None = None) -> tuple[list[RecordingState], list[str]]:
    """Every registered recording, and a message for each file that could not be read."""
    directory = state_dir(base)
    states: list[RecordingState] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            states.append(RecordingState.from_json(json.loads(path.read_text("utf-8"))))
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: {exc}")
    return states, problems


@dataclass(frozen=True, slots=True)
class NewestHead:
    index: int  # the head index as token names count it (the end link: the segment count)
    link: bytes
    token: Path

    @property
    def sealed(self) -> bool:
        return self.token.is_file()


def newest_head(directory: Path) -> NewestHead | None:
    """The newest link of the recording's chain and where its token goes; None when nothing
    was chained. Raises :class:`MalformedError` for a chain that does not parse."""
    chain = parse_segment_chain((directory / CHAIN_NAME).read_bytes())
    if chain.end is not None:
        index, link = len(chain.segments), chain.end.link
    elif chain.segments:
        index, link = chain.segments[-1].index, chain.segments[-1].link
    else:
        return None
    return NewestHead(index, link, directory / TOKENS_DIR / token_name(index))


START_NAME: Final = "capture-start.json"


def seal_start_metadata(directory: Path, stamp: StampFn) -> StampResult | None:
    """``capture-start.json.tsr`` when the recording started offline (its token then says
    the sync time); None when there was nothing to do."""
    start = directory / START_NAME
    token = directory / f"{START_NAME}.tsr"
    if not start.is_file() or token.is_file():
        return None
    with start.open("rb") as f:
        result = stamp(digest_stream(f))
    write_durably(token, result.response.der)
    return result


def seal_newest_head(directory: Path, stamp: StampFn) -> tuple[NewestHead, StampResult] | None:
    """Timestamp the newest head unless it has its token; the head and the new token, or None
    when there was nothing to do. Raises ``TSAClientError``, ``MalformedError``, ``OSError``."""
    head = newest_head(directory)
    if head is None or head.sealed:
        return None
    result = stamp(head.link)
    if result.response.token is None:
        raise MalformedError("the TSA answered without a token")
    head.token.parent.mkdir(exist_ok=True)
    write_durably(head.token, result.response.der)
    return head, result
