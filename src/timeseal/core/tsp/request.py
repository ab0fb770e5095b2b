"""RFC 3161 §2.4.1 time-stamp requests.

::

    TimeStampReq ::= SEQUENCE  {
       version                      INTEGER  { v1(1) },
       messageImprint               MessageImprint,
       reqPolicy             TSAPolicyId              OPTIONAL,
       nonce                 INTEGER                  OPTIONAL,
       certReq               BOOLEAN                  DEFAULT FALSE,
       extensions            [0] IMPLICIT Extensions  OPTIONAL  }

    MessageImprint ::= SEQUENCE  {
         hashAlgorithm                AlgorithmIdentifier,
         hashedMessage                OCTET STRING  }
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import algos, tsp

from timeseal.core import _asn1
from timeseal.core.digest import HashAlgorithm
from timeseal.core.errors import MalformedError, UnsupportedVersion
from timeseal.core.tsp._decode import MAX_NONCE_BITS, parse_simple_request


@dataclass(frozen=True, slots=True)
class RequestExtension:
    """One entry of the request's ``extensions``; ``value`` is the raw extnValue contents."""

    oid: str
    critical: bool
    value: bytes


@dataclass(frozen=True, slots=True)
class TimeStampRequest:
    """A parsed (or built) TimeStampReq. ``der`` is the exact encoding."""

    hash_algorithm: HashAlgorithm
    message_imprint: bytes
    nonce: int | None
    cert_req: bool
    req_policy: str | None
    extensions: tuple[RequestExtension, ...]
    der: bytes

    def __post_init__(self) -> None:
        if len(self.message_imprint) != self.hash_algorithm.digest_size:
            raise ValueError(
                f"message imprint is {len(self.message_imprint)} bytes, "
                f"{self.hash_algorithm.name} needs {self.hash_algorithm.digest_size}"
            )
        if self.nonce is not None and not 0 <= self.nonce < 1 << MAX_NONCE_BITS:
            raise ValueError(f"nonce must be in [0, 2^{MAX_NONCE_BITS})")


def build_request(
    message_imprint: bytes,
    hash_algorithm: HashAlgorithm = HashAlgorithm.SHA256,
    *,
    nonce: int | None = None,
    cert_req: bool = True,
    req_policy: str | None = None,
) -> TimeStampRequest:
    """Encode a TimeStampReq for ``message_imprint`` (the digest, not the data)."""
    if not isinstance(hash_algorithm, HashAlgorithm):
        raise TypeError("hash_algorithm must be a HashAlgorithm")
    fields: dict[str, object] = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": {"algorithm": hash_algorithm.value},
            "hashed_message": bytes(message_imprint),
        },
        "cert_req": cert_req,
    }
    if req_policy is not None:
        fields["req_policy"] = req_policy
    if nonce is not None:
        fields["nonce"] = nonce
    der = tsp.TimeStampReq(fields).dump()
    return TimeStampRequest(
        hash_algorithm=hash_algorithm,
        message_imprint=bytes(message_imprint),
        nonce=nonce,
        cert_req=cert_req,
        req_policy=req_policy,
        extensions=(),
        der=der,
    )


def parse_request(data: bytes) -> TimeStampRequest:
    """Parse a DER TimeStampReq strictly.

    The common shape takes a fast path (``_decode.parse_simple_request``, proven to agree with
    the asn1crypto parser); everything else goes through asn1crypto. Raises ``MalformedError``
    for anything that is not a canonical DER TimeStampReq with a digest of the right length,
    ``UnsupportedAlgorithm`` for a digest we refuse (SHA-1, MD5) and ``UnsupportedVersion``
    for a version other than v1.
    """
    if isinstance(data, bytes):
        simple = parse_simple_request(data)
        if simple is not None:
            hash_algorithm, imprint, nonce, cert_req = simple
            return TimeStampRequest(
                hash_algorithm=hash_algorithm,
                message_imprint=imprint,
                nonce=nonce,
                cert_req=cert_req,
                req_policy=None,
                extensions=(),
                der=data,
            )
    return parse_request_asn1crypto(data)


def parse_request_asn1crypto(data: bytes) -> TimeStampRequest:
    """The reference parser: asn1crypto, with a DER round-trip check."""
    req = _asn1.load(tsp.TimeStampReq, data, "TimeStampReq", require_der=True)
    if req["version"].native != "v1":
        raise UnsupportedVersion(f"TimeStampReq version {req['version'].native} is not v1")
    imprint = req["message_imprint"]
    alg: algos.DigestAlgorithm = imprint["hash_algorithm"]
    parameters = alg["parameters"]
    if parameters.native is not None:
        raise MalformedError("MessageImprint: hash algorithm parameters must be absent or NULL")
    hash_algorithm = HashAlgorithm.from_oid(alg["algorithm"].dotted)
    hashed = imprint["hashed_message"].native
    if len(hashed) != hash_algorithm.digest_size:
        raise MalformedError(
            f"MessageImprint: {len(hashed)}-byte digest, "
            f"{hash_algorithm.name} needs {hash_algorithm.digest_size}"
        )
    nonce = req["nonce"].native
    if nonce is not None and not 0 <= nonce < 1 << MAX_NONCE_BITS:
        raise MalformedError(f"nonce out of range (negative or over {MAX_NONCE_BITS} bits)")
    policy = req["req_policy"]
    extensions = tuple(
        RequestExtension(
            oid=ext["extn_id"].dotted,
            critical=bool(ext["critical"].native),
            value=ext["extn_value"].contents,
        )
        for ext in (req["extensions"] if req["extensions"].native is not None else ())
    )
    return TimeStampRequest(
        hash_algorithm=hash_algorithm,
        message_imprint=hashed,
        nonce=nonce,
        cert_req=bool(req["cert_req"].native),
        req_policy=None if policy.native is None else policy.dotted,
        extensions=extensions,
        der=bytes(data),
    )
