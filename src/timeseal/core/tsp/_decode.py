"""A fast path for parsing the common TimeStampReq, proven equal to the asn1crypto parser.

Parsing through asn1crypto with a DER round-trip check costs ~250 µs, more than signing the
token. Almost every request has one shape: v1, a SHA-2 imprint (parameters NULL or absent),
maybe a nonce, maybe certReq TRUE, no policy and no extensions. :func:`parse_simple_request`
reads exactly that shape in strict DER and returns ``None`` for anything else, which then goes
to the asn1crypto parser. It never decides that an input is invalid; so it can only ever
agree with the reference, and ``tests/unit/core/tsp/test_decode.py`` checks that it does
(same result, or ``None``) over generated and mutated requests.
"""

from __future__ import annotations

from timeseal.core.digest import HashAlgorithm

#: RFC 3161 allows arbitrary INTEGER nonces; we cap them at 160 bits like serial numbers.
MAX_NONCE_BITS = 160

_HASH_BY_OID_TLV = {
    b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01": HashAlgorithm.SHA256,
    b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x02": HashAlgorithm.SHA384,
    b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x03": HashAlgorithm.SHA512,
}
_NULL = b"\x05\x00"
_VERSION_1 = b"\x02\x01\x01"
_CERT_REQ_TRUE = b"\x01\x01\xff"


def _header(data: bytes, pos: int, tag: int) -> tuple[int, int] | None:
    """(content start, content end) of a DER TLV with ``tag`` at ``pos``, or None."""
    if pos + 2 > len(data) or data[pos] != tag:
        return None
    first = data[pos + 1]
    if first < 0x80:
        start, length = pos + 2, first
    elif first == 0x81:
        if pos + 3 > len(data) or data[pos + 2] < 0x80:
            return None
        start, length = pos + 3, data[pos + 2]
    elif first == 0x82:
        if pos + 4 > len(data) or data[pos + 2] == 0 or (data[pos + 2] << 8 | data[pos + 3]) < 256:
            return None
        start, length = pos + 4, data[pos + 2] << 8 | data[pos + 3]
    else:
        return None
    end = start + length
    return (start, end) if end <= len(data) else None


def parse_simple_request(
    data: bytes,
) -> tuple[HashAlgorithm, bytes, int | None, bool] | None:
    """(hash algorithm, imprint, nonce, certReq) for the common request shape, else None."""
    outer = _header(data, 0, 0x30)
    if outer is None or outer[1] != len(data):
        return None
    pos, end = outer
    if data[pos : pos + 3] != _VERSION_1:
        return None
    pos += 3
    imprint = _header(data, pos, 0x30)
    if imprint is None or imprint[1] > end:
        return None
    alg = _header(data, imprint[0], 0x30)
    if alg is None:
        return None
    algorithm = _HASH_BY_OID_TLV.get(data[alg[0] : alg[0] + 11])
    if algorithm is None or alg[1] not in (alg[0] + 11, alg[0] + 13):
        return None
    if alg[1] == alg[0] + 13 and data[alg[0] + 11 : alg[1]] != _NULL:
        return None
    digest = _header(data, alg[1], 0x04)
    if digest is None or digest[1] != imprint[1]:
        return None
    if digest[1] - digest[0] != algorithm.digest_size:
        return None
    message_imprint = data[digest[0] : digest[1]]
    pos = imprint[1]
    nonce = None
    if pos < end and data[pos] == 0x02:
        tlv = _header(data, pos, 0x02)
        if tlv is None or tlv[1] > end or tlv[0] == tlv[1]:
            return None
        content = data[tlv[0] : tlv[1]]
        if content[0] >= 0x80:  # negative
            return None
        if len(content) > 1 and content[0] == 0 and content[1] < 0x80:  # not minimal
            return None
        nonce = int.from_bytes(content, "big")
        if nonce >= 1 << MAX_NONCE_BITS:
            return None
        pos = tlv[1]
    cert_req = False
    if data[pos:end] == _CERT_REQ_TRUE:
        cert_req = True
        pos = end
    if pos != end:
        return None
    return algorithm, bytes(message_imprint), nonce, cert_req
