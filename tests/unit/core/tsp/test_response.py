"""Parsing TimeStampResp and TimeStampToken (timeseal.core.tsp.response): each structural
defect of a token is refused as malformed, by name, before any signature is looked at."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from asn1crypto import cms, core, tsp

from tests.support.pki import make_pki
from timeseal.core.errors import MalformedError, UnsupportedError
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import (
    Accuracy,
    PKIStatus,
    granted_response,
    parse_response,
    parse_token,
)

NOW = dt.datetime(2026, 11, 29, 10, 2, tzinfo=dt.UTC)
_AUTHORITY = make_pki(NOW).authority()
TOKEN_DER = _AUTHORITY.issue(build_request(bytes(32)), gen_time=NOW, serial_number=5).token_der


def _with_tst_info(edit: Callable[[tsp.TSTInfo], None]) -> bytes:
    """The token with its TSTInfo edited (fields set from loaded values keep their encoding)."""
    content_info = cms.ContentInfo.load(TOKEN_DER)
    encap = content_info["content"]["encap_content_info"]
    info = tsp.TSTInfo.load(bytes(encap["content"]))
    edit(info)
    encap["content"] = cms.ParsableOctetString(info.dump())
    der: bytes = content_info.dump()
    return der


def _status_response(status: int, token: bytes = b"") -> bytes:
    body = bytes((0x30, 0x03, 0x02, 0x01, status)) + token
    return b"\x30\x82" + len(body).to_bytes(2, "big") + body


@pytest.mark.parametrize("status", [0, 1])
def test_a_grant_without_a_token_is_malformed(status: int) -> None:
    with pytest.raises(MalformedError, match="granted but no timeStampToken"):
        parse_response(_status_response(status))


@pytest.mark.parametrize("status", [2, 3, 4, 5])
def test_other_statuses_need_no_token(status: int) -> None:
    response = parse_response(_status_response(status))
    assert (response.status, response.token) == (PKIStatus(status), None)


def test_an_unknown_status_is_malformed() -> None:
    with pytest.raises(MalformedError, match="PKIStatus: unknown value 6"):
        parse_response(_status_response(6, TOKEN_DER))


def test_accuracy_parts_are_range_checked() -> None:
    with pytest.raises(ValueError, match=r"millis and micros in 0\.\.999"):
        Accuracy(millis=1000)
    assert Accuracy(seconds=1, millis=2, micros=3).total == dt.timedelta(
        seconds=1, milliseconds=2, microseconds=3
    )


def test_content_type_must_be_signed_data() -> None:
    content_info = cms.ContentInfo({"content_type": "data", "content": b"x"})
    with pytest.raises(MalformedError, match="not id-signedData"):
        parse_token(content_info.dump())


def test_econtent_type_must_be_tst_info() -> None:
    content_info = cms.ContentInfo.load(TOKEN_DER)
    content_info["content"]["encap_content_info"]["content_type"] = "data"
    with pytest.raises(MalformedError, match="not id-ct-TSTInfo"):
        parse_token(content_info.dump())


def test_econtent_must_be_present() -> None:
    content_info = cms.ContentInfo.load(TOKEN_DER)
    content_info["content"]["encap_content_info"]["content"] = None
    with pytest.raises(MalformedError, match="no eContent"):
        parse_token(content_info.dump())


def test_tst_info_version_must_be_1() -> None:
    def edit(info: tsp.TSTInfo) -> None:
        info["version"] = 2

    with pytest.raises(UnsupportedError, match="TSTInfo version v2 is not v1"):
        parse_token(_with_tst_info(edit))


def test_tst_info_imprint_must_fit_its_algorithm() -> None:
    def edit(info: tsp.TSTInfo) -> None:
        info["message_imprint"] = {
            "hash_algorithm": {"algorithm": "sha256"},
            "hashed_message": bytes(20),
        }

    with pytest.raises(MalformedError, match="message imprint has the wrong length"):
        parse_token(_with_tst_info(edit))


def test_tst_info_accuracy_out_of_range() -> None:
    def edit(info: tsp.TSTInfo) -> None:
        info["accuracy"] = {"millis": 1000}

    with pytest.raises(MalformedError, match="TSTInfo: accuracy"):
        parse_token(_with_tst_info(edit))


def test_tst_info_gen_time_without_a_zone() -> None:
    def edit(info: tsp.TSTInfo) -> None:
        info["gen_time"] = core.GeneralizedTime.load(b"\x18\x0e20261129100200")

    with pytest.raises(MalformedError, match="genTime must be a UTC GeneralizedTime"):
        parse_token(_with_tst_info(edit))


def test_tsa_name_is_read_for_people() -> None:
    def edit(info: tsp.TSTInfo) -> None:
        info["tsa"] = {"dns_name": "tsa.example"}

    assert parse_token(_with_tst_info(edit)).tst_info.tsa_name == "tsa.example"


def test_a_bare_token_is_wrapped_byte_for_byte_in_a_granted_response() -> None:
    wrapped = granted_response(TOKEN_DER)
    response = parse_response(wrapped)
    assert response.status is PKIStatus.GRANTED and response.token is not None
    assert response.token.der == TOKEN_DER and wrapped.endswith(TOKEN_DER)
    assert wrapped == tsp.TimeStampResp.load(wrapped).dump(force=True)  # DER throughout
    assert tsp.TimeStampResp.load(wrapped)["time_stamp_token"].dump(force=True) == TOKEN_DER


def test_only_a_token_is_wrapped() -> None:
    with pytest.raises(MalformedError):
        granted_response(b"\x30\x03\x02\x01\x00")
