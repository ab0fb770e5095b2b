"""The public verification page, ``/verify``: anyone, without logging in, can

- type an evidence number and see its public facts (``/verify?number=TS-…``, where the
  certificate's QR code points);
- check a file against the sealed records: the browser hashes it (``static/js/verify.js``) and
  sends only the SHA-256 (``/verify?sha256=…``, with ``number=`` to compare with one record);
  the file never leaves the visitor's machine;
- upload an RFC 3161 token (``POST /verify/token``, the ``.tsr`` plus, optionally, the file's
  SHA-256 computed in the browser) and get the same named checks as ``timeseal verify``,
  against this server's TSA root, and, when the token is a sealed record's, the record's log
  receipt checked as ``timeseal verify`` checks a ``.tlog-proof``;
- upload an evidence package (``POST /verify/package``, :mod:`.verify_package`): verified as
  ``timeseal verify PACKAGE.zip`` does, a few at a time, each within a deadline.

All pages are rendered on the server (they work without JavaScript, except hashing a file:
then a SHA-256 can be pasted, e.g. from ``sha256sum``).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from cryptography import x509
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message

from timeseal.core.digest import HashAlgorithm
from timeseal.core.errors import TimeSealError
from timeseal.core.pki import sha256_fingerprint
from timeseal.core.text import is_ascii_decimal
from timeseal.core.tlog import VerifierKey, verify_tlog_proof
from timeseal.core.tsp.response import TSTInfo, parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder
from timeseal.core.verification import Check, CheckResult, Status, VerificationResult
from timeseal.server.api.models import PublicEvidence
from timeseal.server.api.public_records import PublicRecords
from timeseal.server.web.account_pages import visitor_context
from timeseal.server.web.i18n import N_
from timeseal.server.web.state import public_records, web_pages, web_settings
from timeseal.server.web.verify_package import MAX_PACKAGE_BYTES, verify_package_upload
from timeseal.store.evidence.rows import EvidenceRecord

#: A .tsr is a few KiB; anything past this is not one.
MAX_TOKEN_BYTES = 64 * 1024
#: The whole multipart body of ``POST /verify/token``: the token, a hex digest, boundaries.
MAX_TOKEN_FORM_BYTES = MAX_TOKEN_BYTES + 8 * 1024

_HEX64 = re.compile(r"^[0-9a-f]{64}$")

#: Evidence kinds (``timeseal.core.log_entry.EVIDENCE_KINDS``) as people say them.
KIND_NAMES: dict[str, str] = {
    "screen-recording": N_("Screen recording"),
    "video": N_("Video"),
    "photo": N_("Photo"),
    "screenshot": N_("Screenshot"),
    "web-capture": N_("Web capture"),
    "document": N_("Document"),
    "seal-record": N_("Seal record"),
    "other": N_("Other"),
}
NO_FILE_DETAIL = N_("No file was given, so the token was not compared with one.")
OTHER_ALGORITHM_DETAIL = N_(
    "The token is over another digest than SHA-256, which is all this page computes; "
    "compare the file with timeseal verify."
)
#: Details the page translates; every other detail is the verifier's own (English) text,
#: shown escaped as it is (it may quote the token, so it never goes through gettext).
TRANSLATED_DETAILS = frozenset({NO_FILE_DETAIL, OTHER_ALGORITHM_DETAIL})


class Verdict(enum.Enum):
    VALID = "valid"  # every check passed, the file included
    TOKEN_ONLY = "token_only"  # the token is genuine; no file compared
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class TokenReport:
    """What ``POST /verify/token`` found; ``result`` is None when the token did not parse."""

    verdict: Verdict
    result: VerificationResult | None
    tst_info: TSTInfo | None
    token_sha256: str
    malformed: str = ""
    record: PublicEvidence | None = None  # the sealed record this token belongs to, if any


def parse_sha256(text: str | None) -> bytes | None:
    """A hex SHA-256 as a person may paste it (``sha256sum`` output, any case); None if it is
    not one. An empty field is None too."""
    words = (text or "").split()
    if not words:
        return None
    candidate = words[0].lower()
    return bytes.fromhex(candidate) if _HEX64.match(candidate) else None


def verify_token(
    token_der: bytes, file_sha256: bytes | None, roots: Sequence[x509.Certificate]
) -> TokenReport:
    """Run the same verifier as ``timeseal verify --token`` with ``roots`` as trust anchors.
    Without ``file_sha256`` (or for a token over another digest) the imprint check is
    reported SKIPPED, never passed."""
    token_sha256 = hashlib.sha256(token_der).hexdigest()
    try:
        response = parse_response(token_der)
    except TimeSealError as exc:
        return TokenReport(Verdict.INVALID, None, None, token_sha256, malformed=str(exc))
    builder = TimestampVerifierBuilder()
    for root in roots:
        builder = builder.add_root(root)
    verifier = builder.build()
    if response.token is None:
        return TokenReport(Verdict.INVALID, verifier.verify(response, b""), None, token_sha256)
    tst = response.token.tst_info
    token_sha256 = hashlib.sha256(response.token.der).hexdigest()
    if file_sha256 is not None and tst.hash_algorithm is HashAlgorithm.SHA256:
        result = verifier.verify(response, file_sha256)
        return TokenReport(
            Verdict.VALID if result.ok else Verdict.INVALID, result, tst, token_sha256
        )
    # Nothing to compare the imprint with: run every other check, report this one skipped.
    detail = NO_FILE_DETAIL if file_sha256 is None else OTHER_ALGORITHM_DETAIL
    checked = verifier.verify(response, tst.message_imprint)
    result = VerificationResult(
        tuple(
            CheckResult(c.check, Status.SKIPPED, detail) if c.check is Check.IMPRINT_MATCHES else c
            for c in checked.checks
        )
    )
    others_pass = all(
        c.status is Status.PASS for c in result.checks if c.check is not Check.IMPRINT_MATCHES
    )
    return TokenReport(
        Verdict.TOKEN_ONLY if others_pass else Verdict.INVALID, result, tst, token_sha256
    )


def check_in_log(
    records: PublicRecords, record: EvidenceRecord, log_key: VerifierKey
) -> VerificationResult | None:
    """The sealed record's entry (which names its token) is in this server's public log: its
    receipt verified as ``timeseal verify`` verifies a ``.tlog-proof`` (checkpoint origin and
    signature under ``log_key``, inclusion proof). None while the log has not sequenced it."""
    proof = records.vault.receipt(record)
    if proof is None:
        return None
    try:
        return verify_tlog_proof(proof, leaf=records.vault.log_entry(record), log_key=log_key)
    except TimeSealError as exc:
        return VerificationResult((CheckResult(Check.INCLUSION_PROOF, Status.FAIL, str(exc)),))


def with_log_checks(report: TokenReport, log: VerificationResult) -> TokenReport:
    """``report`` with the log checks after the token's; any failure makes it invalid."""
    assert report.result is not None
    verdict = report.verdict if log.ok else Verdict.INVALID
    combined = VerificationResult(report.result.checks + log.checks)
    return dataclasses.replace(report, verdict=verdict, result=combined)


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is longer than ``limit``."""
    declared = request.headers.get("content-length", "")
    if is_ascii_decimal(declared) and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _replay(body: bytes, request: Request) -> Request:
    """A request over the same scope whose body is ``body`` (already read)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


def _empty_form() -> dict[str, Any]:
    return {
        "number": "",
        "number_error": None,
        "facts": None,
        "sha256": "",
        "sha256_error": False,
        "matches": None,
        "compared": None,
        "token_report": None,
        "token_error": None,
        "package_error": None,
        "package_report": None,
        "max_token_bytes": MAX_TOKEN_BYTES,
        "max_package_bytes": MAX_PACKAGE_BYTES,
        "kind_names": KIND_NAMES,
        "translated_details": TRANSLATED_DETAILS,
    }


def _page_context(request: Request) -> dict[str, Any]:
    """The page's empty forms, the visitor's layout, and the roots this server verifies
    against with their SHA-256 fingerprints, which readers compare with a package's."""
    roots = [
        (root.subject.rfc4514_string(), sha256_fingerprint(root))
        for root in web_settings(request).roots
    ]
    return {**_empty_form(), **visitor_context(request), "root_fingerprints": roots}


async def verify_page(request: Request) -> Response:
    records = public_records(request)
    context = _page_context(request)
    number = request.query_params.get("number", "").strip()[:64]
    sha256_text = request.query_params.get("sha256", "").strip()[:200]
    context["number"] = number
    record = None
    if number:
        record, problem = records.lookup(number)
        if record is None:
            context["number_error"] = problem
        else:
            context["facts"] = records.facts(record)
    if sha256_text:
        digest = parse_sha256(sha256_text)
        context["sha256"] = sha256_text if digest is None else digest.hex()
        if digest is None:
            context["sha256_error"] = True
        elif record is not None:
            context["compared"] = record.content_sha256 == digest
        else:
            context["matches"] = [records.facts(r) for r in records.by_content(digest)]
    status = (
        (404 if context["number_error"] == "not_found" else 400)
        if context["number_error"]
        else 400
        if context["sha256_error"]
        else 200
    )
    return web_pages(request).render(request, "verify.html", context, status=status, wasm=True)


async def token_page(request: Request) -> Response:
    context = _page_context(request)
    pages, records, settings = web_pages(request), public_records(request), web_settings(request)

    def fail(error: str, status: int) -> Response:
        context["token_error"] = error
        return pages.render(
            request, "verify.html", context, status=status, wasm=True, switch_path="/verify"
        )

    body = await read_limited(request, MAX_TOKEN_FORM_BYTES)
    if body is None:
        return fail("too_large", 413)
    try:
        form = await _replay(body, request).form(max_files=1, max_fields=4)
    except HTTPException:
        return fail("bad_form", 400)
    try:
        upload = form.get("token")
        sha256_field = form.get("sha256")
        if not isinstance(upload, UploadFile):
            return fail("no_token", 400)
        token_der = await upload.read(MAX_TOKEN_BYTES + 1)
    finally:
        await form.close()
    if len(token_der) > MAX_TOKEN_BYTES:
        return fail("too_large", 413)
    if not token_der:
        return fail("no_token", 400)
    sha256_text = sha256_field if isinstance(sha256_field, str) else ""
    file_sha256 = parse_sha256(sha256_text)
    if sha256_text.strip() and file_sha256 is None:
        context["sha256"] = sha256_text[:200]
        context["sha256_error"] = True
        return fail("bad_sha256", 400)
    report = await anyio.to_thread.run_sync(verify_token, token_der, file_sha256, settings.roots)
    if report.result is not None and report.tst_info is not None:
        found = records.by_token(bytes.fromhex(report.token_sha256))
        if found is not None:
            report = dataclasses.replace(report, record=records.facts(found))
            log = check_in_log(records, found, settings.log_key)
            if log is not None:
                report = with_log_checks(report, log)
    context["token_report"] = report
    context["sha256"] = "" if file_sha256 is None else file_sha256.hex()
    return pages.render(request, "verify.html", context, wasm=True, switch_path="/verify")


async def package_page(request: Request) -> Response:
    context = _page_context(request)
    settings = web_settings(request)
    pages = web_pages(request)
    return await verify_package_upload(request, pages, settings.roots, settings.log_key, context)


#: ``/verify``, ``POST /verify/token`` and ``POST /verify/package``. Tokens are verified
#: against :attr:`.state.WebSettings.roots`; a token of a sealed record also gets its log
#: receipt checked against :attr:`.state.WebSettings.log_key`. Package verifications are
#: bounded by the :class:`~.verify_limits.VerifyGate` in ``app.state`` (:func:`.state.verify_gate`).
routes: list[BaseRoute] = [
    Route("/verify", verify_page, methods=["GET", "HEAD"]),
    Route("/verify/token", token_page, methods=["POST"]),
    Route("/verify/package", package_page, methods=["POST"]),
]
