"""Verifying RFC 3161 time-stamp responses against a trust anchor we choose.

Build a verifier, then verify::

    verifier = TimestampVerifierBuilder().add_root(root).nonce(request.nonce).build()
    result = verifier.verify(response, hashed_message)
    result.raise_for_failure()

``verify`` runs these checks in order and reports each by name (``Check``); a check that needs
an earlier one that failed is reported SKIPPED:

(1)  PKI_STATUS_GRANTED   the status is ``granted`` (we reject grantedWithMods too)
(2)  CONTENT_TYPE         exactly one SignerInfo; its contentType attribute is id-ct-TSTInfo
(3)  SIGNER_CERTIFICATE   the certificate named by the SignerInfo's sid is at hand (carried
                          in the token, or given with ``tsa_certificate``), and is the given
                          TSA certificate when one was given
(4)  MESSAGE_DIGEST       the messageDigest attribute is the digest of the TSTInfo bytes
(5)  SIGNATURE            the signature over the DER signed attributes verifies with (3)'s key
(6)  ESS_CERT_ID          signingCertificateV2 (or v1) names exactly (3)'s certificate
(7)  CHAIN_TRUSTED        (3) chains to one of our roots, every certificate valid at genTime
(8)  TSA_EKU_CRITICAL     (3) has one EKU, id-kp-timeStamping, marked critical (RFC 3161 §2.3)
(9)  IMPRINT_MATCHES      TSTInfo's messageImprint is the hash of the message
(10) NONCE_MATCHES        only when a nonce was set
(11) POLICY_MATCHES       only when a policy was set

Certificates inside the token are used only to build the path; trust comes from the roots
given to the builder alone. Revocation is *not* checked (no network in the core).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm as CryptoUnsupported
from cryptography.hazmat.primitives import hashes

from timeseal.core import _asn1, _cms
from timeseal.core.tsp.response import (
    ID_CT_TST_INFO,
    PKIStatus,
    TimeStampResponse,
    TimeStampToken,
)
from timeseal.core.verification import Check, CheckResult, Status, VerificationResult

_DIGESTS = _cms.DIGESTS
_SHA1 = "1.3.14.3.2.26"
_R = TypeVar("_R")
#: What cryptography raises, lazily, for a certificate it parsed but cannot use.
_CERTIFICATE_ERRORS = (CryptoUnsupported, x509.DuplicateExtension, x509.InvalidVersion)


@dataclass(frozen=True, slots=True)
class TimestampVerifierBuilder:
    """Collects the trust settings; each setter returns a new builder."""

    _roots: tuple[x509.Certificate, ...] = ()
    _intermediates: tuple[x509.Certificate, ...] = ()
    _tsa_certificate: x509.Certificate | None = None
    _nonce: int | None = None
    _policy: str | None = None
    _set: frozenset[str] = field(default_factory=frozenset)

    def _once(self, name: str) -> None:
        if name in self._set:
            raise ValueError(f"{name} may only be set once")

    def add_root(self, certificate: x509.Certificate) -> TimestampVerifierBuilder:
        """A trust anchor. At least one is required."""
        _require_certificate(certificate)
        return replace(self, _roots=(*self._roots, certificate))

    def add_intermediate(self, certificate: x509.Certificate) -> TimestampVerifierBuilder:
        """An untrusted certificate that may help build the path."""
        _require_certificate(certificate)
        return replace(self, _intermediates=(*self._intermediates, certificate))

    def tsa_certificate(self, certificate: x509.Certificate) -> TimestampVerifierBuilder:
        """Require the token to be signed by exactly this certificate."""
        _require_certificate(certificate)
        self._once("tsa_certificate")
        return replace(self, _tsa_certificate=certificate, _set=self._set | {"tsa_certificate"})

    def nonce(self, nonce: int) -> TimestampVerifierBuilder:
        """Require TSTInfo's nonce to be this value (the one sent in the request)."""
        if not isinstance(nonce, int) or isinstance(nonce, bool):
            raise TypeError("nonce must be an int")
        self._once("nonce")
        return replace(self, _nonce=nonce, _set=self._set | {"nonce"})

    def policy(self, policy_oid: str) -> TimestampVerifierBuilder:
        """Require TSTInfo's policy to be this OID."""
        if not isinstance(policy_oid, str):
            raise TypeError("policy_oid must be a dotted OID string")
        self._once("policy")
        return replace(self, _policy=policy_oid, _set=self._set | {"policy"})

    def build(self) -> TimestampVerifier:
        if not self._roots:
            raise ValueError("a verifier needs at least one root certificate")
        return TimestampVerifier(_Settings(self))


def _require_certificate(value: object) -> None:
    if not isinstance(value, x509.Certificate):
        raise TypeError("expected a cryptography x509.Certificate")


class _Settings:
    __slots__ = ("intermediates", "nonce", "policy", "roots", "tsa_certificate")

    def __init__(self, builder: TimestampVerifierBuilder) -> None:
        self.roots = builder._roots
        self.intermediates = builder._intermediates
        self.tsa_certificate = builder._tsa_certificate
        self.nonce = builder._nonce
        self.policy = builder._policy


class TimestampVerifier:
    """Verifies responses; made only by :class:`TimestampVerifierBuilder`."""

    __slots__ = ("_settings",)

    def __init__(self, settings: _Settings) -> None:
        if not isinstance(settings, _Settings):
            raise TypeError("use TimestampVerifierBuilder().build()")
        self._settings = settings

    def verify(self, response: TimeStampResponse, hashed_message: bytes) -> VerificationResult:
        """Run every check; ``hashed_message`` is the message digested with the token's
        ``tst_info.hash_algorithm``."""
        run = _Run(self._settings)
        return run.verify(response, bytes(hashed_message))

    def verify_message(self, response: TimeStampResponse, message: bytes) -> VerificationResult:
        """Like :meth:`verify`, hashing ``message`` with the token's own algorithm."""
        if response.token is None:
            return self.verify(response, b"")
        return self.verify(response, response.token.tst_info.hash_algorithm.digest(message))


class _Run:
    """State of one verification: results so far and what earlier checks established."""

    def __init__(self, settings: _Settings) -> None:
        self.s = settings
        self.results: list[CheckResult] = []
        self.failed: set[Check] = set()

    def record(self, check: Check, ok: bool, detail: str = "") -> bool:
        status = Status.PASS if ok else Status.FAIL
        self.results.append(CheckResult(check, status, detail))
        if not ok:
            self.failed.add(check)
        return ok

    def skip(self, check: Check, because: Check) -> None:
        self.results.append(CheckResult(check, Status.SKIPPED, f"needs {because.value}"))

    def verify(self, response: TimeStampResponse, hashed: bytes) -> VerificationResult:
        token = self._check_status(response)  # (1)
        signed = None if token is None else self._check_content_type(token)  # (2)
        if token is not None and signed is not None:
            signer_info, attrs = signed
            self._check_signer(signer_info, attrs, token)  # (3)-(8)
            self._check_tst_info(token, hashed)  # (9)-(11)
        return VerificationResult(tuple(self.results))

    def _check_status(self, response: TimeStampResponse) -> TimeStampToken | None:
        """(1) The token of a granted response, or None with every later check skipped."""
        token = response.token
        granted = response.status is PKIStatus.GRANTED and token is not None
        self.record(
            Check.PKI_STATUS_GRANTED,
            granted,
            ""
            if granted
            else f"status {response.status.name.lower()}"
            + (f": {'; '.join(response.status_text)}" if response.status_text else ""),
        )
        if not granted or token is None:
            for check in _ALL_AFTER_STATUS:
                self.skip(check, Check.PKI_STATUS_GRANTED)
            return None
        return token

    def _check_content_type(
        self, token: TimeStampToken
    ) -> tuple[cms.SignerInfo, dict[str, cms.Asn1Value]] | None:
        """(2) The one SignerInfo and its signed attributes, or None with every later check
        skipped."""
        content_info = _asn1.load(cms.ContentInfo, token.der, "TimeStampToken", values=False)
        try:
            signer_infos = content_info["content"]["signer_infos"]
            signer_info = signer_infos[0] if len(signer_infos) == 1 else None
            attrs = _attributes(signer_info) if signer_info is not None else {}
        except _asn1.ASN1_ERRORS as exc:
            self.record(Check.CONTENT_TYPE, False, f"malformed SignerInfo: {exc}")
            for check in _ALL_AFTER_STATUS[1:]:
                self.skip(check, Check.CONTENT_TYPE)
            return None
        content_type = attrs.get("content_type")
        ok = signer_info is not None and content_type is not None
        detail = ""
        if signer_info is None:
            detail = f"{len(signer_infos)} SignerInfos, expected exactly 1"
        elif content_type is None:
            detail = "no contentType signed attribute"
        elif content_type.dotted != ID_CT_TST_INFO:
            ok, detail = False, f"contentType attribute is {content_type.dotted}"
        self.record(Check.CONTENT_TYPE, ok, detail)
        if not ok or signer_info is None:
            for check in _ALL_AFTER_STATUS[1:]:
                self.skip(check, Check.CONTENT_TYPE)
            return None
        return signer_info, attrs

    def _check_signer(
        self, signer_info: cms.SignerInfo, attrs: dict[str, cms.Asn1Value], token: TimeStampToken
    ) -> None:
        """(3)-(8) The signer's certificate, the signature over the TSTInfo, and the chain."""
        # (3)
        signer = self._guard(Check.SIGNER_CERTIFICATE, self._find_signer, signer_info, token)
        # (4)
        self._guard(Check.MESSAGE_DIGEST, self._check_message_digest, signer_info, attrs, token)
        if signer is None:
            for check in (Check.SIGNATURE, Check.ESS_CERT_ID, Check.CHAIN_TRUSTED):
                self.skip(check, Check.SIGNER_CERTIFICATE)
            self.skip(Check.TSA_EKU_CRITICAL, Check.SIGNER_CERTIFICATE)
            return
        # (5) (6) (7) (8)
        self._guard(Check.SIGNATURE, self._check_signature, signer_info, signer)
        self._guard(Check.ESS_CERT_ID, self._check_ess_cert_id, attrs, signer)
        self._guard(Check.CHAIN_TRUSTED, self._check_chain, signer, token)
        self._guard(Check.TSA_EKU_CRITICAL, self._check_eku, signer)

    def _check_tst_info(self, token: TimeStampToken, hashed: bytes) -> None:
        """(9)-(11) What the TSTInfo says against what the caller asked for."""
        tst = token.tst_info
        # (9)
        ok = hmac.compare_digest(tst.message_imprint, hashed)
        self.record(
            Check.IMPRINT_MATCHES,
            ok,
            ""
            if ok
            else f"imprint mismatch: token {tst.message_imprint.hex()}, "
            f"message {hashed.hex()} ({tst.hash_algorithm.name})",
        )
        # (10)
        if self.s.nonce is not None:
            ok = tst.nonce == self.s.nonce
            self.record(
                Check.NONCE_MATCHES, ok, "" if ok else f"expected {self.s.nonce}, got {tst.nonce}"
            )
        # (11)
        if self.s.policy is not None:
            ok = tst.policy == self.s.policy
            self.record(
                Check.POLICY_MATCHES,
                ok,
                "" if ok else f"expected {self.s.policy}, got {tst.policy}",
            )

    def _guard(self, check: Check, step: Callable[..., _R], *args: object) -> _R | None:
        """Run one check; a field that does not decode fails that check, by name."""
        try:
            return step(*args)
        except (*_asn1.ASN1_ERRORS, *_CERTIFICATE_ERRORS) as exc:
            # A field that does not decode, or a certificate whose key cryptography cannot
            # load, fails this check by name.
            self.record(check, False, f"malformed or unsupported field: {exc}")
            return None

    def _find_signer(
        self, signer_info: cms.SignerInfo, token: TimeStampToken
    ) -> x509.Certificate | None:
        sid = signer_info["sid"]
        candidates = list(token.certificates)
        if self.s.tsa_certificate is not None:
            candidates.append(self.s.tsa_certificate)
        match = next((c for c in candidates if _sid_matches(sid, c)), None)
        if match is None:
            self.record(
                Check.SIGNER_CERTIFICATE,
                False,
                "the certificate named by the SignerInfo is neither in the token nor given",
            )
            return None
        if self.s.tsa_certificate is not None and match != self.s.tsa_certificate:
            self.record(
                Check.SIGNER_CERTIFICATE, False, "signed by a different certificate than required"
            )
            return None
        self.record(Check.SIGNER_CERTIFICATE, True, match.subject.rfc4514_string())
        return match

    def _check_message_digest(
        self, signer_info: cms.SignerInfo, attrs: dict[str, cms.Asn1Value], token: TimeStampToken
    ) -> None:
        digest_oid = signer_info["digest_algorithm"]["algorithm"].dotted
        algorithm = _DIGESTS.get(digest_oid)
        claimed = attrs.get("message_digest")
        if algorithm is None:
            self.record(Check.MESSAGE_DIGEST, False, f"digest algorithm {digest_oid} refused")
            return
        if claimed is None:
            self.record(Check.MESSAGE_DIGEST, False, "no messageDigest signed attribute")
            return
        h = hashes.Hash(algorithm())
        h.update(token.tst_info.der)
        computed = h.finalize()
        want = bytes(claimed.native)
        ok = hmac.compare_digest(want, computed)
        self.record(
            Check.MESSAGE_DIGEST,
            ok,
            "" if ok else f"messageDigest {want.hex()}, TSTInfo hashes to {computed.hex()}",
        )

    def _check_signature(self, signer_info: cms.SignerInfo, signer: x509.Certificate) -> None:
        digest_oid = signer_info["digest_algorithm"]["algorithm"].dotted
        try:
            error = _cms.signature_error(signer_info, signer)
        except KeyError:
            error = f"digest algorithm {digest_oid} refused"
        self.record(Check.SIGNATURE, error is None, error or "")

    def _check_ess_cert_id(self, attrs: dict[str, cms.Asn1Value], signer: x509.Certificate) -> None:
        error = _cms.ess_cert_id_error(attrs, signer)
        self.record(Check.ESS_CERT_ID, error is None, error or "")

    def _check_chain(self, signer: x509.Certificate, token: TimeStampToken) -> None:
        intermediates = [*token.certificates, *self.s.intermediates]
        error = _cms.chain_error(signer, intermediates, self.s.roots, token.tst_info.gen_time)
        if error is not None:
            self.record(Check.CHAIN_TRUSTED, False, f"no trusted path at genTime: {error}")
            return
        self.record(Check.CHAIN_TRUSTED, True)

    def _check_eku(self, signer: x509.Certificate) -> None:
        try:
            eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        except x509.ExtensionNotFound:
            self.record(Check.TSA_EKU_CRITICAL, False, "no extendedKeyUsage extension")
            return
        purposes = [p.dotted_string for p in eku.value]
        if purposes != [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING.dotted_string]:
            self.record(
                Check.TSA_EKU_CRITICAL,
                False,
                f"extendedKeyUsage must be exactly id-kp-timeStamping, is {purposes}",
            )
            return
        if not eku.critical:
            self.record(Check.TSA_EKU_CRITICAL, False, "extendedKeyUsage is not critical")
            return
        self.record(Check.TSA_EKU_CRITICAL, True)


_ALL_AFTER_STATUS = (
    Check.CONTENT_TYPE,
    Check.SIGNER_CERTIFICATE,
    Check.MESSAGE_DIGEST,
    Check.SIGNATURE,
    Check.ESS_CERT_ID,
    Check.CHAIN_TRUSTED,
    Check.TSA_EKU_CRITICAL,
    Check.IMPRINT_MATCHES,
)

#: Every check :class:`TimestampVerifier` records, in order: what a report marks skipped when a
#: token cannot be verified at all (no trust anchor, unparsable).
TOKEN_CHECKS = (Check.PKI_STATUS_GRANTED, *_ALL_AFTER_STATUS)


_attributes = _cms.signed_attributes
_sid_matches = _cms.sid_matches
