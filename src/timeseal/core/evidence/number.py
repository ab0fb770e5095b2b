"""Evidence numbers people can read aloud, type, and copy and paste: ``TS-20261129-7Q4K-M2XD``.

Layout: ``TS-<UTC date YYYYMMDD>-<4 symbols>-<3 symbols><check>``. The seven symbols are
random, from Crockford's Base32 alphabet (digits and letters without I, L, O, U, so nothing
is mistaken for 1 or 0 when read aloud or handwritten). The date is the Beijing date
(UTC+8) the number was minted on (:func:`number_date`), the time zone every page and the
certificate show first, so a number sealed at 07:30 Beijing time on 1 December reads
``20261201``. Numbers minted before 2026-12 carry the UTC date instead.

The check character is from the same 32-symbol alphabet, so a number is one "word" to a
shell, a double click and a file system. The 15 date digits and symbols before it, read as
elements of GF(32) (``x^5 + x^2 + 1``), are weighted α^15 … α^1 and the check is their sum
(so with the check weighted α^0 = 1 everything sums to zero). The 16 weights are distinct and
non-zero, so a changed symbol changes the sum by ``w·d ≠ 0``, and two different symbols
swapped (neighbours or not) by ``(wᵢ − wⱼ)·d ≠ 0``: every single-character error and every
transposition is caught. tests/unit/core/evidence/test_number.py checks all of them.

Numbers minted before this check (until TimeSeal 2026-12) end in Crockford's own check
symbol: the value of date digits and symbols modulo 37, from the alphabet extended with
``*~$=U``. They stay valid forever (the public log holds them), so the parser accepts either
check; :func:`legacy_check_only` tells a lookup that found nothing that the number passed
only the old check, which for a number typed today means a typo.

:func:`parse_evidence_number` is forgiving the way Crockford intends: case-insensitive, dashes
and spaces optional, ``O`` read as ``0`` and ``I``/``L`` as ``1``; it returns the canonical form.
Its :class:`EvidenceNumberError` names the problem (:class:`NumberProblem`), so a caller can say
"the last character is a check character" when it is missing.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import secrets
from collections.abc import Callable
from typing import TypeVar

from timeseal.core.errors import MalformedError

_T = TypeVar("_T")

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: The check symbols of numbers minted before the GF(32) check (still accepted).
LEGACY_CHECK_ALPHABET = ALPHABET + "*~$=U"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SHAPE = re.compile(r"TS(\d{8})([0-9A-Z]{7})([0-9A-Z*~$=]{1})")
_SHORT = re.compile(r"TS(\d{8})([0-9A-Z]{7})")
RANDOM_SYMBOLS = 7
_GF32_MODULUS = 0b100101  # x^5 + x^2 + 1, primitive: α has order 31
#: The time zone of a number's date: China Standard Time, no daylight saving.
BEIJING = dt.timezone(dt.timedelta(hours=8), "UTC+8")


class NumberProblem(enum.Enum):
    """Why a text is not an evidence number (values are the API's error codes)."""

    MALFORMED = "evidence_number_malformed"
    CHECK_MISSING = "evidence_number_check_missing"
    CHECK_MISMATCH = "evidence_number_check_mismatch"


#: What to tell a person about a check problem (中文, English), in the API and the CLI alike.
PROBLEM_TEXT: dict[NumberProblem, tuple[str, str]] = {
    NumberProblem.CHECK_MISSING: (
        "证据编号少了一位：最后一位是校验字符（TS-YYYYMMDD-XXXX-XXXC），请完整复制。",
        "The evidence number is one character short: the last character is a check "
        "character (TS-YYYYMMDD-XXXX-XXXC); copy the whole number.",
    ),
    NumberProblem.CHECK_MISMATCH: (
        "证据编号的校验字符（最后一位）不符，可能有输入错误，请核对。",
        "The evidence number's check character (its last one) does not match: a typo? "
        "Check the number.",
    ),
}


class EvidenceNumberError(MalformedError):
    """The text is not an evidence number; ``problem`` says why."""

    def __init__(self, message: str, problem: NumberProblem) -> None:
        super().__init__(message)
        self.problem = problem


def _times_alpha(value: int) -> int:
    value <<= 1
    return value ^ _GF32_MODULUS if value & 0b100000 else value


def check_character(date: str, symbols: str) -> str:
    """The check character of ``date`` (8 digits) and ``symbols`` (Crockford Base32):
    Horner's rule over GF(32), so the i-th of the 15 values from the end is weighted α^i."""
    value = 0
    for c in date + symbols:
        value = _times_alpha(value ^ _VALUE[c])
    return ALPHABET[value]


def legacy_check_symbol(date: str, symbols: str) -> str:
    """Crockford's check symbol (mod 37), which numbers minted before 2026-12 carry."""
    value = int(date)
    for c in symbols:
        value = value * 32 + _VALUE[c]
    return LEGACY_CHECK_ALPHABET[value % 37]


def number_date(at: dt.datetime) -> dt.date:
    """The date a number minted at ``at`` (aware) carries: the Beijing date."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    return at.astimezone(BEIJING).date()


def new_evidence_number(date: dt.date, random_symbols: str | None = None) -> str:
    """A fresh number for ``date`` (:func:`number_date` of the time of minting);
    ``random_symbols`` only for tests."""
    symbols = random_symbols or "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_SYMBOLS))
    if len(symbols) != RANDOM_SYMBOLS or any(c not in _VALUE for c in symbols):
        raise ValueError(f"need {RANDOM_SYMBOLS} Crockford Base32 symbols")
    day = f"{date:%Y%m%d}"
    return f"TS-{day}-{symbols[:4]}-{symbols[4:]}{check_character(day, symbols)}"


def _grouped_as_short(text: str) -> bool:
    """Typed without separators, or in the groups of a number cut before its check
    (``TS-YYYYMMDD-XXXX-XXX``), not one whose date lost a digit."""
    groups = [len(g) for g in re.split(r"[\s\-]+", text.strip()) if g]
    return len(groups) == 1 or groups in ([2, 8, 4, 3], [2, 8, 7], [10, 4, 3], [10, 7])


def _malformed(text: str, why: str, problem: NumberProblem) -> EvidenceNumberError:
    return EvidenceNumberError(f"{text!r} {why}", problem)


def parse_evidence_number(text: str) -> str:
    """The canonical number for what a person typed; :class:`EvidenceNumberError` (a
    ``MalformedError``) if it is not one. Either check is accepted (see the module)."""
    if not isinstance(text, str):
        raise TypeError("evidence number must be a str")
    if len(text) > 64:
        raise EvidenceNumberError("evidence number too long", NumberProblem.MALFORMED)
    compact = re.sub(r"[\s\-]", "", text).upper().translate(_ALIASES)
    match = _SHAPE.fullmatch(compact)
    if match is None:
        if _SHORT.fullmatch(compact) and _grouped_as_short(text):
            raise _malformed(
                text,
                "is one character short: the last character of an evidence number is a "
                "check character (TS-YYYYMMDD-XXXX-XXXC)",
                NumberProblem.CHECK_MISSING,
            )
        raise _malformed(
            text, "is not an evidence number (TS-YYYYMMDD-XXXX-XXXC)", NumberProblem.MALFORMED
        )
    day, symbols, check = match.groups()
    if any(c not in _VALUE for c in symbols):
        raise _malformed(
            text, "contains a symbol that is not Crockford Base32", NumberProblem.MALFORMED
        )
    try:
        dt.datetime.strptime(day, "%Y%m%d")
    except ValueError:
        raise _malformed(text, "does not hold a valid date", NumberProblem.MALFORMED) from None
    if check not in (check_character(day, symbols), legacy_check_symbol(day, symbols)):
        raise _malformed(
            text,
            "has a wrong check character, its last one (a typo?)",
            NumberProblem.CHECK_MISMATCH,
        )
    return f"TS-{day}-{symbols[:4]}-{symbols[4:]}{check}"


def legacy_check_only(number: str) -> bool:
    """True when the canonical ``number`` passes the old mod-37 check but not the current
    one: a real number minted before 2026-12, or a mistyped newer one. A lookup that finds
    no record for it reports a wrong check character, as it would without the old check."""
    day, symbols, check = number[3:11], number[12:16] + number[17:20], number[20]
    return check != check_character(day, symbols)


def find_by_number(text: str, get: Callable[[str], _T | None]) -> tuple[_T | None, str | None]:
    """What ``get`` (a lookup by canonical number) finds for the number a person typed, or
    None and why: a :class:`NumberProblem` check code, or ``not_found`` (no such record, or
    not a number at all). One rule for the API, the pages and the CLI: a number that passes
    only the old check and names nothing is reported as a wrong check character."""
    try:
        number = parse_evidence_number(text)
    except EvidenceNumberError as exc:
        return None, "not_found" if exc.problem is NumberProblem.MALFORMED else exc.problem.value
    found = get(number)
    if found is not None:
        return found, None
    return None, NumberProblem.CHECK_MISMATCH.value if legacy_check_only(number) else "not_found"
