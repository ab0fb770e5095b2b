"""RFC 3161 §2.4.2 time-stamp responses and tokens, parsed but *not* verified.

::

    TimeStampResp ::= SEQUENCE  {
         status                  PKIStatusInfo,
         timeStampToken          TimeStampToken     OPTIONAL  }

    PKIStatusInfo ::= SEQUENCE {
        status        PKIStatus,
        statusString  PKIFreeText     OPTIONAL,
        failInfo      PKIFailureInfo  OPTIONAL  }

    TimeStampToken ::= ContentInfo
         -- contentType is id-signedData ([CMS])
         -- content is SignedData ([CMS])

    TSTInfo ::= SEQUENCE  {
       version                      INTEGER  { v1(1) },
       policy                       TSAPolicyId,
       messageImprint               MessageImprint,
       serialNumber                 INTEGER,
       genTime                      GeneralizedTime,
       accuracy                     Accuracy                 OPTIONAL,
       ordering                     BOOLEAN             DEFAULT FALSE,
       nonce                        INTEGER                  OPTIONAL,
       tsa                          [0] GeneralName          OPTIONAL,
       extensions                   [1] IMPLICIT Extensions   OPTIONAL  }

Everything here is what the response *claims*; only ``timeseal.core.tsp.verify`` establishes
that a token is genuine. The original DER is kept (``der``) and never re-encoded.
"""

from __future__ import annotations

import datetime as dt
import enum
import warnings
from dataclasses import dataclass

from asn1crypto import cms, parser, tsp
from cryptography import x509

from timeseal.core import _asn1
from timeseal.core.digest import HashAlgorithm
from timeseal.core.errors import MalformedError, UnsupportedError

ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_CT_TST_INFO = "1.2.840.113549.1.9.16.1.4"


class PKIStatus(enum.IntEnum):
    """RFC 3161 §2.4.2 PKIStatus."""

    GRANTED = 0
    GRANTED_WITH_MODS = 1
    REJECTION = 2
    WAITING = 3
    REVOCATION_WARNING = 4
    REVOCATION_NOTIFICATION = 5


class FailureInfo(enum.IntEnum):
    """RFC 3161 §2.4.2 PKIFailureInfo, valued by bit number."""

    BAD_ALG = 0
    BAD_REQUEST = 2
    BAD_DATA_FORMAT = 5
    TIME_NOT_AVAILABLE = 14
    UNACCEPTED_POLICY = 15
    UNACCEPTED_EXTENSION = 16
    ADD_INFO_NOT_AVAILABLE = 17
    SYSTEM_FAILURE = 25

    @property
    def asn1_name(self) -> str:
        """The camelCase name RFC 3161 uses, e.g. ``badAlg``."""
        head, *rest = self.name.lower().split("_")
        return head + "".join(w.capitalize() for w in rest)


_FAILURE_BY_ASN1CRYPTO = {
    "bad_alg": FailureInfo.BAD_ALG,
    "bad_request": FailureInfo.BAD_REQUEST,
    "bad_data_format": FailureInfo.BAD_DATA_FORMAT,
    "time_not_available": FailureInfo.TIME_NOT_AVAILABLE,
    "unaccepted_policy": FailureInfo.UNACCEPTED_POLICY,
    "unaccepted_extensions": FailureInfo.UNACCEPTED_EXTENSION,
    "add_info_not_available": FailureInfo.ADD_INFO_NOT_AVAILABLE,
    "system_failure": FailureInfo.SYSTEM_FAILURE,
}


@dataclass(frozen=True, slots=True)
class Accuracy:
    """RFC 3161 §2.4.2 Accuracy; all parts zero means 'not stated'."""

    seconds: int = 0
    millis: int = 0
    micros: int = 0

    def __post_init__(self) -> None:
        if self.seconds < 0 or not 0 <= self.millis <= 999 or not 0 <= self.micros <= 999:
            raise ValueError("accuracy: seconds >= 0, millis and micros in 0..999")

    @property
    def total(self) -> dt.timedelta:
        return dt.timedelta(
            seconds=self.seconds, milliseconds=self.millis, microseconds=self.micros
        )


@dataclass(frozen=True, slots=True)
class TSTInfo:
    """The signed content of a token, as claimed (unverified until the token is verified)."""

    policy: str
    hash_algorithm: HashAlgorithm
    message_imprint: bytes
    serial_number: int
    gen_time: dt.datetime
    accuracy: Accuracy | None
    ordering: bool
    nonce: int | None
    tsa_name: str | None
    der: bytes


@dataclass(frozen=True, slots=True)
class TimeStampToken:
    """A TimeStampToken (CMS ContentInfo), parsed but not verified.

    ``certificates`` are those the token carries; they vouch for nothing by themselves.
    """

    tst_info: TSTInfo
    certificates: tuple[x509.Certificate, ...]
    der: bytes


@dataclass(frozen=True, slots=True)
class TimeStampResponse:
    """A TimeStampResp. ``token`` is present when the status is granted."""

    status: PKIStatus
    status_text: tuple[str, ...]
    failure_info: frozenset[FailureInfo]
    token: TimeStampToken | None
    der: bytes


def parse_response(data: bytes) -> TimeStampResponse:
    """Parse a DER TimeStampResp (status and, when present, the token)."""
    resp = _asn1.load(_asn1.TimeStampResp, data, "TimeStampResp", values=False)
    try:
        status_info = resp["status"]
        status = _status_from_native(status_info["status"])
        texts = status_info["status_string"].native or []
        failure_bits = status_info["fail_info"].native or set()
        has_token = isinstance(resp["time_stamp_token"], cms.ContentInfo)
    except _asn1.ASN1_ERRORS as exc:
        raise MalformedError(f"TimeStampResp: bad PKIStatusInfo ({exc})") from exc
    failure_info = frozenset(
        _FAILURE_BY_ASN1CRYPTO[name] for name in failure_bits if name in _FAILURE_BY_ASN1CRYPTO
    )
    token = None
    if status in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        if not has_token:
            raise MalformedError("TimeStampResp: status granted but no timeStampToken")
        token = _token_from_content_info(resp["time_stamp_token"], _received_token(data))
    return TimeStampResponse(
        status=status,
        status_text=tuple(texts),
        failure_info=failure_info,
        token=token,
        der=bytes(data),
    )


def granted_response(token_der: bytes) -> bytes:
    """A TimeStampResp with status granted around a bare TimeStampToken (RFC 3161 §2.4.2),
    the token's bytes kept exactly as given; :class:`MalformedError` if it is not a token."""
    parse_token(token_der)
    # A freshly loaded, untouched ContentInfo dumps its own bytes, so nothing is re-encoded.
    response = tsp.TimeStampResp(
        {
            "status": tsp.PKIStatusInfo({"status": "granted"}),
            "time_stamp_token": cms.ContentInfo.load(bytes(token_der)),
        }
    )
    der: bytes = response.dump()
    return der


def _status_from_native(value: tsp.PKIStatus) -> PKIStatus:
    # asn1crypto names the six values RFC 3161 defines and gives any other as an int.
    native = value.native
    by_name = {
        "granted": PKIStatus.GRANTED,
        "granted_with_mods": PKIStatus.GRANTED_WITH_MODS,
        "rejection": PKIStatus.REJECTION,
        "waiting": PKIStatus.WAITING,
        "revocation_warning": PKIStatus.REVOCATION_WARNING,
        "revocation_notification": PKIStatus.REVOCATION_NOTIFICATION,
    }
    if native not in by_name:
        raise MalformedError(f"PKIStatus: unknown value {native!r}")
    return by_name[native]


def parse_token(data: bytes) -> TimeStampToken:
    """Parse a bare TimeStampToken (ContentInfo), as found inside a TimeStampResp."""
    content_info = _asn1.load(cms.ContentInfo, data, "TimeStampToken", values=False)
    return _token_from_content_info(content_info, bytes(data))


def _received_token(data: bytes) -> bytes:
    """The timeStampToken of a TimeStampResp exactly as received: what follows the status.

    Not ``dump()``: once ``_asn1.load`` has parsed every field, asn1crypto has filled in absent
    DEFAULT fields (ESSCertIDv2's hashAlgorithm) and marked the tree mutated, so ``dump()``
    would re-encode the whole token, slowly, and for BER input into other bytes.
    """
    _, _, _, _, content, _ = parser.parse(bytes(data))
    _, _, _, status_header, status_content, status_trailer = parser.parse(content)
    return bytes(content[len(status_header) + len(status_content) + len(status_trailer) :])


def _token_from_content_info(content_info: cms.ContentInfo, der: bytes) -> TimeStampToken:
    """``content_info`` is the parsed token, ``der`` its bytes as received (kept verbatim)."""
    try:
        return _token_fields(content_info, der)
    except _asn1.ASN1_ERRORS as exc:
        raise MalformedError(f"TimeStampToken: bad field ({exc})") from exc


def _token_fields(content_info: cms.ContentInfo, der: bytes) -> TimeStampToken:
    if content_info["content_type"].dotted != ID_SIGNED_DATA:
        raise MalformedError("TimeStampToken: content type is not id-signedData")
    signed_data = content_info["content"]
    encap = signed_data["encap_content_info"]
    if encap["content_type"].dotted != ID_CT_TST_INFO:
        raise MalformedError("TimeStampToken: eContentType is not id-ct-TSTInfo")
    econtent = encap["content"]
    if not isinstance(econtent, cms.ParsableOctetString):
        raise MalformedError("TimeStampToken: no eContent")
    # bytes() joins the segments of a BER constructed OCTET STRING; DER gives the value as is.
    tst_der = bytes(econtent)
    tst_info = _parse_tst_info(tst_der)
    certificates = []
    for choice in signed_data["certificates"] or ():
        if choice.name != "certificate":
            continue
        try:
            certificates.append(_load_certificate(choice.chosen.dump()))
        except (ValueError, x509.InvalidVersion, x509.DuplicateExtension, Warning) as exc:
            raise MalformedError("TimeStampToken: unparsable certificate") from exc
    return TimeStampToken(tst_info=tst_info, certificates=tuple(certificates), der=der)


def _load_certificate(der: bytes) -> x509.Certificate:
    """A certificate whose names and extensions decode, refusing what cryptography only warns
    about (a serial number that is not positive, RFC 5280 §4.1.2.2; a name attribute of the
    wrong length): a token carrying such a certificate is malformed."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        certificate = x509.load_der_x509_certificate(der)
        # cryptography decodes these lazily; make their errors surface here.
        _ = certificate.subject, certificate.issuer, certificate.extensions
        return certificate


def _parse_tst_info(der: bytes) -> TSTInfo:
    info = _asn1.load(tsp.TSTInfo, der, "TSTInfo")
    if info["version"].native != "v1":
        raise UnsupportedError(f"TSTInfo version {info['version'].native} is not v1")
    imprint = info["message_imprint"]
    hash_algorithm = HashAlgorithm.from_oid(imprint["hash_algorithm"]["algorithm"].dotted)
    hashed = imprint["hashed_message"].native
    if len(hashed) != hash_algorithm.digest_size:
        raise MalformedError("TSTInfo: message imprint has the wrong length")
    accuracy = None
    if info["accuracy"].native is not None:
        acc = info["accuracy"].native
        try:
            accuracy = Accuracy(
                seconds=acc.get("seconds") or 0,
                millis=acc.get("millis") or 0,
                micros=acc.get("micros") or 0,
            )
        except ValueError as exc:
            raise MalformedError(f"TSTInfo: {exc}") from exc
    gen_time = info["gen_time"].native
    if not isinstance(gen_time, dt.datetime) or gen_time.tzinfo is None:
        raise MalformedError("TSTInfo: genTime must be a UTC GeneralizedTime")
    tsa = info["tsa"]
    return TSTInfo(
        policy=info["policy"].dotted,
        hash_algorithm=hash_algorithm,
        message_imprint=hashed,
        serial_number=info["serial_number"].native,
        gen_time=gen_time.astimezone(dt.UTC),
        accuracy=accuracy,
        ordering=bool(info["ordering"].native),
        nonce=info["nonce"].native,
        tsa_name=None if tsa.native is None else _general_name_text(tsa),
        der=der,
    )


def _general_name_text(name: object) -> str:
    try:
        chosen = name.chosen  # type: ignore[attr-defined]
        human = getattr(chosen, "human_friendly", None)
        return str(human if human is not None else chosen.native)
    except (AttributeError, ValueError):
        return "(unreadable name)"
