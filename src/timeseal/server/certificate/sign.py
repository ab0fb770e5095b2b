"""Signing the certificate PDF: a PAdES signature and a document timestamp, from our own PKI.

Two revisions are appended to the rendered PDF (ETSI EN 319 142-1):

1. a PAdES baseline signature (``/SubFilter /ETSI.CAdES.detached``) by the platform's
   document-signing certificate (``pki/docsign.pem``, issued by the platform root), with a
   signature time-stamp token from our TSA in its unsigned attributes (B-T);
2. a document time-stamp (``/Type /DocTimeStamp``, ``/SubFilter /ETSI.RFC3161``) over the
   whole signed file, again from our TSA (the LTA-style archive timestamp; there is no
   revocation data to embed, the platform PKI publishes none).

The TSA is called in process (``TSAService.respond``), not over HTTP: the tokens are ours,
journaled and serial-numbered like any other. pyHanko asks its timestamper once for a dummy
token to size the signature's placeholder; the timestamper is kept for the life of the signer so
that happens once per process (that token is journaled like any other).
"""

from __future__ import annotations

import io
from typing import Protocol

from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from timeseal.server.runtime.platform_keys import DocumentSigner

SIGNATURE_FIELD = "TimeSealSignature"
DOC_TIMESTAMP_FIELD = "TimeSealDocTimeStamp"
MD_ALGORITHM = "sha256"


class TimestampReply(Protocol):
    @property
    def der(self) -> bytes: ...

    @property
    def granted(self) -> bool: ...


class TimestampResponder(Protocol):
    """What ``timeseal.server.tsa.service.TSAService`` offers: a TimeStampReq in, a reply out."""

    async def respond(self, body: bytes) -> TimestampReply: ...


class InProcessTimeStamper(TimeStamper):
    """pyHanko's timestamper, answered by our TSA service without a network round trip."""

    def __init__(self, responder: TimestampResponder) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        self._responder = responder

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        reply = await self._responder.respond(req.dump())
        if not reply.granted:
            raise TimestampRequestError("the TSA refused the certificate's timestamp request")
        return tsp.TimeStampResp.load(reply.der)


class CertificateSigner:
    """Signs rendered certificates. One per server process (it keeps the timestamper)."""

    def __init__(self, identity: DocumentSigner, tsa: TimestampResponder) -> None:
        key_der = identity.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        chain = [
            asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
            for c in identity.chain
        ]
        self._signer = signers.SimpleSigner(
            signing_cert=chain[0],
            signing_key=keys.PrivateKeyInfo.load(key_der),
            cert_registry=SimpleCertificateStore.from_certs(chain[1:]),  # type: ignore[no-untyped-call]
        )
        self._timestamper = InProcessTimeStamper(tsa)

    async def sign(self, pdf: bytes, *, number: str) -> bytes:
        """``pdf`` plus the two revisions described in the module docstring."""
        metadata = signers.PdfSignatureMetadata(
            field_name=SIGNATURE_FIELD,
            md_algorithm=MD_ALGORITHM,
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=f"时印认证证书 TimeSeal certificate {number}",
            location="TimeSeal",
        )
        pdf_signer = signers.PdfSigner(metadata, self._signer, timestamper=self._timestamper)
        signed = io.BytesIO()
        await pdf_signer.async_sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False), output=signed
        )
        stamped = io.BytesIO()
        await signers.PdfTimeStamper(
            self._timestamper, field_name=DOC_TIMESTAMP_FIELD
        ).async_timestamp_pdf(
            IncrementalPdfFileWriter(io.BytesIO(signed.getvalue()), strict=False),
            MD_ALGORITHM,
            output=stamped,
        )
        return stamped.getvalue()
