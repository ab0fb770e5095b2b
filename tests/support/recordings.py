"""Recordings made in memory for tests: segments, their chain, real tokens over the heads
(the project's own TSA code and test PKI), as the recorder would leave them."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.pki import NOW, PKIFixture, make_pki
from timeseal.core.digest import HashAlgorithm
from timeseal.core.segment_chain import (
    ChainHeader,
    EndRecord,
    SegmentRecord,
    end_link,
    format_end,
    format_header,
    format_segment,
    segment_link,
    token_name,
)
from timeseal.core.segment_report import SegmentChainReport
from timeseal.core.segment_verify import SegmentSource, verify_segment_chain
from timeseal.core.tsp.request import build_request

RID = bytes(range(16))
PKI = make_pki()


@dataclass
class Recording:
    """An in-memory recording as the recorder would leave it."""

    segments: dict[str, bytes]
    chain: bytes
    tokens: dict[str, bytes] = field(default_factory=dict)
    links: list[bytes] = field(default_factory=list)
    recording: bytes | None = None

    def verify(self, pki: PKIFixture = PKI) -> SegmentChainReport:
        return verify_segment_chain(
            dict[str, SegmentSource](self.segments),
            self.chain,
            self.tokens,
            [pki.root.certificate],
            recording=self.recording,
        )


def stamp_link(link: bytes, serial: int, pki: PKIFixture = PKI) -> bytes:
    request = build_request(link, HashAlgorithm.SHA256, nonce=serial, cert_req=True)
    issued = pki.authority().issue(
        request, gen_time=NOW + dt.timedelta(seconds=serial), serial_number=serial
    )
    return issued.response_der


def make_recording(
    contents: list[bytes], *, sealed: set[int] | None = None, finished: bool = True
) -> Recording:
    """Chain ``contents`` as seg_000000.ts…; timestamp the heads in ``sealed`` (default: all),
    and at ``finished`` add the end record over a fake recording.mp4, timestamped too."""
    header = ChainHeader(RID)
    chain = format_header(header)
    link = header.start
    rec = Recording(segments={}, chain=b"")
    for i, data in enumerate(contents):
        name = f"seg_{i:06d}.ts"
        sha = hashlib.sha256(data).digest()
        link = segment_link(link, i, len(data), sha)
        chain += format_segment(SegmentRecord(i, name, len(data), sha, link))
        rec.segments[name] = data
        rec.links.append(link)
        if sealed is None or i in sealed:
            rec.tokens[token_name(i)] = stamp_link(link, i + 1)
    if finished:
        whole = b"".join(contents)
        sha = hashlib.sha256(whole).digest()
        link = end_link(link, len(contents), len(whole), sha)
        chain += format_end(EndRecord("recording.mp4", len(contents), len(whole), sha, link))
        rec.tokens[token_name(len(contents))] = stamp_link(link, 1000)
        rec.recording = whole
    rec.chain = chain
    return rec


def write_recording(rec: Recording, directory: Path) -> Path:
    """Lay ``rec`` out as the recorder's output directory."""
    (directory / "segments").mkdir(parents=True)
    (directory / "tokens").mkdir()
    for name, data in rec.segments.items():
        (directory / "segments" / name).write_bytes(data)
    for name, data in rec.tokens.items():
        (directory / "tokens" / name).write_bytes(data)
    (directory / "chain.jsonl").write_bytes(rec.chain)
    if rec.recording is not None:
        (directory / "recording.mp4").write_bytes(rec.recording)
    return directory
