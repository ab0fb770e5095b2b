"""``timeseal capture file`` and ``timeseal sync`` against a real ``timeseal serve``: sealing
online (tokens verify; the vault record carries the capture metadata and its certificate the
environment verdict), sealing offline into the queue and syncing later, and a sync cut off
mid-upload — or killed after the upload but before the queue knew — that ends in exactly one
record per file. Interruptions come from an injected httpx transport and from restoring the
queue file as a ``kill -9`` would leave it, never from monkeypatching code. The one failing
environment check (a forced recording's upload) is the local clock shifted through
``capture_env.default_probes``, as the env-check tests shift it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from cryptography import x509
from typer.testing import CliRunner

from tests.support.capture_docs import web_capture_json
from tests.support.cli_session import FailingTransport, LoggedCli, logged_cli, payload, use_env
from tests.support.server import free_port
from timeseal.capture.environment.check import Probes
from timeseal.capture.offline import queue as offline_queue
from timeseal.capture.offline.items import capture_title, queue_capture_dir
from timeseal.capture.offline.queue import CaseTarget
from timeseal.cli.account_cmd import register as register_account
from timeseal.cli.capture import environment as capture_env
from timeseal.cli.capture.av import register as register_capture_av
from timeseal.cli.capture.file import register as register_capture_file
from timeseal.cli.queue_worker import run_queue
from timeseal.cli.sync_cmd import register as register_sync
from timeseal.cli.vault_cmd import register as register_vault
from timeseal.core.tsp.response import parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder

PHONE = "+8613812345678"


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer()
    capture = typer.Typer()
    register_capture_file(capture)
    register_capture_av(capture)
    app.add_typer(capture, name="capture")
    register_account(app)
    register_vault(app)
    register_sync(app)
    return app


@pytest.fixture(scope="module")
def logged(cli: typer.Typer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedCli]:
    """One server for the module, and a CLI logged in to it (private HOME and XDG dirs)."""
    root = tmp_path_factory.mktemp("capture-file")
    with logged_cli(cli, root, PHONE, data_home=True) as logged:
        yield logged


@pytest.fixture
def xdg(logged: LoggedCli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same config and data directories for library calls made directly by a test."""
    use_env(logged.env, monkeypatch)


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def auth(logged: LoggedCli) -> dict[str, str]:
    return {"Authorization": f"Bearer {logged.token}"}


def records_with(logged: LoggedCli, data: bytes) -> list[dict[str, Any]]:
    reply = httpx.get(f"{logged.url}/api/v1/evidence", params={"limit": 500}, headers=auth(logged))
    sha = hashlib.sha256(data).hexdigest()
    return [r for r in reply.json()["items"] if r["sha256"] == sha]


def record(logged: LoggedCli, number: str) -> dict[str, Any]:
    reply = httpx.get(f"{logged.url}/api/v1/evidence/{number}", headers=auth(logged))
    assert reply.status_code == 200, reply.text
    found: dict[str, Any] = reply.json()
    return found


def certificate_text(logged: LoggedCli, number: str, tmp_path: Path) -> str:
    url = f"{logged.url}/api/v1/evidence/{number}/certificate"
    for _ in range(100):  # 503 until the log has sequenced the record
        reply = httpx.get(url, headers=auth(logged), timeout=60)
        if reply.status_code != 503:
            break
        time.sleep(0.2)
    assert reply.status_code == 200, reply.text
    pdf = tmp_path / f"{number}.pdf"
    pdf.write_bytes(reply.content)
    return subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def token_gen_time(logged: LoggedCli, path: Path) -> dt.datetime:
    """FILE.tsr verifies against the server's root, over FILE's SHA-256; its genTime."""
    response = parse_response(path.with_name(path.name + ".tsr").read_bytes())
    root = x509.load_pem_x509_certificate(logged.live.root_pem.read_bytes())
    verifier = TimestampVerifierBuilder().add_root(root).build()
    result = verifier.verify(response, hashlib.sha256(path.read_bytes()).digest())
    assert result.ok, result.failed
    assert response.token is not None
    return response.token.tst_info.gen_time


def queued(logged: LoggedCli) -> list[offline_queue.QueueEntry]:
    entries, problems = offline_queue.pending(logged.queue)
    assert problems == []
    return entries


def test_online_capture_seals_and_uploads_with_its_metadata(
    cli: typer.Typer, logged: LoggedCli, tmp_path: Path
) -> None:
    runner = CliRunner(env=logged.env)
    chat = tmp_path / "客服聊天记录.txt"
    chat.write_bytes("客户信息仅用于售后\n".encode())
    shot = tmp_path / "screenshot.png"
    shot.write_bytes(payload(5000, 1))
    result = runner.invoke(
        cli, ["capture", "file", str(chat), str(shot), "--server", logged.url, "--upload"]
    )
    assert result.exit_code == 0, result.output
    assert "环境检查 Environment check" in result.output
    assert "existed no later than" in result.output  # the token time, Beijing and UTC
    assert "北京时间 (UTC+8) |" in result.output and " UTC" in result.output
    for path in (chat, shot):
        token_gen_time(logged, path)
    assert queued(logged) == []  # everything owed was done at once

    (chat_record,) = records_with(logged, chat.read_bytes())
    (shot_record,) = records_with(logged, shot.read_bytes())
    assert (chat_record["kind"], shot_record["kind"]) == ("document", "photo")
    local = json.loads((tmp_path / "客服聊天记录.txt.capture.json").read_text())
    assert local["semantics"] == "existed_no_later_than"
    assert local["tsa_reachable_at_capture"] is True
    capture = record(logged, chat_record["number"])["capture"]
    assert capture["semantics"] == "existed_no_later_than"
    assert capture["environment_check"]["overall"] == local["environment_check"]["overall"]
    assert capture["environment_check"]["forced"] is False
    assert capture["target_verification"]["status"] == "not_applicable"
    assert "started_at" not in capture  # no capture period is claimed for an existing file

    text = certificate_text(logged, chat_record["number"], tmp_path)
    words = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}
    overall = words[local["environment_check"]["overall"]]
    assert "Environment check" in text and overall in text
    assert "not_applicable" in text

    again = runner.invoke(cli, ["capture", "file", str(chat), "--server", logged.url])
    assert again.exit_code == 2 and "sealed before" in again.output


def test_offline_capture_is_queued_and_synced_later(
    cli: typer.Typer, logged: LoggedCli, tmp_path: Path
) -> None:
    runner = CliRunner(env=logged.env)
    agreement = tmp_path / "agreement.pdf"
    agreement.write_bytes(payload(20_000, 2))
    before = dt.datetime.now(dt.UTC)
    result = runner.invoke(
        cli, ["capture", "file", str(agreement), "--server", closed_port_url(), "--upload"]
    )
    assert result.exit_code == 0, result.output
    assert "timeseal sync" in result.output
    assert not agreement.with_name("agreement.pdf.tsr").exists()
    (entry,) = queued(logged)
    (item,) = entry.items
    assert item.needs_token and item.upload and item.number is None
    assert item.sha256 == hashlib.sha256(agreement.read_bytes()).hexdigest()
    local = json.loads(agreement.with_name("agreement.pdf.capture.json").read_text())
    assert local["tsa_reachable_at_capture"] is False

    synced = dt.datetime.now(dt.UTC)
    result = runner.invoke(cli, ["sync", "--server", logged.url])
    assert result.exit_code == 0, result.output
    # The token is the sync's, and says so: its genTime is after the capture.
    assert token_gen_time(logged, agreement) >= synced > before
    assert "fetched now, at sync" in result.output
    (uploaded,) = records_with(logged, agreement.read_bytes())
    capture = record(logged, uploaded["number"])["capture"]
    assert capture["tsa_reachable_at_capture"] is False
    assert queued(logged) == []

    result = runner.invoke(cli, ["sync", "--server", logged.url])  # idempotent
    assert result.exit_code == 0 and "Nothing is queued" in result.output
    assert len(records_with(logged, agreement.read_bytes())) == 1


def test_a_file_changed_after_capture_is_not_stamped(
    cli: typer.Typer, logged: LoggedCli, tmp_path: Path
) -> None:
    runner = CliRunner(env=logged.env)
    note = tmp_path / "note.txt"
    note.write_text("before")
    result = runner.invoke(cli, ["capture", "file", str(note), "--server", closed_port_url()])
    assert result.exit_code == 0, result.output
    note.write_text("after")
    result = runner.invoke(cli, ["sync", "--server", logged.url])
    assert result.exit_code == 1 and "changed since it was captured" in result.output
    assert not note.with_name("note.txt.tsr").exists()
    for entry in queued(logged):  # leave the queue empty for the other tests
        offline_queue.remove(entry, logged.queue)


def test_an_interrupted_sync_ends_in_one_record(
    cli: typer.Typer, logged: LoggedCli, tmp_path: Path, xdg: None
) -> None:
    runner = CliRunner(env=logged.env)
    video = tmp_path / "call.mp4"
    data = payload(1_000_000, 3)
    video.write_bytes(data)
    result = runner.invoke(
        cli, ["capture", "file", str(video), "--server", closed_port_url(), "--upload"]
    )
    assert result.exit_code == 0, result.output
    (entry,) = queued(logged)
    assert entry.items[0].kind == "video"

    # 1. The network breaks half way through the upload.
    cut = FailingTransport(limit=len(data) // 2)
    problems = run_queue([entry], logged.url, transport=cut, chunk_size=64 * 1024, retries=1)
    assert any("simulated" in p for p in problems)
    (entry,) = queued(logged)
    (item,) = entry.items
    assert not item.needs_token and item.number is None and item.upload_url is not None
    assert records_with(logged, data) == []
    saved = tmp_path / "entry-before-finish.json"
    shutil.copy(logged.queue / f"{entry.id}.json", saved)

    # 2. The next sync resumes the same upload.
    result = runner.invoke(cli, ["sync", "--server", logged.url])
    assert result.exit_code == 0, result.output
    (uploaded,) = records_with(logged, data)
    assert queued(logged) == []

    # 3. As if a sync had been killed after the upload was sealed but before the queue was
    #    updated: the entry comes back, without the number. The server is asked, no upload.
    shutil.copy(saved, logged.queue / f"{entry.id}.json")
    result = runner.invoke(cli, ["sync", "--server", logged.url])
    assert result.exit_code == 0, result.output
    assert uploaded["number"] in result.output
    assert [r["number"] for r in records_with(logged, data)] == [uploaded["number"]]
    assert queued(logged) == []


def test_uploads_wait_for_a_login(cli: typer.Typer, logged: LoggedCli, tmp_path: Path) -> None:
    stranger = {**logged.env, "XDG_CONFIG_HOME": str(tmp_path / "nobody")}
    runner = CliRunner(env=stranger)
    photo = tmp_path / "label.jpg"
    photo.write_bytes(payload(3000, 4))
    result = runner.invoke(cli, ["capture", "file", str(photo), "--server", logged.url, "--upload"])
    assert result.exit_code == 0, result.output
    assert "not logged in" in result.output and "queued (upload)" in result.output
    token_gen_time(logged, photo)  # the token did not wait
    result = runner.invoke(cli, ["sync", "--server", logged.url])
    assert result.exit_code == 1
    # LoggedCli in (the module's account), the same queue entry is uploaded.
    result = CliRunner(env=logged.env).invoke(cli, ["sync", "--server", logged.url])
    assert result.exit_code == 0, result.output
    assert len(records_with(logged, photo.read_bytes())) == 1


def test_a_web_capture_directory_is_uploaded_item_by_item(
    cli: typer.Typer, logged: LoggedCli, tmp_path: Path
) -> None:
    capture = tmp_path / "web-capture"
    data = web_capture_json(steps=1)
    capture.mkdir()
    (capture / "capture.json").write_bytes(data)
    for n, entry in enumerate(json.loads(data)["files"]):
        (capture / entry["path"]).parent.mkdir(parents=True, exist_ok=True)
        (capture / entry["path"]).write_bytes(payload(100 + n, 10 + n))
    runner = CliRunner(env=logged.env)
    result = runner.invoke(cli, ["sync", "--add", str(capture), "--server", logged.url])
    assert result.exit_code == 0, result.output
    assert queued(logged) == []
    wacz = records_with(logged, (capture / "capture.wacz").read_bytes())
    (item,) = wacz
    assert item["kind"] == "web-capture"
    assert item["title"].startswith("网页取证 Web capture https://shop.example/chat")
    meta = record(logged, item["number"])["capture"]
    assert meta["started_at"] == "2026-11-29T07:00:01.000Z"
    assert meta["capture_json_sha256"] == hashlib.sha256(data).hexdigest()
    (full,) = records_with(logged, data)  # capture.json itself is an item too
    assert full["kind"] == "document"
    result = runner.invoke(cli, ["sync", "--add", str(tmp_path), "--server", logged.url])
    assert result.exit_code == 2  # not a capture directory


def test_a_forced_recording_is_marked_forced_in_the_vault_and_on_its_certificate(
    cli: typer.Typer, logged: LoggedCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local clock a minute ahead of the TSA's (a ``clock_offset`` fail, injected as the
    env-check tests do): the camera capture goes on only with ``--force``, and once uploaded
    the vault record and the certificate say the environment check was forced past a fail."""
    ahead = Probes(clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60))
    monkeypatch.setattr(capture_env, "default_probes", lambda: ahead)
    runner = CliRunner(env=logged.env)
    out = tmp_path / "cam"
    args = ["capture", "camera", "--lavfi", "testsrc", "--duration", "2"]
    result = runner.invoke(cli, [*args, "--server", logged.url, "-o", str(out), "--force"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["sync", "--add", str(out), "--server", logged.url])
    assert result.exit_code == 0, result.output
    (item,) = records_with(logged, (out / "recording.mp4").read_bytes())
    environment = record(logged, item["number"])["capture"]["environment_check"]
    assert environment["forced"] is True and environment["overall"] == "fail"
    assert environment["verdict"].endswith("（已强制继续 forced）")
    assert "clock_offset=fail" in environment["summary"]
    text = certificate_text(logged, item["number"], tmp_path)
    assert "forced" in text and "FAIL" in text


def _web_capture_dir(directory: Path, seed: int) -> Path:
    data = web_capture_json(steps=1)
    directory.mkdir()
    (directory / "capture.json").write_bytes(data)
    for n, entry in enumerate(json.loads(data)["files"]):
        (directory / entry["path"]).parent.mkdir(parents=True, exist_ok=True)
        (directory / entry["path"]).write_bytes(payload(100 + n, seed + n))
    return directory


def _cases(logged: LoggedCli) -> list[dict[str, Any]]:
    reply = httpx.get(f"{logged.url}/api/v1/cases", headers=auth(logged))
    assert reply.status_code == 200, reply.text
    found: list[dict[str, Any]] = reply.json()
    return found


@pytest.mark.usefixtures("xdg")
def test_an_uploaded_web_capture_becomes_one_case_with_its_package(
    logged: LoggedCli, tmp_path: Path
) -> None:
    capture = _web_capture_dir(tmp_path / "web-capture", 40)
    before = {c["id"] for c in _cases(logged)}
    target = CaseTarget(capture_title(capture), capture / "package.zip")
    entry = queue_capture_dir(capture, logged.url, target)
    assert run_queue([entry], logged.url, directory=logged.queue) == []
    assert queued(logged) == []
    (case,) = [c for c in _cases(logged) if c["id"] not in before]
    assert case["id"] == target.id
    assert (
        case["title"] == "网页取证 Web capture https://shop.example/chat 2026-11-29T07:00:01.000Z"
    )
    assert case["item_count"] == len(entry.items)
    with zipfile.ZipFile(capture / "package.zip") as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["scope"] == "case"
    assert [i["number"] for i in manifest["items"]] == [i.number for i in entry.items]


@pytest.mark.usefixtures("xdg")
def test_a_capture_goes_into_the_case_named_and_a_rerun_makes_no_second(
    logged: LoggedCli, tmp_path: Path
) -> None:
    """``--case ID``, and equally the rerun of a sync killed right after it created the case
    (the id is in the entry): the items go into that case, and no other is made."""
    made = httpx.post(
        f"{logged.url}/api/v1/cases", json={"title": "某店铺泄露个人信息"}, headers=auth(logged)
    )
    assert made.status_code == 201, made.text
    case_id = made.json()["id"]
    capture = _web_capture_dir(tmp_path / "web-capture", 60)
    count = len(_cases(logged))
    target = CaseTarget("unused", capture / "package.zip", id=case_id)
    entry = queue_capture_dir(capture, logged.url, target)
    assert run_queue([entry], logged.url, directory=logged.queue) == []
    assert len(_cases(logged)) == count
    detail = httpx.get(f"{logged.url}/api/v1/cases/{case_id}", headers=auth(logged)).json()
    assert [i["number"] for i in detail["items"]] == [i.number for i in entry.items]
    assert (capture / "package.zip").is_file()
