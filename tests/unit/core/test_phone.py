"""Mainland mobile numbers: what is accepted, how it is normalised, what is refused and why."""

from __future__ import annotations

import pytest

from timeseal.core.phone import (
    InvalidPhoneNumber,
    PhoneProblem,
    mask_phone,
    normalise_phone,
)

ACCEPTED = [
    ("13812345678", "+8613812345678"),
    ("+8613812345678", "+8613812345678"),
    ("008613812345678", "+8613812345678"),
    ("138 1234 5678", "+8613812345678"),
    ("138-1234-5678", "+8613812345678"),
    ("+86 138 1234 5678", "+8613812345678"),
    ("+86-138-1234-5678", "+8613812345678"),
    ("0086 138-1234-5678", "+8613812345678"),
    ("  13812345678  ", "+8613812345678"),
    ("1 3 8 1 2 3 4 5 6 7 8", "+8613812345678"),
    ("19912345678", "+8619912345678"),
    ("15000000000", "+8615000000000"),
    ("16600000000", "+8616600000000"),
    ("17712345678", "+8617712345678"),
]

REFUSED = [
    ("", PhoneProblem.EMPTY),
    ("   ", PhoneProblem.EMPTY),
    ("- -", PhoneProblem.EMPTY),
    ("1" * 40, PhoneProblem.TOO_LONG),
    ("8613812345678", PhoneProblem.WRONG_LENGTH),  # 86 without + or 00
    ("1381234567", PhoneProblem.WRONG_LENGTH),  # 10 digits
    ("138123456789", PhoneProblem.WRONG_LENGTH),  # 12 digits
    ("+86 1381234567", PhoneProblem.WRONG_LENGTH),
    ("12812345678", PhoneProblem.NOT_MOBILE),  # 12x is not a mobile prefix
    ("10012345678", PhoneProblem.NOT_MOBILE),
    ("23812345678", PhoneProblem.NOT_MOBILE),
    ("01012345678", PhoneProblem.NOT_MOBILE),  # a Beijing landline shape
    ("+1 138 1234 5678", PhoneProblem.BAD_CHARACTERS),  # another country
    ("+85213812345678", PhoneProblem.BAD_CHARACTERS),
    ("++8613812345678", PhoneProblem.BAD_CHARACTERS),
    ("138.1234.5678", PhoneProblem.BAD_CHARACTERS),
    ("(138) 1234 5678", PhoneProblem.BAD_CHARACTERS),
    ("138_1234_5678", PhoneProblem.BAD_CHARACTERS),
    ("1381234567x", PhoneProblem.BAD_CHARACTERS),
    ("１３８１２３４５６７８", PhoneProblem.BAD_CHARACTERS),  # full-width digits
    ("١٣٨١٢٣٤٥٦٧٨", PhoneProblem.BAD_CHARACTERS),  # Arabic-Indic digits match \\d
    ("138\t1234\t5678", PhoneProblem.BAD_CHARACTERS),
    ("138 1234 5678\n1", PhoneProblem.BAD_CHARACTERS),
    ("13812345678+86", PhoneProblem.BAD_CHARACTERS),
]


@pytest.mark.parametrize(("text", "e164"), ACCEPTED)
def test_accepted_numbers_normalise_to_e164(text: str, e164: str) -> None:
    assert normalise_phone(text) == e164
    assert normalise_phone(e164) == e164  # idempotent


@pytest.mark.parametrize(("text", "problem"), REFUSED)
def test_everything_else_is_refused_with_the_reason(text: str, problem: PhoneProblem) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalise_phone(text)
    assert caught.value.problem is problem
    assert problem.value in str(caught.value)


def test_masked_for_logs() -> None:
    assert mask_phone("+8613812345678") == "+86 138****5678"
