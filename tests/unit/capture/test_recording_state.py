"""Recordings registered for ``timeseal sync`` (timeseal.capture.recording.state): the
registry file, the newest head of a chain, and sealing it late."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.pki import NOW
from tests.support.recordings import PKI, make_recording, write_recording
from tests.support.server import free_port
from timeseal.capture.clients.tsa import StampResult
from timeseal.capture.offline.queue import QueueError
from timeseal.capture.recording import state as recording_state
from timeseal.capture.recording.state import RecordingState, newest_head, seal_newest_head
from timeseal.cli.main import app
from timeseal.core.digest import HashAlgorithm
from timeseal.core.segment_chain import token_name
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import parse_response
from timeseal.core.verification import Check

RID = "00" * 16


def late_stamp(link: bytes) -> StampResult:
    """The project's own TSA code, an hour after the recording's tokens."""
    request = build_request(link, HashAlgorithm.SHA256, nonce=7, cert_req=True)
    issued = PKI.authority().issue(
        request, gen_time=NOW + dt.timedelta(hours=1), serial_number=4242
    )
    return StampResult(request, parse_response(issued.response_der))


def test_register_list_unregister(tmp_path: Path) -> None:
    state = RecordingState(RID, tmp_path / "rec", "http://127.0.0.1:1")
    path = recording_state.register(state, tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert recording_state.registered(tmp_path) == ([state], [])
    (recording_state.state_dir(tmp_path) / "broken.json").write_text("{")
    states, problems = recording_state.registered(tmp_path)
    assert states == [state] and len(problems) == 1 and "broken.json" in problems[0]
    recording_state.unregister(RID, tmp_path)
    assert recording_state.registered(tmp_path)[0] == []


@pytest.mark.parametrize(
    "obj",
    [
        {"format": "other"},
        {"format": recording_state.FORMAT, "recording_id": "xyz", "directory": "/d", "server": "s"},
        {"format": recording_state.FORMAT, "recording_id": RID, "directory": 3, "server": "s"},
    ],
)
def test_a_bad_registry_file_is_refused(obj: dict[str, object]) -> None:
    with pytest.raises(QueueError):
        RecordingState.from_json(obj)


def test_the_newest_head_of_a_killed_recording_is_sealed_late(tmp_path: Path) -> None:
    rec = make_recording([b"a" * 10, b"b" * 20, b"c" * 30], sealed={0}, finished=False)
    directory = write_recording(rec, tmp_path / "rec")
    before = rec.verify()
    assert before.sealed_through == 0 and len(before.unsealed) == 2
    head = newest_head(directory)
    assert head is not None and (head.index, head.link, head.sealed) == (2, rec.links[2], False)
    sealed = seal_newest_head(directory, late_stamp)
    assert sealed is not None and sealed[0].token == directory / "tokens" / token_name(2)
    rec.tokens[token_name(2)] = sealed[0].token.read_bytes()
    after = rec.verify()
    assert after.ok and after.sealed_through == 2 and after.unsealed == ()
    assert seal_newest_head(directory, late_stamp) is None  # nothing more to do


def test_a_finished_recording_stopped_offline_gets_its_end_link_sealed(tmp_path: Path) -> None:
    rec = make_recording([b"a" * 10, b"b" * 20], finished=True)
    del rec.tokens[token_name(2)]  # the end link's token: the TSA was unreachable at the stop
    directory = write_recording(rec, tmp_path / "rec")
    assert not rec.verify().ok
    head = newest_head(directory)
    assert head is not None and head.index == 2
    sealed = seal_newest_head(directory, late_stamp)
    assert sealed is not None
    rec.tokens[token_name(2)] = sealed[0].token.read_bytes()
    assert rec.verify().ok


def test_sync_keeps_a_recording_listed_while_the_tsa_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    rec = make_recording([b"a" * 10, b"b" * 20], sealed={0}, finished=False)
    directory = write_recording(rec, tmp_path / "rec")
    offline = f"http://127.0.0.1:{free_port()}"
    recording_state.register(RecordingState(RID, directory, offline))
    result = CliRunner().invoke(app, ["sync", "--server", offline])
    assert result.exit_code == 1, result.output
    assert "TSA unreachable, the newest head stays pending" in result.output
    assert [s.recording_id for s in recording_state.registered()[0]] == [RID]
    # Its directory gone: nothing can be sealed any more, it is taken off the list.
    for path in sorted(directory.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    result = CliRunner().invoke(app, ["sync", "--server", offline])
    assert result.exit_code == 0, result.output
    assert "the recording is gone" in result.output
    assert recording_state.registered()[0] == []


def test_start_metadata_of_a_recording_started_offline_is_sealed_at_sync(tmp_path: Path) -> None:
    from timeseal.cli.verify.recording import check_recording

    rec = make_recording([b"a" * 10], finished=False)
    directory = write_recording(rec, tmp_path / "rec")
    (directory / "capture-start.json").write_bytes(b'{"kind":"screen_recording"}')
    roots = [PKI.root.certificate]
    assert "capture-start.json" not in {
        s.subject for s in check_recording(directory, roots).sections
    }
    stamped = recording_state.seal_start_metadata(directory, late_stamp)
    assert stamped is not None and (directory / "capture-start.json.tsr").is_file()
    assert recording_state.seal_start_metadata(directory, late_stamp) is None
    report = check_recording(directory, [PKI.root.certificate])
    section = next(s for s in report.sections if s.subject == "capture-start.json")
    assert section.result.ok, section.result.failed
    (directory / "capture-start.json").write_bytes(b'{"kind":"camera_recording"}')
    report = check_recording(directory, [PKI.root.certificate])
    section = next(s for s in report.sections if s.subject == "capture-start.json")
    assert Check.IMPRINT_MATCHES in section.result.failed
