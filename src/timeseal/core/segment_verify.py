"""Verifying a live-sealed recording: its segments, the chain over them, the head tokens.

``verify_segment_chain`` runs, in order (docs/segment-chain.md "Verifying"):

(1) ``chain``: SEGMENT_CHAIN_FORMAT (the chain file parses), SEGMENT_LISTED (each segment file
    is chained, or after the last chained one: the unfinished tail, reported, not a failure).
(2) each chained segment: SEGMENT_PRESENT, SEGMENT_SIZE, SEGMENT_SHA256, SEGMENT_LINK (link[i]
    recomputes from the chain's link[i-1], i and the recorded size and SHA-256).
(3) each token (``tokens/<name>``): TOKEN_PARSES, SEGMENT_HEAD (its SHA-256 messageImprint is
    one of the chain's links), then every RFC 3161 check of ``TimestampVerifier`` with that link
    as the hashed message.
(4) SEGMENT_SEALED on every segment whose own checks passed and that a valid token covers: a
    token over link[j] seals segment i <= j when every link 0..j recomputes (it commits to
    segment i only through them); on a finished recording every segment must be sealed.
(5) ``end`` (finished recordings): FILE_PRESENT, FILE_SIZE, FILE_SHA256 of the concatenated
    file, SEGMENT_LINK of the end link, SEGMENT_SEALED by a token over it.
(6) ``stop``: SEGMENT_CHAIN_END — where the chain stops. A recording cut off mid-way passes
    when at least one segment is sealed; closed segments chained after the last token are
    listed as ``unsealed`` (not proven, not a failure), like the unfinished tail.

Nothing is trusted from file names: a token's head is found by its imprint. Revocation and
token-time ordering are *not* checked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import BinaryIO

from cryptography import x509

from timeseal.core.digest import HashAlgorithm, digest_stream
from timeseal.core.errors import MalformedError
from timeseal.core.package.report import Section
from timeseal.core.segment_chain import (
    SegmentChain,
    end_link,
    parse_segment_chain,
    segment_link,
)
from timeseal.core.segment_report import SegmentChainReport, SegmentStatus, TokenStatus
from timeseal.core.tsp.response import parse_response
from timeseal.core.tsp.verify import TimestampVerifier, TimestampVerifierBuilder
from timeseal.core.verification import Check, CheckResult, Status, VerificationResult

#: A segment's bytes, or a function that opens them (so a long recording need not be in
#: memory at once; the verifier closes what it opens).
SegmentSource = bytes | Callable[[], BinaryIO]


def _pass(check: Check, detail: str = "") -> CheckResult:
    return CheckResult(check, Status.PASS, detail)


def _fail(check: Check, detail: str) -> CheckResult:
    return CheckResult(check, Status.FAIL, detail)


def _skip(check: Check, because: Check) -> CheckResult:
    return CheckResult(check, Status.SKIPPED, f"needs {because.value}")


def _broken(check: Check) -> CheckResult:
    return CheckResult(check, Status.SKIPPED, "needs its own checks and every link to pass")


def _measure(source: SegmentSource) -> tuple[int, bytes]:
    """(size, SHA-256) of a segment's bytes."""
    if isinstance(source, bytes):
        return len(source), HashAlgorithm.SHA256.digest(source)
    with source() as stream:
        digest = digest_stream(stream)
        return stream.tell(), digest


def verify_segment_chain(
    segments: Mapping[str, SegmentSource],
    chain: bytes,
    tokens: Mapping[str, bytes],
    roots: Sequence[x509.Certificate],
    *,
    recording: SegmentSource | None = None,
) -> SegmentChainReport:
    """Verify a recording from its segment files (by name), chain file, head tokens (by file
    name, DER TimeStampResp) and the TSA trust anchors; ``recording`` is the concatenated file
    a finished chain's end record names. ``ValueError`` without roots."""
    builder = TimestampVerifierBuilder()
    for root in roots:
        builder = builder.add_root(root)
    verifier = builder.build()
    try:
        parsed = parse_segment_chain(chain)
    except MalformedError as exc:
        result = VerificationResult(
            (
                _fail(Check.SEGMENT_CHAIN_FORMAT, str(exc)),
                _skip(Check.SEGMENT_LISTED, Check.SEGMENT_CHAIN_FORMAT),
            )
        )
        return SegmentChainReport(sections=(Section("chain", result),))
    return _Run(parsed, segments, tokens, verifier, recording).report()


class _Run:
    def __init__(
        self,
        chain: SegmentChain,
        files: Mapping[str, SegmentSource],
        tokens: Mapping[str, bytes],
        verifier: TimestampVerifier,
        recording: SegmentSource | None,
    ) -> None:
        self.chain = chain
        self.files = files
        self.tokens = tokens
        self.verifier = verifier
        self.recording = recording
        self.notices: list[str] = []

    def report(self) -> SegmentChainReport:
        chain = self.chain
        listed, tail = self._listed()
        sections = [
            Section("chain", VerificationResult((_pass(Check.SEGMENT_CHAIN_FORMAT), listed)))
        ]
        if chain.torn_tail:
            self.notices.append("链文件末行写入未完成，已忽略 the chain file ends in a torn line")
        segment_checks = [self._segment(r.index) for r in chain.segments]
        links_ok_through = self._links_ok_through(segment_checks)
        links = {r.link: r.index for r in chain.segments}
        end_index = len(chain.segments)
        if chain.end is not None:
            links[chain.end.link] = end_index
        token_sections, statuses = self._tokens(links)
        seal_sections, seg_status, unsealed, sealed_through = self._seal_segments(
            segment_checks, statuses, links_ok_through
        )
        sections += seal_sections
        sections.extend(token_sections)
        if chain.end is not None:
            end_seals = [s for s in statuses if s.ok and s.head_index == end_index]
            sound = links_ok_through >= end_index - 1
            sections.append(Section("end", self._end(end_seals, sound)))
        sections.append(Section("stop", self._stop(sealed_through, unsealed, tail)))
        return SegmentChainReport(
            sections=tuple(sections),
            segments=tuple(seg_status),
            tokens=tuple(statuses),
            finished=chain.end is not None,
            sealed_through=sealed_through,
            unsealed=tuple(unsealed),
            tail=tuple(tail),
            notices=tuple(self.notices),
        )

    def _links_ok_through(self, segment_checks: list[list[CheckResult]]) -> int:
        """The index of the last link that recomputes with every link before it (-1: none);
        the end link counts as index ``len(segments)``."""
        # A token over link[j] commits to segment i <= j only through links i..j, so it seals
        # i when every link up to j recomputes and segment i's own file matches its line.
        links_ok_through = -1
        for checks in segment_checks:
            if checks[-1].status is not Status.PASS:  # SEGMENT_LINK is last
                break
            links_ok_through += 1
        end_index = len(self.chain.segments)
        if links_ok_through == end_index - 1 and self.chain.end is not None and self._end_link_ok():
            return end_index  # the end link recomputes too
        return links_ok_through

    def _seal_segments(
        self,
        segment_checks: list[list[CheckResult]],
        statuses: list[TokenStatus],
        links_ok_through: int,
    ) -> tuple[list[Section], list[SegmentStatus], list[str], int | None]:
        """(4) SEGMENT_SEALED on each segment: its sections, statuses, the chained segments no
        token covers (cut-off recordings only) and the index of the last sealed one."""
        # Seals: (head index, time, token name) of valid tokens over a sound chain prefix.
        seals = sorted(
            (s.head_index, s.gen_time or dt.datetime.max.replace(tzinfo=dt.UTC), s.name)
            for s in statuses
            if s.ok and s.head_index is not None and s.head_index <= links_ok_through
        )
        sections: list[Section] = []
        seg_status: list[SegmentStatus] = []
        unsealed: list[str] = []
        sealed_through: int | None = None
        for record, checks in zip(self.chain.segments, segment_checks, strict=True):
            own_ok = all(c.status is Status.PASS for c in checks)
            seal = next((s for s in seals if s[0] >= record.index), None) if own_ok else None
            if seal is not None:
                checks.append(_pass(Check.SEGMENT_SEALED, f"{seal[2]} at {seal[1].isoformat()}"))
                sealed_through = record.index
            elif self.chain.end is not None:
                if own_ok and record.index <= links_ok_through:
                    checks.append(_fail(Check.SEGMENT_SEALED, "no valid token covers it"))
                else:
                    checks.append(_broken(Check.SEGMENT_SEALED))
            else:
                unsealed.append(record.name)
            seg_status.append(
                SegmentStatus(
                    record.index,
                    record.name,
                    record.size,
                    record.sha256,
                    record.link,
                    None if seal is None else seal[2],
                    None if seal is None else seal[1],
                )
            )
            sections.append(Section(record.name, VerificationResult(tuple(checks))))
        return sections, seg_status, unsealed, sealed_through

    def _listed(self) -> tuple[CheckResult, list[str]]:
        """(1) Files not in the chain: after its last name they are the unfinished tail (only
        while the recording was cut off); anywhere else they were slipped in."""
        chained = {r.name for r in self.chain.segments}
        last = self.chain.segments[-1].name if self.chain.segments else ""
        extra = sorted(set(self.files) - chained)
        stray = [n for n in extra if n <= last or self.chain.end is not None]
        tail = [n for n in extra if n not in stray]
        if stray:
            return _fail(Check.SEGMENT_LISTED, f"not in the chain: {', '.join(stray)}"), tail
        return _pass(
            Check.SEGMENT_LISTED, f"unfinished tail: {', '.join(tail)}" if tail else ""
        ), tail

    def _segment(self, index: int) -> list[CheckResult]:
        """(2) One chained segment against its file and its neighbour link."""
        record = self.chain.segments[index]
        previous = self.chain.segments[index - 1].link if index else self.chain.header.start
        want = segment_link(previous, index, record.size, record.sha256)
        link = (
            _pass(Check.SEGMENT_LINK)
            if want == record.link
            else _fail(
                Check.SEGMENT_LINK,
                f"link mismatch: chained {record.link.hex()}, computed {want.hex()}",
            )
        )
        source = self.files.get(record.name)
        if source is None:
            return [
                _fail(Check.SEGMENT_PRESENT, f"{record.name} is missing"),
                _skip(Check.SEGMENT_SIZE, Check.SEGMENT_PRESENT),
                _skip(Check.SEGMENT_SHA256, Check.SEGMENT_PRESENT),
                link,
            ]
        size, sha256 = _measure(source)
        return [
            _pass(Check.SEGMENT_PRESENT),
            _pass(Check.SEGMENT_SIZE)
            if size == record.size
            else _fail(Check.SEGMENT_SIZE, f"size mismatch: chained {record.size}, file {size}"),
            _pass(Check.SEGMENT_SHA256)
            if sha256 == record.sha256
            else _fail(
                Check.SEGMENT_SHA256,
                f"SHA-256 mismatch: chained {record.sha256.hex()}, file {sha256.hex()}",
            ),
            link,
        ]

    def _tokens(self, links: dict[bytes, int]) -> tuple[list[Section], list[TokenStatus]]:
        """(3) Each token: parses, names a link of this chain, verifies over that link."""
        sections: list[Section] = []
        statuses: list[TokenStatus] = []
        for name in sorted(self.tokens):
            subject = f"tokens/{name}"
            try:
                response = parse_response(self.tokens[name])
            except MalformedError as exc:
                result = VerificationResult((_fail(Check.TOKEN_PARSES, str(exc)),))
                sections.append(Section(subject, result))
                statuses.append(TokenStatus(name, None, None, False))
                continue
            checks = [_pass(Check.TOKEN_PARSES)]
            head: int | None = None
            hashed = b""
            if response.token is None:
                checks.append(_skip(Check.SEGMENT_HEAD, Check.PKI_STATUS_GRANTED))
            else:
                tst = response.token.tst_info
                head = (
                    links.get(tst.message_imprint)
                    if tst.hash_algorithm is HashAlgorithm.SHA256
                    else None
                )
                if head is None:
                    checks.append(
                        _fail(
                            Check.SEGMENT_HEAD,
                            f"imprint {tst.hash_algorithm.name} {tst.message_imprint.hex()} "
                            "is no link of this chain",
                        )
                    )
                else:
                    checks.append(_pass(Check.SEGMENT_HEAD, f"link[{head}]"))
                # SEGMENT_HEAD is what binds the token to this chain (the imprint *is* a link);
                # the RFC 3161 checks then verify the token over its own imprint.
                hashed = tst.message_imprint
            verified = self.verifier.verify(response, hashed)
            result = VerificationResult((*checks, *verified.checks))
            sections.append(Section(subject, result))
            gen_time = response.token.tst_info.gen_time if response.token else None
            statuses.append(TokenStatus(name, head, gen_time, result.ok))
        return sections, statuses

    def _end_link_ok(self) -> bool:
        end = self.chain.end
        assert end is not None
        return end.link == end_link(self.chain.head_before_end, end.segments, end.size, end.sha256)

    def _end(self, seals: list[TokenStatus], sound: bool) -> VerificationResult:
        """(5) The end record: the concatenated file and the end link, sealed."""
        end = self.chain.end
        assert end is not None
        checks: list[CheckResult] = []
        if self.recording is None:
            checks += [
                _fail(Check.FILE_PRESENT, f"{end.name} is missing"),
                _skip(Check.FILE_SIZE, Check.FILE_PRESENT),
                _skip(Check.FILE_SHA256, Check.FILE_PRESENT),
            ]
        else:
            size, sha256 = _measure(self.recording)
            checks.append(_pass(Check.FILE_PRESENT, end.name))
            checks.append(
                _pass(Check.FILE_SIZE)
                if size == end.size
                else _fail(Check.FILE_SIZE, f"size mismatch: chained {end.size}, file {size}")
            )
            checks.append(
                _pass(Check.FILE_SHA256)
                if sha256 == end.sha256
                else _fail(
                    Check.FILE_SHA256,
                    f"SHA-256 mismatch: chained {end.sha256.hex()}, file {sha256.hex()}",
                )
            )
        want = end_link(self.chain.head_before_end, end.segments, end.size, end.sha256)
        if want != end.link:
            checks.append(
                _fail(
                    Check.SEGMENT_LINK,
                    f"end link mismatch: chained {end.link.hex()}, computed {want.hex()}",
                )
            )
            checks.append(_skip(Check.SEGMENT_SEALED, Check.SEGMENT_LINK))
            return VerificationResult(tuple(checks))
        checks.append(_pass(Check.SEGMENT_LINK))
        if not sound:
            checks.append(_broken(Check.SEGMENT_SEALED))
        elif not seals:
            checks.append(_fail(Check.SEGMENT_SEALED, "no valid token over the end link"))
        else:
            when = "" if seals[0].gen_time is None else f" at {seals[0].gen_time.isoformat()}"
            checks.append(_pass(Check.SEGMENT_SEALED, f"{seals[0].name}{when}"))
        return VerificationResult(tuple(checks))

    def _stop(
        self, sealed_through: int | None, unsealed: list[str], tail: list[str]
    ) -> VerificationResult:
        """(6) Where the chain stops, in words a person can read."""
        n = len(self.chain.segments)
        if self.chain.end is not None:
            return VerificationResult(
                (_pass(Check.SEGMENT_CHAIN_END, f"finished: {n} segments, {self.chain.end.name}"),)
            )
        if sealed_through is None:
            return VerificationResult(
                (
                    _fail(
                        Check.SEGMENT_CHAIN_END, f"cut off: none of {n} chained segments is sealed"
                    ),
                )
            )
        last = self.chain.segments[sealed_through].name
        detail = f"cut off: sealed through segment {sealed_through} ({last})"
        if unsealed:
            detail += f"; chained, not sealed: {', '.join(unsealed)}"
        if tail:
            detail += f"; unfinished tail: {', '.join(tail)}"
        return VerificationResult((_pass(Check.SEGMENT_CHAIN_END, detail),))
