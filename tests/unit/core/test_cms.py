"""CMS glue shared by the token and PDF verifiers (timeseal.core._cms): signed attributes,
signer identifiers and whether a certificate may sign documents."""

from __future__ import annotations

import datetime as dt

from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.pki import NOW, make_pki
from timeseal.core import _cms

PKI = make_pki()


def _bare_certificate() -> x509.Certificate:
    """A self-signed certificate with no extensions at all (no keyUsage, EKU or SKI)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bare")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_a_certificate_without_usage_extensions_may_sign_documents() -> None:
    assert _cms.document_signing_purpose(_bare_certificate()) == (True, "")


def test_a_ca_certificate_may_not_sign_documents() -> None:
    assert _cms.document_signing_purpose(PKI.root.certificate) == (
        False,
        "keyUsage has neither digitalSignature nor nonRepudiation",
    )


def test_a_signer_named_by_subject_key_identifier() -> None:
    root = PKI.root.certificate
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    sid = cms.SignerIdentifier({"subject_key_identifier": ski})
    assert _cms.sid_matches(sid, root)
    assert not _cms.sid_matches(sid, PKI.tsa.certificate)  # another key identifier
    assert not _cms.sid_matches(sid, _bare_certificate())  # no identifier at all


def _signer_info(attributes: list[dict[str, object]] | None) -> cms.SignerInfo:
    fields: dict[str, object] = {
        "version": "v1",
        "sid": {"subject_key_identifier": b"\x01"},
        "digest_algorithm": {"algorithm": "sha256"},
        "signature_algorithm": {"algorithm": "sha256_ecdsa"},
        "signature": b"",
    }
    if attributes is not None:
        fields["signed_attrs"] = attributes
    return cms.SignerInfo(fields)


def test_signed_attributes_absent_or_repeated_give_none() -> None:
    content_type: dict[str, object] = {"type": "content_type", "values": ["data"]}
    assert _cms.signed_attributes(_signer_info(None)) == {}
    assert _cms.signed_attributes(_signer_info([content_type, content_type])) == {}
    assert list(_cms.signed_attributes(_signer_info([content_type]))) == ["content_type"]
