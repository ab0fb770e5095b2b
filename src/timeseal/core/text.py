"""Checks on text that untrusted parties send (headers, form fields, log entries)."""

from __future__ import annotations


def is_ascii_decimal(text: str) -> bool:
    """One or more ASCII digits: what ``int`` then parses as expected.

    ``str.isdigit`` also takes "²" (which ``int`` refuses: a 500 where a 400 was meant) and
    ``str.isdecimal`` takes "١٢" (which ``int`` reads as 12)."""
    return text.isascii() and text.isdigit()
