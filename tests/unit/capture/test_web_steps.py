"""The steps file of ``timeseal capture web --steps`` and the pieces of the operation log that
need no browser: errors name the line and the step; typing is logged by kind; what the page
recorder sends is re-checked."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from timeseal.capture.web.clock import format_rfc3339
from timeseal.capture.web.errors import StepsError
from timeseal.capture.web.oplog import OperationLog, keystroke_kinds
from timeseal.capture.web.recorder import clean_entry
from timeseal.capture.web.steps import Click, Goto, Screenshot, Scroll, Type, Wait, parse_steps

GOOD = """\
- goto: https://shop.test/item/1
- click: "#accept-privacy"
- type: {selector: "#phone", text: "13812345678"}
- type: {selector: "#qty", text: "2", safe: true}
- scroll: {to: bottom}
- scroll: {px: 800}
- wait: {ms: 500}
- wait: {selector: "#end"}
- screenshot: chat-1
- screenshot: 聊天记录_2
"""


def test_a_good_file_parses_with_lines() -> None:
    steps = parse_steps(GOOD)
    assert [s.step for s in steps] == [
        Goto("https://shop.test/item/1"),
        Click("#accept-privacy"),
        Type("#phone", "13812345678"),
        Type("#qty", "2", safe=True),
        Scroll(to_bottom=True),
        Scroll(to_bottom=False, px=800),
        Wait(ms=500),
        Wait(selector="#end"),
        Screenshot("chat-1"),
        Screenshot("聊天记录_2"),
    ]
    assert [s.line for s in steps] == list(range(1, 11))


@pytest.mark.parametrize(
    ("text", "line", "step"),
    [
        ("", None, None),
        ("goto: https://x.test/", 1, None),
        ("[]", 1, None),
        ("- goto: https://x.test/\n- clik: '#a'\n", 2, 2),
        ("- goto: ftp://x.test/\n", 1, 1),
        ("- goto: https://x.test/\n  click: '#a'\n", 1, 1),  # two keys in one step
        ("- click: ''\n", 1, 1),
        ("- type: {selector: '#p'}\n", 1, 1),
        ("- type: {selector: '#p', text: 'a', safe: maybe}\n", 1, 1),
        ("- type: {selector: '#p', text: 'a', secret: true}\n", 1, 1),
        ("- scroll: {to: top}\n", 1, 1),
        ("- scroll: {px: -5}\n", 1, 1),
        ("- scroll: {to: bottom, px: 5}\n", 1, 1),
        ("- wait: {ms: 1.5}\n", 1, 1),
        ("- wait: {ms: 999999}\n", 1, 1),
        ("- wait: {}\n", 1, 1),
        ("- screenshot: ../../etc/passwd\n", 1, 1),
        ("- screenshot: 聊天/记录\n", 1, 1),
        ("- screenshot: _hidden\n", 1, 1),
        ("- goto: https://x.test/\n- [unclosed\n", 3, None),
    ],
)
def test_errors_name_line_and_step(text: str, line: int | None, step: int | None) -> None:
    with pytest.raises(StepsError) as caught:
        parse_steps(text)
    assert (caught.value.line, caught.value.step) == (line, step)
    if line is not None:
        assert f"line {line}" in str(caught.value)


def test_an_unquoted_hash_selector_gets_the_hint_to_quote_it() -> None:
    # YAML reads `#buy` as a comment: the step has no selector at all.
    with pytest.raises(StepsError) as caught:
        parse_steps("- click: #buy\n")
    assert (caught.value.line, caught.value.step) == (1, 1)
    assert '"#buy"' in str(caught.value) and "comment" in str(caught.value)
    assert parse_steps('- click: "#buy"\n')[0].step == Click("#buy")


def test_keystrokes_are_counted_by_kind_not_kept() -> None:
    assert keystroke_kinds("13812345678") == {"characters": 11, "digits": 11}
    assert keystroke_kinds("张三 Li-4") == {
        "characters": 7,
        "digits": 1,
        "letters": 4,
        "other": 1,
        "spaces": 1,
    }


def test_operation_log_lines_are_canonical_with_millisecond_utc(tmp_path: Path) -> None:
    t = dt.datetime(2026, 11, 29, 15, 0, 0, 123456, tzinfo=dt.UTC)
    log = OperationLog(tmp_path / "operations.jsonl", clock=lambda: t)
    log.record("click", {"selector": "#a", "text": "同意"})
    log.close()
    line = (tmp_path / "operations.jsonl").read_bytes()
    assert (
        line
        == (
            '{"at":"2026-11-29T15:00:00.123Z","kind":"click","selector":"#a","seq":1,"text":"同意"}\n'
        ).encode()
    )
    assert log.summary()["counts"] == {"click": 1}
    with pytest.raises(ValueError, match="unknown operation kind"):
        log.record("teleport")
    with pytest.raises(ValueError, match="naive"):
        format_rfc3339(dt.datetime(2026, 1, 1))


def test_recorder_entries_are_rechecked() -> None:
    """A page can call the binding itself: only known kinds and bounded, integer values."""
    assert clean_entry({"kind": "scroll", "y": 120.0, "max": 900}) == (
        "scroll",
        {"y": 120, "max": 900},
    )
    assert clean_entry({"kind": "scroll", "y": 1.5, "max": 900}) is None
    assert clean_entry({"kind": "navigation", "url": "x"}) is None
    assert clean_entry("click") is None
    kind, fields = clean_entry(
        {"kind": "click", "selector": "#a", "text": "x" * 500, "x": 1, "y": 2}
    ) or ("", {})
    assert kind == "click" and len(str(fields["text"])) == 200
    typed = clean_entry(
        {
            "kind": "type",
            "selector": "#p",
            "secret": False,
            "characters": 3,
            "digits": 3,
            "letters": 0,
            "spaces": 0,
            "other": 0,
            "special": {"Backspace": 1, "bad": "x"},
        }
    )
    assert typed is not None and typed[1]["special"] == {"Backspace": 1}
    json.dumps(typed)
