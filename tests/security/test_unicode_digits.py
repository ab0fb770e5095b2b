"""Numbers in headers, queries and form fields are ASCII digits only.

``str.isdigit`` takes "²" and ``int`` then refuses it: every check written as
``text.isdigit()`` before ``int(text)`` was a 500 waiting for a superscript. The one check is
:func:`timeseal.core.text.is_ascii_decimal`."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import PHONE, log_in
from timeseal.core.text import is_ascii_decimal

NOT_ASCII = ["²", "١٢", "１２", "1²"]


@pytest.mark.parametrize("text", NOT_ASCII + ["", "+1", "-1", " 1", "1_0", "0x1"])
def test_only_ascii_digits_are_decimal(text: str) -> None:
    assert not is_ascii_decimal(text)


@pytest.mark.parametrize("text", ["0", "7", "0012", "9" * 40])
def test_ascii_digits_are(text: str) -> None:
    assert is_ascii_decimal(text)
    int(text)  # and int takes every one of them


@pytest.mark.parametrize("value", NOT_ASCII)
@pytest.mark.parametrize("field", ["page", "case"])
def test_evidence_list_query_numbers(
    client: TestClient, data_dir: Path, field: str, value: str
) -> None:
    browser = TestClient(client.app, base_url="https://testserver")
    log_in(browser, data_dir / "sms-outbox.log", PHONE)
    reply = browser.get(f"/evidence?{field}={urllib.parse.quote(value)}")
    assert reply.status_code == 200, reply.text  # the parameter is ignored, never a 500
    assert "text/html" in reply.headers["content-type"]
