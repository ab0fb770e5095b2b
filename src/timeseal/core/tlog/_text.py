"""Strict, canonical text pieces shared by the C2SP parsers; each raises ``MalformedError``.

Canonical means one spelling per value, so ``format(parse(data)) == data`` always holds:
base64 is RFC 4648 §4 with padding and zero trailing bits, decimals have no sign and no
leading zeroes (Go: ``lines[1] != strconv.FormatInt(n, 10)``).
"""

from __future__ import annotations

import base64
import re

from timeseal.core.errors import MalformedError

_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}", re.ASCII)

#: The Unicode White_Space property (what Go's unicode.IsSpace tests), which key names exclude.
_UNICODE_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)


def decode_base64(text: str, what: str) -> bytes:
    """Standard padded base64 (RFC 4648 §4) in its one canonical spelling."""
    if not _BASE64.fullmatch(text) or len(text) % 4:
        raise MalformedError(f"{what}: not base64")
    # The pattern and length leave b64decode nothing to refuse: 0-2 "=" after 4n+4-pad digits.
    data = base64.b64decode(text, validate=True)
    if base64.b64encode(data).decode("ascii") != text:
        raise MalformedError(f"{what}: non-canonical base64")
    return data


def encode_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def parse_decimal(text: str, what: str, maximum: int) -> int:
    """A decimal with no sign and no leading zeroes, at most ``maximum``."""
    if len(text) > len(str(maximum)) or not _DECIMAL.fullmatch(text):
        raise MalformedError(f"{what}: {text[:40]!r} is not a canonical decimal")
    value = int(text)
    if value > maximum:
        raise MalformedError(f"{what}: {value} exceeds {maximum}")
    return value


def has_control_characters(text: str) -> bool:
    """True if ``text`` has a character below U+0020 other than newline (C2SP signed-note)."""
    return any(c < " " and c != "\n" for c in text)


def is_valid_key_name(name: str) -> bool:
    """C2SP signed-note: non-empty, no Unicode spaces, no "+"; also no control characters
    (which a note could not carry anyway) and encodable as UTF-8."""
    if not name or "+" in name or has_control_characters(name):
        return False
    if any(c in _UNICODE_SPACES for c in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
