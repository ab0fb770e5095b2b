"""Verifying an evidence package offline: no network, no server, no TimeSeal database.

``verify_package`` runs, in this order, and reports every check by name in a section named
after what it is about (``package``, a file path, ``proofs/manifest.tsr`` or an evidence
number):

(1) package              PACKAGE_ZIP (readable ZIP, safe and unique names, no encryption,
                         local headers agree with the central directory), MANIFEST_CANONICAL,
                         MANIFEST_SCHEMA, TRUST_ANCHOR, LOG_KEY
(2) every file           FILE_PRESENT, FILE_SIZE, FILE_SHA256 for each listed file;
                         FILE_LISTED fails for each file in the ZIP the manifest does not list
(3) proofs/manifest.tsr  the RFC 3161 checks (timeseal.core.tsp.verify) over SHA-256 of the
                         manifest.json bytes as found
                         (a token more than 5 minutes from ``sealed_at`` is a warning,
                         ``Reason.TIMES_DISAGREE``)
    proofs/manifest.p7s  MANIFEST_SIGNATURE: the platform's signature over them
                         (:mod:`._signature`); without it nothing a manifest claims is
                         attributable, so a package without one is invalid
(4) every item           TOKEN_PARSES, the RFC 3161 checks over the SHA-256 of the item's bytes
                         as found, CAPTURE_WINDOW (when the manifest gives one),
                         LOG_PROOF_PARSES, LOG_ENTRY_MATCHES, CHECKPOINT_ORIGIN,
                         CHECKPOINT_SIGNATURE, COSIGNATURE (with cosigners), INCLUSION_PROOF,
                         and CERTIFICATE_SIGNATURE when a ``certificate_check`` is given

Each file is read and hashed exactly once, in bounded memory (see :mod:`._read`: every member
STORED and hashed in place, never inflated; only small metadata members are read into memory,
each under its own cap, one at a time). The log leaf is rebuilt from the manifest (number,
kind, SHA-256, size, supersedes) and the SHA-256 of the item's token as found, so a swapped
token or a proof from another log fails by name; ``extra`` in the proof is only compared.

Trust comes from ``roots`` and ``log_key`` when given. Otherwise the self-signed certificates
in certs/tsa-chain.pem and the key in certs/log.vkey are used, and ``notices`` says so with
their fingerprints: a forger who rebuilds the whole package with their own TSA and log would
pass that way, so compare the fingerprints with the published ones.
"""

# Over 400 lines on purpose: the numbered steps (1)-(4) above read best as one _Run, in order.
from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable, Sequence
from typing import BinaryIO

from cryptography import x509

from timeseal.core.errors import MalformedError, TimeSealError
from timeseal.core.log_entry import EvidenceEntry, format_entry
from timeseal.core.package import layout
from timeseal.core.package._read import (
    Archive,
    Member,
    Progress,
    looks_like_package,
    read_archive,
)
from timeseal.core.package._rules import (
    Checks,
    capture_window,
    entry_difference,
    fingerprint,
    seal_time_finding,
)
from timeseal.core.package._signature import check_manifest_signature
from timeseal.core.package.canonical import parse_canonical_json
from timeseal.core.package.manifest import Manifest, ManifestItem, manifest_from_json
from timeseal.core.package.report import PackageReport, Section
from timeseal.core.tlog.note import (
    SignatureType,
    VerifierKey,
    parse_verifier_key,
    unknown_signatures,
)
from timeseal.core.tlog.proof import parse_tlog_proof, verify_tlog_proof
from timeseal.core.tsp.response import TimeStampResponse, TSTInfo, parse_response
from timeseal.core.tsp.verify import TOKEN_CHECKS, TimestampVerifier, TimestampVerifierBuilder
from timeseal.core.verdict import Finding, Reason
from timeseal.core.verification import Check, VerificationResult

#: How a certificate PDF's signatures are checked: called with the PDF bytes and the trust
#: roots, it returns its checks, among them CERTIFICATE_SIGNATURE. ``timeseal verify`` and the
#: verify page pass :func:`timeseal.core.pdf_signature.certificate_signature_check`; without
#: one, the report says the signature was not checked.
CertificateCheck = Callable[[bytes, Sequence[x509.Certificate]], VerificationResult]

__all__ = ["CertificateCheck", "looks_like_package", "verify_package"]

PACKAGE = "package"
_LOG_CHECKS = (
    Check.LOG_ENTRY_MATCHES,
    Check.CHECKPOINT_ORIGIN,
    Check.CHECKPOINT_SIGNATURE,
    Check.INCLUSION_PROOF,
)


def verify_package(
    source: BinaryIO,
    *,
    roots: Sequence[x509.Certificate] = (),
    log_key: VerifierKey | None = None,
    cosigners: Sequence[VerifierKey] = (),
    quorum: int | None = None,
    certificate_check: CertificateCheck | None = None,
    progress: Progress | None = None,
) -> PackageReport:
    """Verify the package read from ``source`` (a seekable binary stream). See the module
    docstring for the checks; nothing is raised for a bad package, only for bad arguments.

    ``progress``, when given, is called from the verifying thread with the number of bytes
    just hashed, and with 0 before each item's checks; whatever it raises ends the
    verification and propagates. A server passes one that raises past its deadline (the
    core keeps no clock)."""
    for key in (log_key, *cosigners):
        if key is not None and not isinstance(key, VerifierKey):
            raise TypeError("log_key and cosigners must be VerifierKey")
    if log_key is not None and log_key.signature_type is not SignatureType.ED25519:
        raise ValueError("log_key must be an Ed25519 note key")
    for key in cosigners:
        if key.signature_type is not SignatureType.COSIGNATURE_V1:
            raise ValueError(f"witness key {key.name} is not a cosignature/v1 key")
    if len({(k.name, k.key_id) for k in cosigners}) != len(cosigners):
        raise ValueError("the same witness key is given twice")
    if quorum is not None and not 1 <= quorum <= len(cosigners):
        raise ValueError(f"quorum must be 1..{len(cosigners)}")
    package = Checks()
    try:
        archive = read_archive(source, progress)
    except (zipfile.BadZipFile, MalformedError, OSError, ValueError, EOFError) as exc:
        package.add(Check.PACKAGE_ZIP, False, f"not a readable package ZIP: {exc}")
        return PackageReport((Section(PACKAGE, package.result()),))
    run = _Run(archive, roots, log_key, cosigners, quorum, certificate_check, progress)
    return run.run(package)


class _Run:
    def __init__(
        self,
        archive: Archive,
        roots: Sequence[x509.Certificate],
        log_key: VerifierKey | None,
        cosigners: Sequence[VerifierKey],
        quorum: int | None,
        certificate_check: CertificateCheck | None,
        progress: Progress | None,
    ) -> None:
        self.archive = archive
        self.progress = progress
        self.members = archive.members
        self.roots = tuple(roots)
        self.log_key = log_key
        self.cosigners = tuple(cosigners)
        self.quorum = quorum
        self.certificate_check = certificate_check
        self.notices: list[str] = []
        self.reasons: list[Finding] = []
        self.tst_infos: list[tuple[str, TSTInfo]] = []

    def run(self, package: Checks) -> PackageReport:
        package.add(Check.PACKAGE_ZIP, not self.archive.problems, self.archive.problem_summary())
        manifest_member = self.members.get(layout.MANIFEST)
        manifest = self._check_manifest(package)
        chain = self._tsa_chain()
        anchors = self._check_anchor(package, chain)
        key = self._check_log_key(package)
        sections = [Section(PACKAGE, package.result())]
        if manifest is not None:
            sections += self._check_files(manifest)
        verifier = None
        if anchors:
            builder = TimestampVerifierBuilder()
            for root in anchors:
                builder = builder.add_root(root)
            for cert in chain:
                builder = builder.add_intermediate(cert)
            verifier = builder.build()
        token_section = self._check_manifest_token(manifest_member, verifier)
        sections.append(token_section)
        self._check_seal_time(manifest, token_section)
        sections.append(check_manifest_signature(self.archive, anchors))
        for item in manifest.items if manifest is not None else ():
            if self.progress is not None:
                self.progress(0)
            sections.append(self._check_item(item, verifier, key, anchors))
        return PackageReport(
            tuple(sections),
            tuple(self.notices),
            manifest,
            tuple(self.tst_infos),
            reasons=tuple(self.reasons),
        )

    # (1) the package as a whole

    def _check_manifest(self, package: Checks) -> Manifest | None:
        try:
            value, canonical = parse_canonical_json(self.archive.read(layout.MANIFEST))
        except MalformedError as exc:
            package.add(Check.MANIFEST_CANONICAL, False, str(exc))
            package.skip((Check.MANIFEST_SCHEMA,), Check.MANIFEST_CANONICAL)
            return None
        package.add(
            Check.MANIFEST_CANONICAL,
            canonical,
            "" if canonical else "manifest.json is not in canonical form (edited after sealing?)",
        )
        try:
            manifest = manifest_from_json(value)
        except TimeSealError as exc:
            package.add(Check.MANIFEST_SCHEMA, False, str(exc))
            return None
        package.add(Check.MANIFEST_SCHEMA, True, f"{manifest.scope}, {len(manifest.items)} item(s)")
        return manifest

    def _tsa_chain(self) -> tuple[x509.Certificate, ...]:
        try:
            return tuple(x509.load_pem_x509_certificates(self.archive.read(layout.TSA_CHAIN)))
        except (MalformedError, ValueError):
            return ()

    def _check_anchor(
        self, package: Checks, chain: Sequence[x509.Certificate]
    ) -> tuple[x509.Certificate, ...]:
        if self.roots:
            names = ", ".join(fingerprint(r) for r in self.roots)
            package.add(Check.TRUST_ANCHOR, True, f"given by the verifier: {names}")
            return self.roots
        anchors = tuple(c for c in chain if c.issuer == c.subject)
        if not anchors:
            package.add(
                Check.TRUST_ANCHOR, False, f"no root given and none readable in {layout.TSA_CHAIN}"
            )
            return ()
        prints = ", ".join(fingerprint(r) for r in anchors)
        package.add(Check.TRUST_ANCHOR, True, f"taken from {layout.TSA_CHAIN}: {prints}")
        self.reasons.append(Finding(PACKAGE, Reason.SELF_SUPPLIED_ROOT, prints))
        self.notices.append(
            f"警告：信任锚取自证据包本身（{layout.TSA_CHAIN}），请将其指纹与时间戳机构公布的核对，"
            f"或用 --ca 指定根证书。 WARNING: the trust anchor was taken from the package itself "
            f"({layout.TSA_CHAIN}); compare its fingerprint with the one the TSA publishes, or "
            f"pass --ca ROOT.pem. {prints}"
        )
        return anchors

    def _check_log_key(self, package: Checks) -> VerifierKey | None:
        if self.log_key is not None:
            package.add(Check.LOG_KEY, True, f"given by the verifier: {self.log_key.label}")
            return self.log_key
        try:
            text = self.archive.read(layout.LOG_VKEY).decode("ascii").strip()
            key = parse_verifier_key(text)
            if key.signature_type is not SignatureType.ED25519:
                raise MalformedError(f"{layout.LOG_VKEY} is not an Ed25519 log key")
        except (TimeSealError, UnicodeDecodeError) as exc:
            package.add(Check.LOG_KEY, False, str(exc))
            return None
        package.add(Check.LOG_KEY, True, f"taken from {layout.LOG_VKEY}: {key.label}")
        self.reasons.append(Finding(PACKAGE, Reason.SELF_SUPPLIED_LOG_KEY, text))
        self.notices.append(
            f"警告：日志公钥取自证据包本身（{layout.LOG_VKEY}），请与日志公布的公钥核对，或用 "
            f"--log-key 指定。 WARNING: the log key was taken from the package itself "
            f"({layout.LOG_VKEY}); compare it with the one the log publishes at /log/vkey, or "
            f"pass --log-key. {text}"
        )
        return key

    # (2) every file

    def _check_files(self, manifest: Manifest) -> list[Section]:
        sections = []
        listed = {f.path for f in manifest.files}
        for entry in manifest.files:
            c = Checks()
            member = self.members.get(entry.path)
            if member is None:
                c.add(Check.FILE_PRESENT, False, f"{entry.path} is missing from the ZIP")
                c.skip((Check.FILE_SIZE, Check.FILE_SHA256), Check.FILE_PRESENT)
            elif member.error:
                c.add(Check.FILE_PRESENT, False, member.error)
                c.skip((Check.FILE_SIZE, Check.FILE_SHA256), Check.FILE_PRESENT)
            else:
                c.add(Check.FILE_PRESENT, True)
                ok = member.size == entry.size
                c.add(
                    Check.FILE_SIZE, ok, "" if ok else f"listed {entry.size}, found {member.size}"
                )
                ok = member.sha256 == entry.sha256
                c.add(
                    Check.FILE_SHA256,
                    ok,
                    entry.sha256.hex()
                    if ok
                    else f"listed {entry.sha256.hex()}, computed {member.sha256.hex()}",
                )
            sections.append(Section(entry.path, c.result()))
        reserved = {layout.MANIFEST, layout.MANIFEST_TOKEN, layout.MANIFEST_SIGNATURE}
        for path in sorted(set(self.members) - listed - reserved):
            c = Checks()
            c.add(Check.FILE_LISTED, False, f"{path} is in the ZIP but not in manifest.json")
            sections.append(Section(path, c.result()))
        return sections

    # (3) the manifest's token

    def _check_manifest_token(
        self, manifest: Member | None, verifier: TimestampVerifier | None
    ) -> Section:
        c = Checks()
        response = self._token(c, layout.MANIFEST_TOKEN)
        if response is not None:
            digest = manifest.sha256 if manifest is not None and not manifest.error else b""
            self._verify_token(c, layout.MANIFEST_TOKEN, response, digest, verifier)
        return Section(layout.MANIFEST_TOKEN, c.result())

    def _check_seal_time(self, manifest: Manifest | None, token_section: Section) -> None:
        """A manifest token that verified but lies far from ``sealed_at`` is flagged."""
        tst = next((t for s, t in self.tst_infos if s == layout.MANIFEST_TOKEN), None)
        if manifest is None or tst is None or not token_section.result.ok:
            return
        finding = seal_time_finding(manifest.sealed_at, tst)
        if finding is not None:
            self.reasons.append(finding)

    def _token(self, c: Checks, path: str) -> TimeStampResponse | None:
        try:
            data = self.archive.read(path)
        except MalformedError as exc:
            c.add(Check.TOKEN_PARSES, False, f"{path} is missing or unreadable: {exc}")
            c.skip(TOKEN_CHECKS, Check.TOKEN_PARSES)
            return None
        try:
            response = parse_response(data)
        except TimeSealError as exc:
            c.add(Check.TOKEN_PARSES, False, f"{path}: {exc}")
            c.skip(TOKEN_CHECKS, Check.TOKEN_PARSES)
            return None
        c.add(Check.TOKEN_PARSES, True)
        return response

    def _verify_token(
        self,
        c: Checks,
        subject: str,
        response: TimeStampResponse,
        digest: bytes,
        verifier: TimestampVerifier | None,
    ) -> None:
        if response.token is not None:
            self.tst_infos.append((subject, response.token.tst_info))
        if verifier is None:
            c.skip(TOKEN_CHECKS, Check.TRUST_ANCHOR)
            return
        c.extend(verifier.verify(response, digest))

    # (4) every item

    def _check_item(
        self,
        item: ManifestItem,
        verifier: TimestampVerifier | None,
        key: VerifierKey | None,
        anchors: Sequence[x509.Certificate],
    ) -> Section:
        c = Checks()
        response = self._token(c, item.token)
        content = self.members.get(item.path)
        digest = content.sha256 if content is not None and not content.error else b""
        token = response.token if response is not None else None
        if response is not None:
            self._verify_token(c, item.number, response, digest, verifier)
        if item.capture_window is not None:
            if token is None:
                c.skip((Check.CAPTURE_WINDOW,), Check.PKI_STATUS_GRANTED)
            else:
                c.add(*capture_window(item, token.tst_info))
        self._check_log(c, item, None if token is None else token.der, key)
        if item.certificate is not None:
            self._check_certificate(c, item, item.certificate, anchors)
        return Section(item.number, c.result())

    def _check_log(
        self, c: Checks, item: ManifestItem, token_der: bytes | None, key: VerifierKey | None
    ) -> None:
        try:
            data = self.archive.read(item.log_proof)
        except MalformedError as exc:
            c.add(Check.LOG_PROOF_PARSES, False, f"{item.log_proof} is unreadable: {exc}")
            c.skip(_LOG_CHECKS, Check.LOG_PROOF_PARSES)
            return
        try:
            proof = parse_tlog_proof(data)
        except TimeSealError as exc:
            c.add(Check.LOG_PROOF_PARSES, False, f"{item.log_proof}: {exc}")
            c.skip(_LOG_CHECKS, Check.LOG_PROOF_PARSES)
            return
        c.add(Check.LOG_PROOF_PARSES, True, f"leaf {proof.leaf_index}")
        if token_der is None:
            c.skip(_LOG_CHECKS, Check.TOKEN_PARSES)
            return
        leaf = format_entry(
            EvidenceEntry(
                number=item.number,
                kind=item.kind,
                content_sha256=item.sha256,
                size=item.size,
                token_sha256=hashlib.sha256(token_der).digest(),
                supersedes=item.supersedes,
            )
        )
        if not proof.extra or proof.extra == leaf:
            c.add(Check.LOG_ENTRY_MATCHES, True, "entry rebuilt from manifest.json and token")
        else:
            c.add(Check.LOG_ENTRY_MATCHES, False, entry_difference(proof.extra, leaf))
        if key is None:
            c.skip(_LOG_CHECKS[1:], Check.LOG_KEY)
            return
        others = unknown_signatures(proof.checkpoint.note, (key, *self.cosigners))
        if others:
            names = ", ".join(sorted({s.name for s in others}))
            self.notices.append(
                f"{item.number}: 检查点另有 {len(others)} 个签名未检查（未指定见证方公钥） "
                f"the checkpoint carries {len(others)} signature(s) not checked, no witness key "
                f"given for them: {names}"
            )
        c.extend(
            verify_tlog_proof(
                proof, leaf=leaf, log_key=key, cosigners=self.cosigners, quorum=self.quorum
            )
        )

    def _check_certificate(
        self, c: Checks, item: ManifestItem, path: str, anchors: Sequence[x509.Certificate]
    ) -> None:
        if self.certificate_check is None or path not in self.members:
            self.notices.append(
                f"{item.number}: {path} 存在，但未检查其签名 present, signature not checked "
                "(open it in a PDF reader to see its signature)"
            )
            return
        try:
            data = self.archive.read(path)
        except MalformedError as exc:
            c.add(Check.CERTIFICATE_SIGNATURE, False, str(exc))
            return
        c.extend(self.certificate_check(data, anchors))
