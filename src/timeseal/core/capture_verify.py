"""Verifying a web capture directory offline: the files ``timeseal capture web`` wrote, bound
to ``capture.json`` and each to its own RFC 3161 token.

A web capture directory is sealed as it lies on disk (``timeseal.capture.web.seal``): every
output file ``F`` has ``F.tsr``, a token over its SHA-256; ``capture.json`` lists every output
file with its size and SHA-256 and has ``capture.json.tsr``. So the token over
``capture.json`` fixes the whole file list in time, and each file's own token fixes the file.
``verify_capture_directory`` runs, in this order, with sections named as in
:func:`timeseal.core.package.verify_package` (so the same reports print them):

(1) capture.json        MANIFEST_CANONICAL (canonical JSON: rewritten by hand fails),
                        MANIFEST_SCHEMA (format ``timeseal-web-capture/1``, ``started_at``, a
                        ``files`` list of safe relative paths, sizes and SHA-256), TRUST_ANCHOR
(2) capture.json.tsr    TOKEN_PARSES, the RFC 3161 checks over SHA-256 of capture.json as
                        found, CAPTURE_WINDOW
(3) every listed file   FILE_PRESENT, FILE_SIZE, FILE_SHA256 against capture.json; then
                        TOKEN_PARSES, the RFC 3161 checks over the file's bytes as found,
                        CAPTURE_WINDOW for ``F.tsr``
(4) every other file    FILE_LISTED fails: a file in the directory capture.json does not
                        list (and that is not a listed file's token) was added afterwards

Besides the checks, the report's ``reasons`` say what makes the capture incomplete or less
trusted (:mod:`timeseal.core.verdict`): a listed file that is missing (OUTPUT_MISSING, which
excuses its FILE_PRESENT and IMPRINT_MATCHES failures), a web archive ``network.file`` names
that is not listed, and what :func:`~timeseal.core.verdict.capture_findings` reads in
capture.json (stopped with an error, an HTTP error page, a forced environment check).

Trust comes only from ``roots``: a directory carries no certificates of its own, so without
roots TRUST_ANCHOR fails and the token checks are skipped. Each file is read once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import BinaryIO, Final

from cryptography import x509

from timeseal.core.digest import HashAlgorithm, digest_stream
from timeseal.core.errors import MalformedError, TimeSealError
from timeseal.core.package._rules import Checks, fingerprint, not_before_start
from timeseal.core.package.canonical import JSONValue, parse_canonical_json
from timeseal.core.package.report import PackageReport, Section
from timeseal.core.tsp.response import TimeStampResponse, TSTInfo, parse_response
from timeseal.core.tsp.verify import TOKEN_CHECKS, TimestampVerifier, TimestampVerifierBuilder
from timeseal.core.verdict import Finding, Reason, capture_findings
from timeseal.core.verification import Check

WEB_CAPTURE_FORMAT: Final = "timeseal-web-capture/1"
METADATA: Final = "capture.json"
TOKEN_SUFFIX: Final = ".tsr"
METADATA_TOKEN: Final = METADATA + TOKEN_SUFFIX

Opener = Callable[[], BinaryIO]


def verify_capture_directory(
    files: Mapping[str, Opener], roots: Sequence[x509.Certificate]
) -> PackageReport:
    """Verify the capture whose files are ``files`` (every regular file of the directory, by
    relative POSIX path, ``capture.json`` and the tokens among them). See the module
    docstring; nothing is raised for a bad capture, only read errors (``OSError``)."""
    return _Run(files, tuple(roots)).run()


def _read(opener: Opener) -> bytes:
    with opener() as f:
        return f.read()


def _sha256(opener: Opener) -> tuple[bytes, int]:
    sizes: list[int] = []
    with opener() as f:
        digest = digest_stream(f, progress=sizes.append)
    return digest, sum(sizes)


class _Listed:
    """One entry of capture.json's ``files``."""

    def __init__(self, path: str, size: int, sha256: bytes) -> None:
        self.path = path
        self.size = size
        self.sha256 = sha256


def _safe_path(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def _parse_files(value: JSONValue) -> list[_Listed]:
    if not isinstance(value, list) or not value:
        raise MalformedError("files must be a non-empty list")
    listed: list[_Listed] = []
    for entry in value:
        if not isinstance(entry, dict):
            raise MalformedError("every files entry must be an object")
        path, size, sha = entry.get("path"), entry.get("size"), entry.get("sha256")
        if not isinstance(path, str) or not _safe_path(path) or path.endswith(TOKEN_SUFFIX):
            raise MalformedError(f"unsafe or invalid file path {path!r}")
        if path == METADATA or any(item.path == path for item in listed):
            raise MalformedError(f"{path} is listed twice or is capture.json itself")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise MalformedError(f"{path}: size must be a non-negative integer")
        if not isinstance(sha, str) or len(sha) != 64:
            raise MalformedError(f"{path}: sha256 must be 64 hex digits")
        try:
            digest = bytes.fromhex(sha)
        except ValueError as exc:
            raise MalformedError(f"{path}: sha256 must be 64 hex digits") from exc
        listed.append(_Listed(path, size, digest))
    return listed


def _parse_time(value: JSONValue) -> dt.datetime:
    if not isinstance(value, str):
        raise MalformedError("started_at must be an RFC 3339 string")
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise MalformedError(f"started_at: {value!r} is not RFC 3339") from exc
    if when.tzinfo is None:
        raise MalformedError(f"started_at: {value!r} has no time zone")
    return when


class _Run:
    def __init__(self, files: Mapping[str, Opener], roots: tuple[x509.Certificate, ...]) -> None:
        self.files = files
        self.roots = roots
        self.tst_infos: list[tuple[str, TSTInfo]] = []
        self.started: dt.datetime | None = None
        self.reasons: list[Finding] = []

    def run(self) -> PackageReport:
        head = Checks()
        metadata = self.files.get(METADATA)
        data = _read(metadata) if metadata is not None else None
        listed = self._check_metadata(head, data)
        verifier = self._check_anchor(head)
        sections = [Section(METADATA, head.result())]
        digest = hashlib.sha256(data).digest() if data is not None else b""
        sections.append(self._token_section(METADATA_TOKEN, METADATA_TOKEN, digest, verifier))
        for entry in listed or ():
            sections.append(self._file_section(entry, verifier))
        known = {METADATA, METADATA_TOKEN}
        known |= {name for e in listed or () for name in (e.path, e.path + TOKEN_SUFFIX)}
        for name in sorted(set(self.files) - known):
            c = Checks()
            c.add(Check.FILE_LISTED, False, f"{name} is in the directory but not in capture.json")
            sections.append(Section(name, c.result()))
        return PackageReport(
            tuple(sections), (), None, tuple(self.tst_infos), reasons=tuple(self.reasons)
        )

    # (1) capture.json

    def _check_metadata(self, c: Checks, data: bytes | None) -> list[_Listed] | None:
        if data is None:
            c.add(Check.MANIFEST_CANONICAL, False, f"{METADATA} is missing")
            c.skip((Check.MANIFEST_SCHEMA,), Check.MANIFEST_CANONICAL)
            return None
        try:
            doc, canonical = parse_canonical_json(data)
        except MalformedError as exc:
            c.add(Check.MANIFEST_CANONICAL, False, str(exc))
            c.skip((Check.MANIFEST_SCHEMA,), Check.MANIFEST_CANONICAL)
            return None
        c.add(
            Check.MANIFEST_CANONICAL,
            canonical,
            "" if canonical else f"{METADATA} is not in canonical form (edited after sealing?)",
        )
        try:
            if not isinstance(doc, dict) or doc.get("format") != WEB_CAPTURE_FORMAT:
                raise MalformedError(f"format is not {WEB_CAPTURE_FORMAT}")
            self.started = _parse_time(doc.get("started_at"))
            listed = _parse_files(doc.get("files"))
        except MalformedError as exc:
            c.add(Check.MANIFEST_SCHEMA, False, str(exc))
            return None
        c.add(Check.MANIFEST_SCHEMA, True, f"{WEB_CAPTURE_FORMAT}, {len(listed)} file(s)")
        self.reasons += capture_findings(METADATA, doc)
        network = doc.get("network")
        archive = network.get("file") if isinstance(network, dict) else None
        if isinstance(archive, str) and all(e.path != archive for e in listed):
            detail = f"network.file names {archive}, which capture.json does not list"
            self.reasons.append(Finding(archive, Reason.OUTPUT_MISSING, detail))
        return listed

    def _check_anchor(self, c: Checks) -> TimestampVerifier | None:
        if not self.roots:
            c.add(Check.TRUST_ANCHOR, False, "no TSA root given (a directory carries none)")
            return None
        names = ", ".join(fingerprint(r) for r in self.roots)
        c.add(Check.TRUST_ANCHOR, True, f"given by the verifier: {names}")
        builder = TimestampVerifierBuilder()
        for root in self.roots:
            builder = builder.add_root(root)
        return builder.build()

    # (2) and (3): a file's token; a listed file

    def _token_section(
        self, token_name: str, subject: str, digest: bytes, verifier: TimestampVerifier | None
    ) -> Section:
        c = Checks()
        self._check_token(c, token_name, subject, digest, verifier)
        return Section(token_name, c.result())

    def _file_section(self, entry: _Listed, verifier: TimestampVerifier | None) -> Section:
        c = Checks()
        opener = self.files.get(entry.path)
        digest = b""
        if opener is None:
            detail = f"{entry.path} is missing from the directory"
            c.add(Check.FILE_PRESENT, False, detail)
            c.skip((Check.FILE_SIZE, Check.FILE_SHA256), Check.FILE_PRESENT)
            excused = (Check.FILE_PRESENT, Check.IMPRINT_MATCHES)
            self.reasons.append(Finding(entry.path, Reason.OUTPUT_MISSING, detail, excused))
        else:
            c.add(Check.FILE_PRESENT, True)
            digest, size = _sha256(opener)
            ok = size == entry.size
            c.add(Check.FILE_SIZE, ok, "" if ok else f"listed {entry.size}, found {size}")
            ok = digest == entry.sha256
            c.add(
                Check.FILE_SHA256,
                ok,
                entry.sha256.hex()
                if ok
                else f"listed {entry.sha256.hex()}, computed {digest.hex()}",
            )
        self._check_token(c, entry.path + TOKEN_SUFFIX, entry.path, digest, verifier, opener)
        return Section(entry.path, c.result())

    def _check_token(
        self,
        c: Checks,
        token_name: str,
        subject: str,
        digest: bytes,
        verifier: TimestampVerifier | None,
        content: Opener | None = None,
    ) -> None:
        response = self._parse_token(c, token_name)
        if response is None:
            c.skip((Check.CAPTURE_WINDOW,), Check.TOKEN_PARSES)
            return
        token = response.token
        if token is not None:
            self.tst_infos.append((subject, token.tst_info))
            algorithm = token.tst_info.hash_algorithm
            if algorithm is not HashAlgorithm.SHA256 and content is not None:
                with content() as f:  # our tokens are SHA-256; a foreign one is honoured
                    digest = digest_stream(f, algorithm)
        if verifier is None:
            c.skip(TOKEN_CHECKS, Check.TRUST_ANCHOR)
        else:
            c.extend(verifier.verify(response, digest))
        if token is None or self.started is None:
            c.skip((Check.CAPTURE_WINDOW,), Check.PKI_STATUS_GRANTED)
        else:
            c.add(*not_before_start(self.started, token.tst_info))

    def _parse_token(self, c: Checks, name: str) -> TimeStampResponse | None:
        opener = self.files.get(name)
        if opener is None:
            c.add(Check.TOKEN_PARSES, False, f"{name} is missing (sealed offline? `timeseal sync`)")
            c.skip(TOKEN_CHECKS, Check.TOKEN_PARSES)
            return None
        try:
            response = parse_response(_read(opener))
        except TimeSealError as exc:
            c.add(Check.TOKEN_PARSES, False, f"{name}: {exc}")
            c.skip(TOKEN_CHECKS, Check.TOKEN_PARSES)
            return None
        c.add(Check.TOKEN_PARSES, True, name)
        return response
