from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timeseal.core.errors import MalformedError
from timeseal.core.evidence.number import (
    ALPHABET,
    EvidenceNumberError,
    NumberProblem,
    check_character,
    legacy_check_only,
    legacy_check_symbol,
    new_evidence_number,
    number_date,
    parse_evidence_number,
)

DAY = dt.date(2026, 11, 29)
symbols = st.text(alphabet=ALPHABET, min_size=7, max_size=7)


def _sample_bodies(n: int) -> list[str]:
    """``n`` numbers as their 16 characters (date, symbols, check), over many dates."""
    rng = random.Random(16)
    bodies = []
    for _ in range(n):
        day = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(20 * 366))
        number = new_evidence_number(day, "".join(rng.choice(ALPHABET) for _ in range(7)))
        bodies.append(number.replace("TS", "").replace("-", ""))
    return bodies


def _passes(body: str) -> bool:
    return check_character(body[:8], body[8:15]) == body[15]


SAMPLE = _sample_bodies(300)


def test_the_check_character_is_in_the_numbers_own_alphabet() -> None:
    for body in SAMPLE:
        assert body[15] in ALPHABET
        assert _passes(body)


def test_every_single_character_error_is_caught() -> None:
    """All 16 positions (date digits, symbols, the check itself) x all 31 other symbols."""
    tried = 0
    for body in SAMPLE:
        for pos in range(16):
            for symbol in ALPHABET:
                if symbol != body[pos]:
                    assert not _passes(body[:pos] + symbol + body[pos + 1 :]), (body, pos)
                    tried += 1
    assert tried == len(SAMPLE) * 16 * 31


def test_every_transposition_is_caught() -> None:
    """Every swap of two different characters, neighbours (15 places) and any other pair."""
    adjacent = 0
    for body in SAMPLE:
        for i in range(16):
            for j in range(i + 1, 16):
                if body[i] == body[j]:
                    continue
                chars = list(body)
                chars[i], chars[j] = chars[j], chars[i]
                assert not _passes("".join(chars)), (body, i, j)
                adjacent += j == i + 1
    assert adjacent > len(SAMPLE) * 13


def test_errors_the_parser_lets_through_pass_only_the_old_check() -> None:
    """A typo of a new number that happens to satisfy the old mod-37 check is parsed (old
    numbers stay valid) but marked, so a lookup that finds nothing calls it a typo."""
    for body in SAMPLE[:60]:
        for pos in range(16):
            for symbol in ALPHABET:
                typo = body[:pos] + symbol + body[pos + 1 :]
                if symbol == body[pos]:
                    continue
                try:
                    number = parse_evidence_number("TS" + typo)
                except MalformedError:
                    continue
                assert legacy_check_only(number)


def test_shape_and_round_trip() -> None:
    number = new_evidence_number(DAY)
    assert number.startswith("TS-20261129-")
    assert len(number) == len("TS-20261129-7Q4K-M2XD")
    assert parse_evidence_number(number) == number
    assert not legacy_check_only(number)


def test_forgiving_input_gives_the_canonical_form() -> None:
    number = new_evidence_number(DAY, "0Q4K1M2")
    typed = number.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert parse_evidence_number(typed) == number
    assert parse_evidence_number(number.lower().replace("-", "")) == number


def test_numbers_with_the_old_check_symbol_stay_valid() -> None:
    for old in ("TS-20261129-8000-000$", "ts-20261129-8000-000$"):
        assert parse_evidence_number(old) == "TS-20261129-8000-000$"
    old = "TS-20261129-7Q4K-M2X" + legacy_check_symbol("20261129", "7Q4KM2X")
    assert parse_evidence_number(old) == old
    assert legacy_check_only(old)


@pytest.mark.parametrize(
    "cut", ["TS-20261129-7Q4K-M2X", "ts202611297q4km2x", "TS-20261129-8000-000"]
)
def test_a_missing_check_character_is_named(cut: str) -> None:
    with pytest.raises(EvidenceNumberError, match=r"last character .* is a check character") as e:
        parse_evidence_number(cut)
    assert e.value.problem is NumberProblem.CHECK_MISSING


@given(symbols, st.integers(0, 6), st.sampled_from(ALPHABET))
def test_a_substituted_symbol_is_refused_or_only_passes_the_old_check(
    random_symbols: str, pos: int, new: str
) -> None:
    number = new_evidence_number(DAY, random_symbols)
    if random_symbols[pos] == new:
        return
    wrong = random_symbols[:pos] + new + random_symbols[pos + 1 :]
    typo = f"TS-20261129-{wrong[:4]}-{wrong[4:]}{number[-1]}"
    if legacy_check_symbol("20261129", wrong) == number[-1]:
        assert legacy_check_only(parse_evidence_number(typo))
        return
    with pytest.raises(EvidenceNumberError, match="wrong check character") as e:
        parse_evidence_number(typo)
    assert e.value.problem is NumberProblem.CHECK_MISMATCH


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "TS-2026112-7Q4K-M2XD",
        "XX-20261129-7Q4K-M2XD",
        "TS-20261340-7Q4K-M2X0",
        "TS-20261129-7Q4K-M2XDD",
    ],
)
def test_malformed(bad: str) -> None:
    with pytest.raises(EvidenceNumberError) as e:
        parse_evidence_number(bad)
    assert e.value.problem is NumberProblem.MALFORMED


@given(st.text(max_size=40))
def test_arbitrary_text_only_raises_malformed(text: str) -> None:
    try:
        number = parse_evidence_number(text)
    except MalformedError:
        return
    assert parse_evidence_number(number) == number


def test_random_symbols_must_be_seven_crockford_symbols() -> None:
    for bad in ("0Q4K1M", "0Q4K1MU"):
        with pytest.raises(ValueError, match="7 Crockford Base32 symbols"):
            new_evidence_number(DAY, bad)


def test_only_short_strings_are_parsed() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        parse_evidence_number(b"TS-20261129-7Q4K-M2XD")  # type: ignore[arg-type]
    with pytest.raises(MalformedError, match="too long"):
        parse_evidence_number("TS-20261129-7Q4K-M2XD" + " " * 60)


def test_u_is_not_a_crockford_symbol() -> None:
    with pytest.raises(MalformedError, match="not Crockford Base32"):
        parse_evidence_number("TS-20261129-7Q4U-M2XD")


def test_the_date_is_the_beijing_date() -> None:
    late_utc = dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC)  # 07:30 on 1 December in Beijing
    assert number_date(late_utc) == dt.date(2026, 12, 1)
    assert number_date(late_utc - dt.timedelta(hours=8)) == dt.date(2026, 11, 30)
    with pytest.raises(ValueError, match="aware"):
        number_date(dt.datetime(2026, 11, 30, 23, 30))
