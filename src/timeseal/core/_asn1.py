"""Private glue over asn1crypto: strict loading and the few encodings the core needs.

Nothing outside ``timeseal.core`` sees an asn1crypto object; public types hold bytes, ints,
strings, enums and ``cryptography`` certificates.
"""

from __future__ import annotations

from typing import TypeVar, cast

from asn1crypto import cms, tsp
from asn1crypto import core as asn1_core

from timeseal.core.errors import MalformedError

T = TypeVar("T", bound=asn1_core.Asn1Value)

#: What asn1crypto raises on bad input (it has no exception type of its own).
ASN1_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)

#: Inputs larger than this are refused before parsing (a TimeStampResp with a chain is ~2 KiB).
MAX_DER_SIZE = 1 << 20


def load(
    spec: type[T], data: bytes, what: str, *, require_der: bool = False, values: bool = True
) -> T:
    """Parse ``data`` as ``spec`` with no trailing bytes.

    With ``values`` every field is decoded now, so that no error can surface later; use it for
    small inputs. Large ones (tokens with certificates) pass ``values=False``: only the outer
    tag and length are checked here and the caller decodes the fields it reads, catching
    ``ASN1_ERRORS``. asn1crypto's full decode (``.native``, or a recursive parse) fills in
    DEFAULT fields, marks the tree modified and then re-encodes it on every ``dump()``: over
    100 ms for one token.

    With ``require_der`` the input must also be the canonical DER encoding (the re-encoding of
    what was parsed is byte-identical), as a strict parser of our own inputs demands.

    The value returned is untouched: its ``dump()`` and ``.contents`` are the bytes received.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{what}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_DER_SIZE:
        raise MalformedError(f"{what}: {len(data)} bytes is larger than {MAX_DER_SIZE}")
    try:
        if values:
            _ = spec.load(data, strict=True).native
        value = spec.load(data, strict=True)
    except ASN1_ERRORS as exc:
        raise MalformedError(f"{what}: bad DER ({exc})") from exc
    if require_der:
        try:
            canonical = spec.load(data, strict=True).dump(force=True)
        except ASN1_ERRORS as exc:
            raise MalformedError(f"{what}: bad DER ({exc})") from exc
        if canonical != data:
            raise MalformedError(f"{what}: not DER-canonical")
    return cast(T, value)


class TimeStampResp(asn1_core.Sequence):  # type: ignore[misc]
    """RFC 3161 §2.4.2 TimeStampResp with ``timeStampToken`` OPTIONAL.

    asn1crypto's ``tsp.TimeStampResp`` makes the token mandatory, so it cannot encode or parse
    a rejection; this is the same structure as the RFC defines it.
    """

    _fields = [  # noqa: RUF012 - asn1crypto's declaration style
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]
