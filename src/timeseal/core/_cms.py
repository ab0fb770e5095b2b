"""Private CMS (RFC 5652) checks shared by the RFC 3161 verifier and the PDF signature verifier.

Each helper answers one question about a SignerInfo and returns ``None`` when the answer is
"yes", or the reason why not: the callers turn that into a named ``Check``. Nothing here
decides trust by itself; the roots come from the caller.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Sequence

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from timeseal.core import _asn1
from timeseal.core.errors import MalformedError

DIGESTS: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "2.16.840.1.101.3.4.2.1": hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}
_ECDSA = {
    "1.2.840.10045.4.3.2": hashes.SHA256,
    "1.2.840.10045.4.3.3": hashes.SHA384,
    "1.2.840.10045.4.3.4": hashes.SHA512,
}
_RSA_PKCS1 = {
    "1.2.840.113549.1.1.11": hashes.SHA256,
    "1.2.840.113549.1.1.12": hashes.SHA384,
    "1.2.840.113549.1.1.13": hashes.SHA512,
}
_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
MAX_CHAIN_DEPTH = 8
ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"


def signed_attributes(signer_info: cms.SignerInfo) -> dict[str, cms.Asn1Value]:
    """Signed attributes by name; an attribute present twice or multi-valued is refused."""
    found: dict[str, cms.Asn1Value] = {}
    attrs = signer_info["signed_attrs"]
    if attrs.native is None:
        return found
    for attr in attrs:
        name = attr["type"].native
        values = attr["values"]
        if name in found or len(values) != 1:
            return {}
        found[name] = values[0]
    return found


def sid_matches(sid: cms.SignerIdentifier, certificate: x509.Certificate) -> bool:
    """RFC 5652 §5.3: ``sid`` names ``certificate`` by issuer and serial, or by SKI."""
    if sid.name == "issuer_and_serial_number":
        cert = asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))
        value = sid.chosen
        return bool(
            value["serial_number"].native == cert.serial_number and value["issuer"] == cert.issuer
        )
    try:
        ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return False
    return bool(sid.chosen.native == ski.value.digest)


def signature_error(signer_info: cms.SignerInfo, signer: x509.Certificate) -> str | None:
    """RFC 5652 §5.4: the signature over the DER signed attributes verifies with ``signer``'s
    key. The attributes are taken as received, with the EXPLICIT SET OF tag, never re-encoded.
    Raises ``KeyError`` for a digest algorithm outside ``DIGESTS`` (callers report it)."""
    signed_attrs = signer_info["signed_attrs"]
    data = b"\x31" + signed_attrs.dump()[1:]
    signature = signer_info["signature"].native
    sig_oid = signer_info["signature_algorithm"]["algorithm"].dotted
    digest_oid = signer_info["digest_algorithm"]["algorithm"].dotted
    key = signer.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and (
            sig_oid in _ECDSA or sig_oid == _EC_PUBLIC_KEY
        ):
            hash_cls = _ECDSA.get(sig_oid) or DIGESTS[digest_oid]
            key.verify(signature, data, ec.ECDSA(hash_cls()))
        elif isinstance(key, rsa.RSAPublicKey) and (
            sig_oid in _RSA_PKCS1 or sig_oid == _RSA_ENCRYPTION
        ):
            hash_cls = _RSA_PKCS1.get(sig_oid) or DIGESTS[digest_oid]
            key.verify(signature, data, padding.PKCS1v15(), hash_cls())
        else:
            return f"signature algorithm {sig_oid} with a {type(key).__name__} is not supported"
    except InvalidSignature:
        return "the signature does not verify"
    return None


def chain_error(
    signer: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: dt.datetime,
) -> str | None:
    """RFC 5280 §6: a path from ``signer`` to one of ``roots``, every certificate valid at
    ``at``. The leaf's extendedKeyUsage is left to the caller, which knows the purpose."""
    try:
        verifier = (
            PolicyBuilder()
            .store(Store(list(roots)))
            .time(at)
            .max_chain_depth(MAX_CHAIN_DEPTH)
            .extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=ExtensionPolicy.permit_all().may_be_present(
                    x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None
                ),
            )
            .build_client_verifier()
        )
        verifier.verify(signer, [c for c in intermediates if c != signer])
    except VerificationError as exc:
        return str(exc)
    return None


def message_digest_check(
    signer_info: cms.SignerInfo, attrs: dict[str, cms.Asn1Value], signed: bytes
) -> tuple[bool, str]:
    """RFC 5652 §11.1, §11.2 for detached content: contentType is id-data and messageDigest
    is the digest of ``signed``. Returns (ok, why not)."""
    content_type = attrs.get("content_type")
    if content_type is None or content_type.dotted != ID_DATA:
        return False, "the contentType attribute is not id-data"
    digest_oid = signer_info["digest_algorithm"]["algorithm"].dotted
    algorithm = DIGESTS.get(digest_oid)
    if algorithm is None:
        return False, f"digest algorithm {digest_oid} refused"
    claimed = attrs.get("message_digest")
    if claimed is None:
        return False, "no messageDigest signed attribute"
    h = hashes.Hash(algorithm())
    h.update(signed)
    computed = h.finalize()
    want = bytes(claimed.native)
    if not hmac.compare_digest(want, computed):
        return False, f"messageDigest {want.hex()}, the signed bytes hash to {computed.hex()}"
    return True, ""


def ess_cert_id_error(attrs: dict[str, cms.Asn1Value], signer: x509.Certificate) -> str | None:
    """The signingCertificateV2 (RFC 5035, RFC 5816 §2.2.1) or signingCertificate (RFC 2634)
    attribute names ``signer``: its first ESSCertID hashes to the certificate and, when it has
    issuerSerial, carries its serial number."""
    der = signer.public_bytes(Encoding.DER)
    v2 = attrs.get("signing_certificate_v2")
    v1 = attrs.get("signing_certificate")
    if v2 is None and v1 is None:
        return "no signingCertificate(V2) attribute"
    if v2 is not None:
        ess = v2["certs"][0]
        alg_oid = ess["hash_algorithm"]["algorithm"].dotted
        if alg_oid not in DIGESTS:
            return f"ESSCertIDv2 hash {alg_oid} refused"
        h = hashes.Hash(DIGESTS[alg_oid]())
        h.update(der)
        computed = h.finalize()
    else:
        assert v1 is not None
        ess = v1["certs"][0]
        # RFC 2634 ESSCertID is SHA-1 by definition; it binds, it does not authenticate.
        computed = hashlib.sha1(der, usedforsecurity=False).digest()
    want = bytes(ess["cert_hash"].native)
    if not hmac.compare_digest(want, computed):
        return f"certHash {want.hex()}, signer certificate hashes to {computed.hex()}"
    issuer_serial = ess["issuer_serial"]
    if (
        issuer_serial.native is not None
        and issuer_serial["serial_number"].native != signer.serial_number
    ):
        return "issuerSerial names another serial number"
    return None


def certificates(signed_data: cms.SignedData) -> list[x509.Certificate]:
    out = []
    for choice in signed_data["certificates"] or ():
        if choice.name == "certificate":
            try:
                out.append(x509.load_der_x509_certificate(choice.chosen.dump()))
            except ValueError as exc:
                raise MalformedError(f"SignedData: unparsable certificate ({exc})") from exc
    return out


def load_signed_data(contents: bytes, what: str, *, padded: bool) -> cms.SignedData:
    """The SignedData of a ContentInfo (``what`` names it in errors); ``padded``: a PDF's
    ``/Contents`` value, whose zero padding is cut off (the DER says how long it is), else
    nothing may follow the DER. Raises MalformedError."""
    length = der_length(contents)
    if padded and any(contents[length:]):
        raise MalformedError(f"{what}: non-zero bytes after the CMS object")
    if not padded and len(contents) != length:
        raise MalformedError(f"{what}: {len(contents) - length} bytes after the CMS object")
    info = _asn1.load(cms.ContentInfo, contents[:length], what, values=False)
    try:
        if info["content_type"].dotted != ID_SIGNED_DATA:
            raise MalformedError(f"{what}: not a CMS SignedData")
        signed: cms.SignedData = info["content"]
        count = len(signed["signer_infos"])
    except _asn1.ASN1_ERRORS as exc:
        raise MalformedError(f"{what}: bad SignedData ({exc})") from exc
    if count != 1:
        raise MalformedError(f"{count} SignerInfos, expected exactly 1")
    return signed


def der_length(data: bytes) -> int:
    """Total length of the DER TLV at the start of ``data`` (definite lengths only)."""
    if len(data) < 2 or data[0] != 0x30:
        raise MalformedError("/Contents: not a DER SEQUENCE")
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        raise MalformedError("/Contents: unsupported DER length")
    total = 2 + count + int.from_bytes(data[2 : 2 + count], "big")
    if total > len(data):
        raise MalformedError("/Contents: the CMS object is longer than the hex string")
    return total


ID_KP_DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"  # RFC 9336
DOCUMENT_SIGNING_PURPOSES = {
    ID_KP_DOCUMENT_SIGNING,
    "1.3.6.1.4.1.311.10.3.12",  # Microsoft document signing
    "1.2.840.113583.1.1.5",  # Adobe Authentic Documents Trust
    "1.3.6.1.5.5.7.3.4",  # id-kp-emailProtection
    "2.5.29.37.0",  # anyExtendedKeyUsage
}


def document_signing_purpose(signer: x509.Certificate) -> tuple[bool, str]:
    """RFC 5280 §4.2.1.3, §4.2.1.12: is ``signer`` for signing documents? keyUsage (when
    present) has digitalSignature or nonRepudiation; extendedKeyUsage (when present) names one
    of the purposes Adobe Acrobat accepts for document signatures. Returns (ok, why not)."""
    try:
        extensions = signer.extensions
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.digital_signature or usage.content_commitment):
            return False, "keyUsage has neither digitalSignature nor nonRepudiation"
    except x509.ExtensionNotFound:
        pass
    try:
        purposes = {
            p.dotted_string
            for p in signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        }
    except x509.ExtensionNotFound:
        return True, ""
    if purposes & DOCUMENT_SIGNING_PURPOSES:
        return True, ""
    return False, f"extendedKeyUsage {sorted(purposes)} is not for signing documents"


def platform_signing_purpose(signer: x509.Certificate) -> tuple[bool, str]:
    """Is ``signer`` a platform's document-signing certificate? Stricter than
    :func:`document_signing_purpose`: extendedKeyUsage must be present and name
    id-kp-documentSigning (RFC 9336), so no other certificate under the same root (the TSA's, a
    TLS server's) can sign a package. Returns (ok, why not)."""
    ok, why = document_signing_purpose(signer)
    if not ok:
        return ok, why
    try:
        eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False, "no extendedKeyUsage: not a document-signing certificate"
    if ID_KP_DOCUMENT_SIGNING not in {p.dotted_string for p in eku}:
        return (
            False,
            f"extendedKeyUsage {sorted(p.dotted_string for p in eku)} lacks document signing",
        )
    return True, ""
