"""The platform's own PKI: a root CA and the certificates it issues.

Profiles (RFC 5280 plus the RFC 3161 §2.3 requirements for a TSA):

- root CA: basicConstraints cA=TRUE (critical), keyUsage keyCertSign|cRLSign (critical), SKI;
- TSA: basicConstraints cA=FALSE (critical), keyUsage digitalSignature (critical),
  extendedKeyUsage exactly id-kp-timeStamping (critical, as RFC 3161 §2.3 requires), SKI, AKI;
- document signing (the certificate PDF's PAdES signature): basicConstraints cA=FALSE
  (critical), keyUsage digitalSignature|nonRepudiation (critical; pyHanko's default signer
  constraint asks for nonRepudiation), extendedKeyUsage id-kp-documentSigning (RFC 9336) and
  Microsoft's documentSigning 1.3.6.1.4.1.311.10.3.12 (one of the purposes Adobe Acrobat
  accepts), *not* critical so that a relying party that knows neither still accepts it, SKI, AKI.

Pure: the caller passes the current time; keys come from ``cryptography``.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from timeseal.core.signers import PrivateKey, PublicKey

ROOT_VALIDITY = dt.timedelta(days=365 * 25)
TSA_VALIDITY = dt.timedelta(days=365 * 10)
DOCUMENT_SIGNING_VALIDITY = dt.timedelta(days=365 * 10)
#: id-kp-documentSigning, RFC 9336 §3.
ID_KP_DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
#: Microsoft's szOID_KP_DOCUMENT_SIGNING, which Adobe Acrobat lists among the EKUs it accepts.
MS_DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12")
#: Backdate notBefore slightly so that a verifier whose clock lags a little still accepts.
_CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    key: PrivateKey
    certificate: x509.Certificate

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def sha256_fingerprint(certificate: x509.Certificate) -> str:
    """The certificate's SHA-256 fingerprint as ``openssl x509 -noout -fingerprint -sha256``
    prints it (``AB:CD:…``, 32 pairs): what people compare with a published one."""
    digest = certificate.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _require_aware(now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


def new_policy_oid() -> str:
    """A fresh policy OID under the UUID arc 2.25 (ITU-T X.667), minted once per installation."""
    return f"2.25.{uuid.uuid4().int}"


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def create_root_ca(
    *,
    now: dt.datetime,
    common_name: str = "TimeSeal Root CA",
    organization: str = "TimeSeal",
    validity: dt.timedelta = ROOT_VALIDITY,
) -> IssuedCertificate:
    """A self-signed ECDSA P-256 root CA."""
    _require_aware(now)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name, organization)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return IssuedCertificate(key=key, certificate=cert)


def create_tsa_certificate(
    issuer: IssuedCertificate,
    public_key: PublicKey,
    *,
    now: dt.datetime,
    common_name: str = "TimeSeal Time-Stamp Authority",
    organization: str = "TimeSeal",
    validity: dt.timedelta = TSA_VALIDITY,
) -> x509.Certificate:
    """A TSA signing certificate for ``public_key`` (which may live in an HSM)."""
    return _issue_leaf(
        issuer,
        public_key,
        now=now,
        name=_name(common_name, organization),
        validity=validity,
        eku=ExtendedKeyUsageOID.TIME_STAMPING,
    )


def create_tsa_key_and_certificate(
    issuer: IssuedCertificate,
    *,
    now: dt.datetime,
    common_name: str = "TimeSeal Time-Stamp Authority",
) -> IssuedCertificate:
    """A new ECDSA P-256 key and its TSA certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = create_tsa_certificate(issuer, key.public_key(), now=now, common_name=common_name)
    return IssuedCertificate(key=key, certificate=cert)


def create_document_signing_certificate(
    issuer: IssuedCertificate,
    public_key: PublicKey,
    *,
    now: dt.datetime,
    common_name: str = "TimeSeal Document Signing",
    organization: str = "TimeSeal",
    validity: dt.timedelta = DOCUMENT_SIGNING_VALIDITY,
) -> x509.Certificate:
    """A certificate for signing the platform's PDF certificates (PAdES), same root as the TSA."""
    return _issue_leaf(
        issuer,
        public_key,
        now=now,
        name=_name(common_name, organization),
        validity=validity,
        eku=(ID_KP_DOCUMENT_SIGNING, MS_DOCUMENT_SIGNING),
        eku_critical=False,
        non_repudiation=True,
    )


def create_document_signing_key_and_certificate(
    issuer: IssuedCertificate, *, now: dt.datetime
) -> IssuedCertificate:
    """A new ECDSA P-256 key and its document-signing certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = create_document_signing_certificate(issuer, key.public_key(), now=now)
    return IssuedCertificate(key=key, certificate=cert)


def _issue_leaf(
    issuer: IssuedCertificate,
    public_key: PublicKey,
    *,
    now: dt.datetime,
    name: x509.Name,
    validity: dt.timedelta,
    eku: x509.ObjectIdentifier | tuple[x509.ObjectIdentifier, ...],
    eku_critical: bool = True,
    non_repudiation: bool = False,
) -> x509.Certificate:
    _require_aware(now)
    not_after = min(now + validity, issuer.certificate.not_valid_after_utc)
    issuer_ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.certificate.subject)
        .public_key(public_key)
        .serial_number(_serial())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(non_repudiation=non_repudiation), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(list(eku) if isinstance(eku, tuple) else [eku]),
            critical=eku_critical,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski.value),
            critical=False,
        )
        .sign(issuer.key, hashes.SHA256())
    )


def _serial() -> int:
    # RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/B asks for 64 bits of entropy.
    return secrets.randbits(159) | 1 << 158


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage(*, non_repudiation: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
