"""What verifying a PDF's signatures found: each signature's checks by name (``PdfCheck``, in
the order :func:`timeseal.core.pdf_signature.verify_pdf_signatures` runs them), and the
file's."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from timeseal.core.verification import Status, VerificationResult


class PdfCheck(enum.Enum):
    """The checks of ``verify_pdf_signatures``, in the order they run."""

    SIGNATURES_FOUND = "signatures_found"
    BYTE_RANGE = "byte_range"  # ISO 32000-1 §12.8.1
    REVISION_END = "revision_end"  # ISO 32000-1 §7.5.6 incremental updates
    CMS_STRUCTURE = "cms_structure"  # RFC 5652 §5.1
    SIGNER_CERTIFICATE = "signer_certificate"  # RFC 5652 §5.3 sid
    MESSAGE_DIGEST = "message_digest"  # RFC 5652 §11.2
    SIGNATURE = "signature"  # RFC 5652 §5.4
    SIGNATURE_TIMESTAMP = "signature_timestamp"  # RFC 3161 Appendix A
    CHAIN_TRUSTED = "chain_trusted"  # RFC 5280 §6
    SIGNER_PURPOSE = "signer_purpose"  # RFC 5280 §4.2.1.3, §4.2.1.12; RFC 9336
    DOCUMENT_TIMESTAMP = "document_timestamp"  # ETSI EN 319 142-1 §5.4
    COVERS_WHOLE_FILE = "covers_whole_file"


class SignatureKind(enum.Enum):
    SIGNATURE = "signature"  # /Type /Sig: a PAdES (or adbe.pkcs7.detached) signature
    DOCUMENT_TIMESTAMP = "document_timestamp"  # /Type /DocTimeStamp


@dataclass(frozen=True, slots=True)
class PdfCheckResult:
    check: PdfCheck
    status: Status
    detail: str = ""


class PdfCheckList:
    """Check results in the order they are recorded; a check that needs one that failed is
    recorded SKIPPED, naming what it needed."""

    def __init__(self) -> None:
        self.results: list[PdfCheckResult] = []

    def record(self, check: PdfCheck, ok: bool, detail: str = "") -> bool:
        self.results.append(PdfCheckResult(check, Status.PASS if ok else Status.FAIL, detail))
        return ok

    def skip(self, checks: Sequence[PdfCheck], because: PdfCheck) -> None:
        for check in checks:
            self.results.append(PdfCheckResult(check, Status.SKIPPED, f"needs {because.value}"))


@dataclass(frozen=True, slots=True)
class PdfSignature:
    """One signature of the file and its checks.

    ``claimed_signing_time`` is the dictionary's ``/M``, which nobody vouches for;
    ``timestamp_gen_time`` comes from a time-stamp token and is meaningful only when its check
    passed. ``timestamp`` holds that token's own checks.
    """

    kind: SignatureKind
    byte_range: tuple[int, int, int, int]
    sub_filter: str | None
    signer_subject: str | None
    claimed_signing_time: dt.datetime | None
    timestamp_gen_time: dt.datetime | None
    timestamp: VerificationResult | None
    checks: tuple[PdfCheckResult, ...]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.status is Status.PASS for c in self.checks)

    @property
    def failed(self) -> tuple[PdfCheck, ...]:
        return tuple(c.check for c in self.checks if c.status is Status.FAIL)


@dataclass(frozen=True, slots=True)
class PdfSignatureReport:
    """Every signature in file order, and the checks on the file as a whole."""

    signatures: tuple[PdfSignature, ...]
    checks: tuple[PdfCheckResult, ...]

    @property
    def ok(self) -> bool:
        """True only if there is a signature, every signature passed, and so did the file."""
        return (
            bool(self.signatures)
            and all(s.ok for s in self.signatures)
            and all(c.status is Status.PASS for c in self.checks)
        )

    @property
    def failed(self) -> tuple[PdfCheck, ...]:
        """Failed checks, the file's first, then each signature's, in order."""
        own = tuple(c.check for c in self.checks if c.status is Status.FAIL)
        return own + tuple(check for s in self.signatures for check in s.failed)

    @property
    def signed(self) -> bool:
        """Some document signature (``/Sig``, not a timestamp) verified. ``ok`` alone does not
        say so: a PDF holding only a document timestamp is ``ok`` too."""
        return any(s.ok and s.kind is SignatureKind.SIGNATURE for s in self.signatures)

    @property
    def timestamped(self) -> bool:
        """Some document timestamp verified."""
        return any(s.ok and s.kind is SignatureKind.DOCUMENT_TIMESTAMP for s in self.signatures)
