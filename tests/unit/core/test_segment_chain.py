"""The segment chain (docs/segment-chain.md): link maths, the chain file, and verification.

The property tests build a real chain with real tokens (the project's own TSA code) and show
that any modified, removed or reordered segment, and any rewritten chain, is caught by name.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.pki import make_pki
from tests.support.recordings import PKI, RID, Recording, make_recording, stamp_link
from timeseal.core.errors import MalformedError
from timeseal.core.segment_chain import (
    TAG_END,
    TAG_SEGMENT,
    TAG_START,
    ChainHeader,
    EndRecord,
    SegmentRecord,
    end_link,
    format_end,
    format_header,
    format_segment,
    parse_segment_chain,
    segment_link,
    start_link,
    token_name,
)
from timeseal.core.segment_report import SegmentChainReport
from timeseal.core.segment_verify import SegmentSource, verify_segment_chain
from timeseal.core.tsp.authority import format_rejection
from timeseal.core.tsp.response import FailureInfo
from timeseal.core.verification import Check, Status

# ---------------------------------------------------------------------------------------------
# Link maths: every byte as docs/segment-chain.md writes it.


def test_links_are_the_documented_hashes() -> None:
    start = hashlib.sha256(b"timeseal/segment-chain/v1/start\x00" + RID).digest()
    assert start_link(RID) == start
    sha = hashlib.sha256(b"abc").digest()
    want = hashlib.sha256(
        b"timeseal/segment-chain/v1/segment\x00"
        + start
        + (7).to_bytes(8, "big")
        + (3).to_bytes(8, "big")
        + sha
    ).digest()
    assert segment_link(start, 7, 3, sha) == want
    end = hashlib.sha256(
        b"timeseal/segment-chain/v1/end\x00"
        + want
        + (8).to_bytes(8, "big")
        + (3).to_bytes(8, "big")
        + sha
    ).digest()
    assert end_link(want, 8, 3, sha) == end


def test_tags_are_not_prefixes_of_each_other() -> None:
    tags = [TAG_START, TAG_SEGMENT, TAG_END]
    for a in tags:
        for b in tags:
            assert a == b or not b.startswith(a)


@pytest.mark.parametrize(
    "call",
    [
        lambda: start_link(b"short"),
        lambda: segment_link(b"x" * 31, 0, 0, b"y" * 32),
        lambda: segment_link(b"x" * 32, -1, 0, b"y" * 32),
        lambda: segment_link(b"x" * 32, 0, 2**64, b"y" * 32),
        lambda: end_link(b"x" * 32, 0, 0, b"y" * 33),
        lambda: SegmentRecord(0, "../evil.ts", 1, b"y" * 32, b"x" * 32),
        lambda: EndRecord(".hidden", 0, 1, b"y" * 32, b"x" * 32),
    ],
)
def test_bad_values_cannot_be_made(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=r"must|fit|unsafe"):
        call()


# ---------------------------------------------------------------------------------------------
# The chain file.


def test_chain_file_round_trips() -> None:
    rec = make_recording([b"a", b"bb", b"ccc"])
    chain = parse_segment_chain(rec.chain)
    assert chain.header.recording_id == RID
    assert [s.name for s in chain.segments] == ["seg_000000.ts", "seg_000001.ts", "seg_000002.ts"]
    assert [s.link for s in chain.segments] == rec.links
    assert chain.end is not None and chain.head == chain.end.link
    assert not chain.torn_tail
    rebuilt = format_header(chain.header) + b"".join(format_segment(s) for s in chain.segments)
    assert rebuilt + format_end(chain.end) == rec.chain


def test_a_torn_last_line_is_ignored() -> None:
    rec = make_recording([b"a", b"bb"], finished=False)
    chain = parse_segment_chain(rec.chain + b'{"index":2,"li')
    assert chain.torn_tail and len(chain.segments) == 2
    assert chain.head == rec.links[-1]


def test_an_empty_chain_has_the_start_as_head() -> None:
    chain = parse_segment_chain(format_header(ChainHeader(RID)))
    assert chain.head == start_link(RID) and chain.segments == ()


def _lines(rec: Recording) -> list[bytes]:
    return rec.chain.splitlines(keepends=True)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda ls: [], "no header"),
        (lambda ls: [ls[0].replace(b"/1", b"/2"), *ls[1:]], "format"),
        (lambda ls: [ls[0].replace(b'"start":"', b'"start":"00')[:-1][:-2] + b'"}\n'], "start"),
        (lambda ls: [ls[0], ls[2], ls[1]], "index 1, expected 0"),
        (lambda ls: [ls[0], ls[1].replace(b":", b": ", 1)], "not canonical"),
        (lambda ls: [ls[0], b"[1]\n"], "not a JSON object"),
        (lambda ls: [ls[0], ls[1].replace(b'"size"', b'"sizes"')], "keys"),
        (lambda ls: [ls[0], ls[1].replace(b'"name":"seg_', b'"name":"../')], "plain file name"),
        (lambda ls: [*ls, ls[-1]], "after the end"),
        (lambda ls: [ls[0], ls[1], ls[3]], "counts 2 segments"),
        (lambda ls: [ls[0], ls[1], ls[1].replace(b'"index":0', b'"index":1')], "repeats"),
        (lambda ls: [ls[0], ls[1].replace(b'"size":1', b'"size":-1')], "non-negative"),
        (lambda ls: [ls[0], ls[1].replace(b'"link":"', b'"link":"X')], "lowercase hex"),
        (lambda ls: [b"\xff\n"], "UTF-8"),
    ],
)
def test_parser_rejects(mutate: Callable[[list[bytes]], list[bytes]], message: str) -> None:
    rec = make_recording([b"a", b"bb"])
    with pytest.raises(MalformedError, match=message):
        parse_segment_chain(b"".join(mutate(_lines(rec))))


def test_parser_caps_size_and_type() -> None:
    with pytest.raises(TypeError):
        parse_segment_chain("text")  # type: ignore[arg-type]
    with pytest.raises(MalformedError, match="larger"):
        parse_segment_chain(b" " * (64 * 1024 * 1024 + 1))


# ---------------------------------------------------------------------------------------------
# Verification.


def test_a_finished_recording_verifies() -> None:
    result = verify(make_recording([b"a" * 100, b"b" * 50, b"c"]))
    assert result.ok, result.failed
    assert result.finished and result.sealed_through == 2
    assert [s.sealed_by for s in result.segments] == [token_name(0), token_name(1), token_name(2)]
    assert [t.head_index for t in result.tokens] == [0, 1, 2, 3]
    stop = result.section("stop")
    assert stop is not None and "finished: 3 segments" in stop.result.checks[0].detail


def verify(rec: Recording) -> SegmentChainReport:
    return rec.verify()


def test_segments_can_be_streamed_from_openers() -> None:
    rec = make_recording([b"a" * 10, b"b" * 20])
    opened: list[str] = []

    def opener(name: str) -> Callable[[], BinaryIO]:
        def open_() -> BinaryIO:
            opened.append(name)
            return io.BytesIO(rec.segments[name])

        return open_

    result = verify_segment_chain(
        {n: opener(n) for n in rec.segments},
        rec.chain,
        rec.tokens,
        [PKI.root.certificate],
        recording=lambda: io.BytesIO(rec.recording or b""),
    )
    assert result.ok and opened == sorted(rec.segments)


def test_a_cut_off_recording_reports_where_it_stops() -> None:
    """kill -9 after segment 3 was chained, before its head was sealed, while segment 4 was
    being written: segments 0-2 are sealed; 3 is reported unsealed, 4 the unfinished tail."""
    rec = make_recording([b"a", b"b", b"c", b"d"], sealed={0, 2}, finished=False)
    rec.segments["seg_000004.ts"] = b"half a segm"
    result = verify(rec)
    assert result.ok, result.failed
    assert not result.finished
    assert result.sealed_through == 2
    assert result.unsealed == ("seg_000003.ts",)
    assert result.tail == ("seg_000004.ts",)
    assert [s.sealed_by for s in result.segments] == [
        token_name(0),
        token_name(2),
        token_name(2),
        None,
    ]
    stop = result.section("stop")
    assert stop is not None
    detail = stop.result.checks[0].detail
    assert "sealed through segment 2 (seg_000002.ts)" in detail
    assert "chained, not sealed: seg_000003.ts" in detail
    assert "unfinished tail: seg_000004.ts" in detail


def test_nothing_sealed_is_a_failure() -> None:
    result = verify(make_recording([b"a", b"b"], sealed=set(), finished=False))
    assert result.failed == (("stop", Check.SEGMENT_CHAIN_END),)


def test_a_finished_recording_needs_its_end_sealed() -> None:
    rec = make_recording([b"a", b"b"])
    del rec.tokens[token_name(2)]
    result = verify(rec)
    assert result.failed == (("end", Check.SEGMENT_SEALED),)


def test_a_finished_recording_has_every_segment_sealed_or_fails() -> None:
    rec = make_recording([b"a", b"b"], sealed={0})
    del rec.tokens[token_name(2)]
    result = verify(rec)
    assert ("seg_000001.ts", Check.SEGMENT_SEALED) in result.failed


def test_the_joined_recording_is_checked() -> None:
    rec = make_recording([b"a", b"b"])
    rec.recording = b"ab!"
    assert verify(rec).failed == (("end", Check.FILE_SIZE), ("end", Check.FILE_SHA256))
    rec.recording = None
    assert verify(rec).failed == (("end", Check.FILE_PRESENT),)


def test_a_forged_end_link_is_caught() -> None:
    rec = make_recording([b"a"])
    lines = _lines(rec)
    lines[-1] = lines[-1].replace(b'"size":1', b'"size":2')
    rec.chain = b"".join(lines)
    rec.recording = b"ab"
    result = verify(rec)
    assert ("end", Check.SEGMENT_LINK) in result.failed


def test_a_segment_slipped_into_the_middle_is_caught() -> None:
    rec = make_recording([b"a", b"b"], finished=False)
    rec.segments["seg_000000a.ts"] = b"extra"
    assert verify(rec).failed == (("chain", Check.SEGMENT_LISTED),)
    finished = make_recording([b"a", b"b"])
    finished.segments["seg_000009.ts"] = b"after the end"
    assert verify(finished).failed == (("chain", Check.SEGMENT_LISTED),)


def test_a_token_over_another_chain_names_no_head() -> None:
    rec = make_recording([b"a"], finished=False)
    rec.tokens["head-000009.tsr"] = stamp_link(b"\x01" * 32, 77)
    assert verify(rec).failed == (("tokens/head-000009.tsr", Check.SEGMENT_HEAD),)


def test_a_token_from_an_untrusted_tsa_fails_and_seals_nothing() -> None:
    rec = make_recording([b"a"], sealed=set(), finished=False)
    rec.tokens[token_name(0)] = stamp_link(rec.links[0], 5, make_pki())
    result = verify(rec)
    assert (f"tokens/{token_name(0)}", Check.CHAIN_TRUSTED) in result.failed
    assert result.sealed_through is None


def test_a_malformed_token_is_named() -> None:
    rec = make_recording([b"a"], finished=False)
    rec.tokens["junk.tsr"] = b"not DER"
    assert verify(rec).failed == (("tokens/junk.tsr", Check.TOKEN_PARSES),)


def test_a_malformed_chain_is_one_failure() -> None:
    rec = make_recording([b"a"])
    rec.chain = b"garbage\n"
    result = verify(rec)
    assert result.failed == (("chain", Check.SEGMENT_CHAIN_FORMAT),)
    section = result.section("chain")
    assert section is not None and section.result.checks[1].status is Status.SKIPPED


def test_roots_are_required() -> None:
    rec = make_recording([b"a"])
    with pytest.raises(ValueError, match="root"):
        verify_segment_chain(dict[str, SegmentSource](rec.segments), rec.chain, rec.tokens, [])


def test_truncating_a_chain_yields_an_honest_cut_off_prefix() -> None:
    """Not a forgery: dropping the end and the last segments (with their tokens) leaves what
    the earlier tokens proved, and the report says the recording was cut off there."""
    rec = make_recording([b"a", b"b", b"c"])
    rec.chain = b"".join(_lines(rec)[:3])
    del rec.segments["seg_000002.ts"]
    for i in (2, 3):
        del rec.tokens[token_name(i)]
    rec.recording = None
    result = verify(rec)
    assert result.ok and not result.finished and result.sealed_through == 1


# ---------------------------------------------------------------------------------------------
# Properties: any modified, removed or reordered segment is caught, by name.

CONTENTS = st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=6, unique=True)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(contents=CONTENTS, finished=st.booleans(), data=st.data())
def test_any_modified_segment_is_caught(
    contents: list[bytes], finished: bool, data: st.DataObject
) -> None:
    rec = make_recording(contents, finished=finished)
    i = data.draw(st.integers(0, len(contents) - 1))
    name = f"seg_{i:06d}.ts"
    changed = data.draw(st.binary(max_size=40).filter(lambda b: b != contents[i]))
    rec.segments[name] = changed
    result = verify(rec)
    assert not result.ok
    assert (name, Check.SEGMENT_SHA256) in result.failed


@SETTINGS
@given(contents=CONTENTS, finished=st.booleans(), data=st.data())
def test_any_removed_segment_is_caught(
    contents: list[bytes], finished: bool, data: st.DataObject
) -> None:
    rec = make_recording(contents, finished=finished)
    i = data.draw(st.integers(0, len(contents) - 1))
    name = f"seg_{i:06d}.ts"
    del rec.segments[name]
    result = verify(rec)
    assert not result.ok
    assert (name, Check.SEGMENT_PRESENT) in result.failed


@SETTINGS
@given(contents=CONTENTS.filter(lambda c: len(c) >= 2), finished=st.booleans(), data=st.data())
def test_any_reordered_segments_are_caught(
    contents: list[bytes], finished: bool, data: st.DataObject
) -> None:
    """Files renamed into another order: each moved file fails its SHA-256."""
    rec = make_recording(contents, finished=finished)
    order = data.draw(st.permutations(range(len(contents))).filter(lambda p: p != sorted(p)))
    names = list(rec.segments)
    rec.segments = {names[i]: contents[j] for i, j in enumerate(order)}
    result = verify(rec)
    assert not result.ok
    moved = {names[i] for i, j in enumerate(order) if i != j}
    assert {(n, Check.SEGMENT_SHA256) for n in moved} <= set(result.failed)


@SETTINGS
@given(contents=CONTENTS.filter(lambda c: len(c) >= 2), data=st.data())
def test_reordered_chain_lines_are_caught(contents: list[bytes], data: st.DataObject) -> None:
    rec = make_recording(contents, finished=False)
    lines = _lines(rec)
    body = lines[1:]
    order = data.draw(st.permutations(range(len(body))).filter(lambda p: p != sorted(p)))
    rec.chain = lines[0] + b"".join(body[i] for i in order)
    assert verify(rec).failed == (("chain", Check.SEGMENT_CHAIN_FORMAT),)


@SETTINGS
@given(contents=CONTENTS, data=st.data())
def test_a_rewritten_chain_loses_its_tokens(contents: list[bytes], data: st.DataObject) -> None:
    """A forger who swaps segment i and recomputes every link from there on gets a
    self-consistent chain, but the tokens no longer name its links."""
    rec = make_recording(contents, finished=False)
    i = data.draw(st.integers(0, len(contents) - 1))
    forged = [*contents]
    forged[i] = data.draw(st.binary(min_size=1, max_size=40).filter(lambda b: b not in contents))
    rewritten = make_recording(forged, sealed=set(), finished=False)
    rewritten.tokens = rec.tokens
    result = verify(rewritten)
    assert not result.ok
    heads = {(f"tokens/{token_name(j)}", Check.SEGMENT_HEAD) for j in range(i, len(contents))}
    assert heads <= set(result.failed)


def test_a_token_beyond_a_broken_link_seals_nothing_before_it() -> None:
    """Forge segment 1 and its line (link[1] recomputed) but not the lines after: the
    original token over link[2] still matches line 2, yet it no longer commits to segment 1."""
    rec = make_recording([b"a", b"b", b"c"], finished=False)
    forged = make_recording([b"a", b"B", b"c"], sealed=set(), finished=False)
    lines = rec.chain.splitlines(keepends=True)
    lines[2] = forged.chain.splitlines(keepends=True)[2]
    rec.chain = b"".join(lines)
    rec.segments["seg_000001.ts"] = b"B"
    result = verify(rec)
    assert result.failed == (
        ("seg_000002.ts", Check.SEGMENT_LINK),
        (f"tokens/{token_name(1)}", Check.SEGMENT_HEAD),
    )
    assert [s.sealed_by for s in result.segments] == [token_name(0), None, None]
    assert result.sealed_through == 0


def test_parser_checks_the_start_link() -> None:
    header = format_header(ChainHeader(RID)).replace(start_link(RID).hex().encode(), (b"0" * 64))
    with pytest.raises(MalformedError, match="is not link"):
        parse_segment_chain(header)


def test_a_torn_chain_line_is_a_notice() -> None:
    rec = make_recording([b"a"], finished=False)
    rec.chain += b'{"index":1'
    result = verify(rec)
    assert result.ok and any("torn" in n for n in result.notices)


def test_a_refused_token_seals_nothing() -> None:
    rec = make_recording([b"a"], sealed=set(), finished=False)
    rec.tokens["refused.tsr"] = format_rejection(FailureInfo.BAD_ALG, "no")
    result = verify(rec)
    section = result.section("tokens/refused.tsr")
    assert section is not None
    assert section.result.failed == (Check.PKI_STATUS_GRANTED,)
    assert section.result.checks[1].status is Status.SKIPPED  # SEGMENT_HEAD
    assert result.sealed_through is None


def test_an_end_after_a_broken_link_is_not_sealed() -> None:
    rec = make_recording([b"a", b"b"])
    lines = _lines(rec)
    lines[1] = lines[1].replace(rec.links[0].hex().encode(), b"0" * 64)
    rec.chain = b"".join(lines)
    result = verify(rec)
    end = result.section("end")
    assert end is not None
    assert end.result.checks[-1].status is Status.SKIPPED
    assert ("seg_000000.ts", Check.SEGMENT_LINK) in result.failed


def test_the_end_token_alone_seals_every_segment() -> None:
    """--seal-every longer than the recording: only the end link is timestamped."""
    result = verify(make_recording([b"a", b"b", b"c"], sealed=set()))
    assert result.ok, result.failed
    assert [s.sealed_by for s in result.segments] == [token_name(3)] * 3
    assert result.sealed_through == 2
