"""Shared rules of the package verifier (timeseal.core.package._rules): how a log entry that is
not the item's is described."""

from __future__ import annotations

from timeseal.core.package._rules import entry_difference


def test_a_non_ascii_entry_is_named() -> None:
    assert entry_difference("条目".encode(), b"a\n") == "the proof's entry is not ASCII"


def test_differing_lines_and_counts_are_listed() -> None:
    assert entry_difference(b"a\nb\n", b"a\nc\nd\n") == (
        "the proof's entry is not this item's: 'b' != 'c'; 2 lines, expected 3"
    )
