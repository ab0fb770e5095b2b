"""Catalogues, the language rule, and the time and size helpers of the web pages."""

from __future__ import annotations

import datetime as dt

import pytest
from starlette.requests import Request

from timeseal.core.verification import CHECK_TITLES, Check
from timeseal.server.web import catalogue
from timeseal.server.web.i18n import parse_lang, request_lang, translations
from timeseal.server.web.render import check_title, filesize, time_html
from timeseal.server.web.verify import KIND_NAMES


def test_catalogues_hold_every_message_translated() -> None:
    """No page string is missing from, or untranslated in, the zh_CN and en catalogues (run
    ``python -m timeseal.server.web.catalogue update`` after changing a message)."""
    assert catalogue.problems() == []
    assert len(catalogue.extract()) > 50


def test_check_titles_are_the_clis_in_both_languages() -> None:
    """The page's reports name each check as ``timeseal verify`` does: one table in the core
    for both, so every check has a title in both languages."""
    for check in Check:
        zh, en = CHECK_TITLES[check]
        assert check_title(check, "zh") == zh and check_title(check, "en") == en
        assert zh != en and zh and en


def test_every_evidence_kind_has_a_name() -> None:
    from timeseal.core.log_entry import EVIDENCE_KINDS

    assert set(KIND_NAMES) == set(EVIDENCE_KINDS)


def _request(query: str = "", cookie: str = "", accept: str = "") -> Request:
    headers = [(b"cookie", cookie.encode()), (b"accept-language", accept.encode())]
    return Request({"type": "http", "query_string": query.encode(), "headers": headers})


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        ("", "", "", ("zh", False)),
        ("", "", "en-US,en;q=0.9", ("en", False)),
        ("", "", "fr, en;q=0.5, zh;q=0.8", ("zh", False)),
        ("", "ts_lang=en", "zh-CN", ("en", False)),
        ("lang=zh", "ts_lang=en", "en", ("zh", True)),
        ("lang=en-GB", "", "", ("en", True)),
        ("lang=fr", "ts_lang=xx", "en", ("en", False)),
    ],
)
def test_language_rule(query: str, cookie: str, accept: str, expected: tuple[str, bool]) -> None:
    assert request_lang(_request(query, cookie, accept)) == expected


def test_parse_lang() -> None:
    assert [parse_lang(v) for v in ("zh_CN", "ZH-Hans", "en", "en-us", "de", None)] == [
        "zh",
        "zh",
        "en",
        "en",
        None,
        None,
    ]


def test_time_is_beijing_first_with_utc_beside_and_on_hover() -> None:
    t = dt.datetime(2026, 11, 29, 17, 30, 5, 123456, tzinfo=dt.UTC)
    html = str(time_html(t, translations("zh")))
    assert html == (
        '<time datetime="2026-11-29T17:30:05.123456Z" title="2026-11-29 17:30:05.123 UTC">'
        '2026-11-30 01:30:05.123 <span class="tz">北京时间</span></time>'
        ' <span class="utc">(2026-11-29 17:30:05.123 UTC)</span>'
    )
    assert "Beijing time" in str(time_html(t, translations("en")))
    with pytest.raises(ValueError, match="naive"):
        time_html(t.replace(tzinfo=None), translations("zh"))


def test_file_sizes() -> None:
    zh, en = translations("zh"), translations("en")
    assert filesize(1, en, "en") == "1 byte"
    assert filesize(1023, zh, "zh_CN") == "1,023 字节"
    assert filesize(1048580, en, "en") == "1,048,580 bytes (1.0 MiB)"
    assert filesize(5 * 1024**4 + 1, en, "en").endswith("(5.0 TiB)")
