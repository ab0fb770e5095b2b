"""Verdict levels (timeseal.core.verdict): failures make evidence invalid, gaps incomplete,
warnings valid_with_warnings; web capture directories reach each level from what their
capture.json and files say."""

from __future__ import annotations

import pytest

from tests.unit.core.test_capture_verify import OUTPUTS, _capture, _metadata, _stamp, _verify
from timeseal.core.package.canonical import JSONValue
from timeseal.core.verdict import Finding, Reason, Verdict, assess, capture_findings
from timeseal.core.verification import Check


def _with_metadata(**changes: JSONValue) -> dict[str, bytes]:
    files = _capture()
    files["capture.json"] = _metadata(OUTPUTS, **changes)
    files["capture.json.tsr"] = _stamp(files["capture.json"], 99)
    return files


def test_order_of_the_levels_and_exit_codes() -> None:
    fail = Finding("a.jpg", Check.FILE_SHA256, "listed 00, computed 11")
    gap = Finding("stop", Reason.CUT_OFF)
    warn = Finding("package", Reason.SELF_SUPPLIED_ROOT)
    assert assess([]).verdict is Verdict.VALID
    assert assess([], [warn]).verdict is Verdict.VALID_WITH_WARNINGS
    assert assess([], [warn, gap]).verdict is Verdict.INCOMPLETE
    verdict = assess([fail], [warn, gap])
    assert verdict.verdict is Verdict.INVALID and verdict.first == fail
    assert verdict.findings == (fail, gap, warn)
    assert assess([], checked=False).verdict is Verdict.INVALID
    assert assess([], [Finding("x", Reason.UNREADABLE)]).verdict is Verdict.INVALID
    codes = {v: v.exit_code for v in Verdict}
    assert codes == {
        Verdict.VALID: 0,
        Verdict.VALID_WITH_WARNINGS: 0,
        Verdict.INCOMPLETE: 3,
        Verdict.INVALID: 1,
    }


def test_only_a_gap_excuses_and_only_its_own_subject() -> None:
    with pytest.raises(ValueError, match="only a gap"):
        Finding("a", Reason.SELF_SUPPLIED_ROOT, excuses=(Check.FILE_PRESENT,))
    gap = Finding("a", Reason.OUTPUT_MISSING, excuses=(Check.FILE_PRESENT,))
    assert assess([Finding("a", Check.FILE_PRESENT)], [gap]).verdict is Verdict.INCOMPLETE
    assert assess([Finding("b", Check.FILE_PRESENT)], [gap]).verdict is Verdict.INVALID
    assert assess([Finding("a", Check.SIGNATURE)], [gap]).verdict is Verdict.INVALID


def test_a_sound_capture_is_valid() -> None:
    assert _verify(_capture()).assessment.verdict is Verdict.VALID


def test_a_missing_web_archive_makes_the_capture_incomplete() -> None:
    files = _capture()
    del files["capture.wacz"]
    assessment = _verify(files).assessment
    assert assessment.verdict is Verdict.INCOMPLETE
    assert [(f.subject, f.code) for f in assessment.findings] == [
        ("capture.wacz", Reason.OUTPUT_MISSING)
    ]


def test_a_missing_file_does_not_hide_a_tampered_one() -> None:
    files = _capture()
    del files["capture.wacz"]
    files["video.webm"] = b"video bytez"
    assert _verify(files).assessment.verdict is Verdict.INVALID


@pytest.mark.parametrize(
    ("changes", "reason", "verdict"),
    [
        (
            {"completed": False, "error": "net::ERR_CONNECTION_RESET"},
            Reason.CAPTURE_STOPPED,
            Verdict.INCOMPLETE,
        ),
        (
            {
                "final_url": "https://shop.example/gone",
                "network": {"file": "capture.wacz", "final_status": 404},
            },
            Reason.TARGET_ERROR,
            Verdict.INCOMPLETE,
        ),
        (
            {"network": {"file": "other.wacz", "final_status": 200}},
            Reason.OUTPUT_MISSING,
            Verdict.INCOMPLETE,
        ),
        (
            {"environment_check": {"overall": "fail", "forced": True}},
            Reason.FORCED_ENVIRONMENT,
            Verdict.VALID_WITH_WARNINGS,
        ),
    ],
)
def test_capture_json_says_what_the_capture_lacks(
    changes: dict[str, JSONValue], reason: Reason, verdict: Verdict
) -> None:
    report = _verify(_with_metadata(**changes))
    assert report.ok, report.failed  # every check passes: the verdict is still not "valid"
    assert report.assessment.verdict is verdict
    assert [f.code for f in report.assessment.findings] == [reason]


def test_capture_findings_ignore_what_they_do_not_know() -> None:
    assert capture_findings("x", {}) == []
    quiet = {"completed": True, "network": {"final_status": 200}, "environment": {"forced": False}}
    assert capture_findings("x", quiet) == []
    assert capture_findings("x", {"network": {"final_status": True}}) == []
    old = capture_findings("x", {"environment": {"forced": True}})
    assert [f.code for f in old] == [Reason.FORCED_ENVIRONMENT]


def test_a_cut_off_recording_is_incomplete_and_a_finished_one_valid() -> None:
    from tests.support.recordings import make_recording
    from tests.unit.core.test_segment_chain import verify as verify_recording

    finished = verify_recording(make_recording([b"a", b"b"]))
    assert finished.assessment.verdict is Verdict.VALID
    cut = verify_recording(make_recording([b"a", b"b", b"c"], sealed={0}, finished=False))
    assert cut.ok and cut.assessment.verdict is Verdict.INCOMPLETE
    (finding,) = cut.assessment.findings
    assert (finding.subject, finding.code) == ("stop", Reason.CUT_OFF)
    assert finding.detail.startswith("cut off: sealed through segment 0")


def test_a_code_missing_from_the_table_still_reads_as_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from timeseal.core import failure_text

    monkeypatch.delitem(failure_text.FAILURE_TEXT, Check.SIGNATURE)
    zh, en = failure_text.failure_text(Check.SIGNATURE)
    assert "signature" in zh and en == "A check failed: signature"
