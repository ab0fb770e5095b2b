"""Evidence numbers people can read aloud and type: ``TS-20261129-7Q4K-M2XD``.

Layout: ``TS-<UTC date YYYYMMDD>-<4 symbols>-<3 symbols><check>``. The seven symbols are
random, from Crockford's Base32 alphabet (digits and letters without I, L, O, U, so nothing
is mistaken for 1 or 0 when read aloud or handwritten); the last symbol is Crockford's check
symbol: the value of date digits and symbols modulo 37, from the alphabet extended with
``*~$=U``. A single wrong or mistyped symbol, and a swap of two neighbouring symbols, always
changes the check.

:func:`parse_evidence_number` is forgiving the way Crockford intends: case-insensitive, dashes
and spaces optional, ``O`` read as ``0`` and ``I``/``L`` as ``1``; it returns the canonical form.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

from timeseal.core.errors import MalformedError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_ALPHABET = ALPHABET + "*~$=U"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SHAPE = re.compile(r"TS(\d{8})([0-9A-Z]{7})([0-9A-Z*~$=]{1})")
RANDOM_SYMBOLS = 7


def _check_symbol(date: str, symbols: str) -> str:
    value = int(date)
    for c in symbols:
        value = value * 32 + _VALUE[c]
    return CHECK_ALPHABET[value % 37]


def new_evidence_number(date: dt.date, random_symbols: str | None = None) -> str:
    """A fresh number for ``date`` (UTC); ``random_symbols`` only for tests."""
    symbols = random_symbols or "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_SYMBOLS))
    if len(symbols) != RANDOM_SYMBOLS or any(c not in _VALUE for c in symbols):
        raise ValueError(f"need {RANDOM_SYMBOLS} Crockford Base32 symbols")
    day = f"{date:%Y%m%d}"
    check = _check_symbol(day, symbols)
    return f"TS-{day}-{symbols[:4]}-{symbols[4:]}{check}"


def parse_evidence_number(text: str) -> str:
    """The canonical number for what a person typed; ``MalformedError`` if it is not one."""
    if not isinstance(text, str):
        raise TypeError("evidence number must be a str")
    if len(text) > 64:
        raise MalformedError("evidence number too long")
    compact = re.sub(r"[\s\-]", "", text).upper().translate(_ALIASES)
    match = _SHAPE.fullmatch(compact)
    if match is None:
        raise MalformedError(f"{text!r} is not an evidence number (TS-YYYYMMDD-XXXX-XXXX)")
    day, symbols, check = match.groups()
    if any(c not in _VALUE for c in symbols):
        raise MalformedError(f"{text!r} contains a symbol that is not Crockford Base32")
    try:
        dt.datetime.strptime(day, "%Y%m%d")
    except ValueError:
        raise MalformedError(f"{text!r} does not hold a valid date") from None
    if _check_symbol(day, symbols) != check:
        raise MalformedError(f"{text!r}: the check symbol does not match (a typo?)")
    return f"TS-{day}-{symbols[:4]}-{symbols[4:]}{check}"
