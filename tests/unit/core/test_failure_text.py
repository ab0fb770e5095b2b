"""The one table of consumer wording (timeseal.core.failure_text): every code a verifier can
report — each check when it fails, each verdict reason — reads in Chinese and in English."""

from __future__ import annotations

import pytest

from timeseal.core.failure_text import FAILURE_TEXT, VERDICT_TEXT, failure_text
from timeseal.core.verdict import Reason, Verdict
from timeseal.core.verification import Check

CODES: list[Check | Reason] = [*Check, *Reason]


@pytest.mark.parametrize("code", CODES, ids=lambda c: c.value)
def test_every_failure_code_has_both_languages(code: Check | Reason) -> None:
    assert code in FAILURE_TEXT, f"add {code!r} to timeseal.core.failure_text.FAILURE_TEXT"
    zh, en = FAILURE_TEXT[code]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), zh  # Chinese
    assert en.isascii() and en[0].isupper() and " " in en, en  # an English sentence
    if "_" in code.value:  # words, not the code's snake_case name
        assert code.value not in zh and code.value not in en


def test_the_table_holds_nothing_else_and_verdicts_are_named() -> None:
    assert set(FAILURE_TEXT) == set(CODES)
    assert set(VERDICT_TEXT) == set(Verdict)
    assert len({zh for zh, _ in VERDICT_TEXT.values()}) == len(Verdict)


def test_the_example_of_the_issue() -> None:
    assert failure_text(Check.IMPRINT_MATCHES) == (
        "文件内容与时间戳不符：该文件在盖时间戳后被修改过",
        "The file was changed after it was timestamped",
    )
