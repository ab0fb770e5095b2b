"""``timeseal upload/list/download/case`` against a real ``timeseal serve``: the round trip, an
upload cut off half way that resumes into one record, and a resumed download that verifies.
Interruptions come from an injected httpx transport, never from monkeypatching."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from tests.support.cli_session import FailingTransport, LoggedCli, logged_cli, payload, use_env
from tests.support.tus import TUS
from timeseal.cli.account_cmd import register as register_account
from timeseal.cli.case_cmd import register as register_case
from timeseal.cli.server_client import ServerCallFailed, make_client
from timeseal.cli.vault.transfer import RetryPolicy
from timeseal.cli.vault.tus import TusUploader, uploads_path
from timeseal.cli.vault_cmd import register

PHONE = "+8613812345678"


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer()
    register_account(app)
    register(app)
    register_case(app)
    return app


@pytest.fixture(scope="module")
def logged(cli: typer.Typer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedCli]:
    """One server for the module, and a CLI logged in to it (private HOME and XDG dirs)."""
    with logged_cli(cli, tmp_path_factory.mktemp("vault-cli"), PHONE) as logged:
        yield logged


@pytest.fixture
def xdg(logged: LoggedCli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same config directory for library calls made directly by a test."""
    use_env(logged.env, monkeypatch)


def records(logged: LoggedCli) -> list[dict[str, Any]]:
    reply = httpx.get(
        f"{logged.url}/api/v1/evidence",
        params={"limit": 500},
        headers={"Authorization": f"Bearer {logged.token}"},
    )
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def test_upload_list_download_round_trip(
    cli: typer.Typer, logged: LoggedCli, tmp_path: Path
) -> None:
    runner = CliRunner(env=logged.env)
    big = tmp_path / "录屏.mp4"
    big.write_bytes(payload(9 * 1024 * 1024 + 17, 1))  # more than one 8 MiB chunk
    small = tmp_path / "photo.jpg"
    small.write_bytes(payload(1000, 2))
    result = runner.invoke(
        cli, ["upload", str(big), str(small), "--kind", "photo", "--server", logged.url]
    )
    assert result.exit_code == 0, result.output
    numbers = [line.rsplit(" -> ", 1)[1] for line in result.stdout.splitlines() if "✓" in line]
    assert len(numbers) == 2 and all(n.startswith("TS-") for n in numbers)
    assert json.loads(uploads_path_in(logged).read_text()) == {"uploads": {}}

    result = runner.invoke(cli, ["list", "--server", logged.url])
    assert result.exit_code == 0, result.output
    assert all(n in result.output for n in numbers)
    assert "北京时间 (UTC+8) |" in result.output and " UTC" in result.output
    listed = json.loads(runner.invoke(cli, ["list", "--json", "--kind", "photo"]).stdout)
    by_number = {item["number"]: item for item in listed["items"]}
    assert by_number[numbers[0]]["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert by_number[numbers[0]]["filename"] == "录屏.mp4"
    empty = runner.invoke(cli, ["list", "--kind", "seal-record", "--server", logged.url])
    assert empty.exit_code == 0 and "No evidence" in empty.output

    out = tmp_path / "back.mp4"
    result = runner.invoke(cli, ["download", numbers[0], "-o", str(out), "--server", logged.url])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == big.read_bytes()
    assert not out.with_name("back.mp4.part").exists()


def uploads_path_in(logged: LoggedCli) -> Path:
    return Path(str(logged.env["XDG_CONFIG_HOME"])) / "timeseal" / "uploads.json"


def test_an_interrupted_upload_resumes_into_one_record(
    cli: typer.Typer, logged: LoggedCli, tmp_path: Path, xdg: None
) -> None:
    path = tmp_path / "screen.webm"
    data = payload(1_000_000, 3)
    path.write_bytes(data)
    chunk = 64 * 1024
    cut = FailingTransport(limit=len(data) // 2)
    with make_client(logged.url, logged.token, cut) as client:
        uploader = TusUploader(
            client,
            logged.url,
            chunk_size=chunk,
            policy=RetryPolicy(retries=2),
            sleep=lambda s: None,
        )
        with pytest.raises(ServerCallFailed, match="simulated"):
            uploader.upload(path, kind="screen-recording")
    (entry,) = json.loads(uploads_path().read_text())["uploads"].values()
    head = httpx.head(entry["url"], headers={"Authorization": f"Bearer {logged.token}", **TUS})
    stopped = int(head.headers["upload-offset"])
    assert 0 < stopped < len(data) and stopped % chunk == 0

    # The real command picks it up from the server's offset.
    result = CliRunner(env=logged.env).invoke(cli, ["upload", str(path), "--server", logged.url])
    assert result.exit_code == 0, result.output
    number = result.stdout.strip().rsplit(" -> ", 1)[1]
    head = httpx.head(entry["url"], headers={"Authorization": f"Bearer {logged.token}", **TUS})
    assert head.headers["timeseal-evidence-number"] == number  # the same upload finished
    sha = hashlib.sha256(data).hexdigest()
    assert [r["number"] for r in records(logged) if r["sha256"] == sha] == [number]
    assert json.loads(uploads_path().read_text()) == {"uploads": {}}


def test_a_passing_failure_is_retried_in_the_same_run(
    logged: LoggedCli, tmp_path: Path, xdg: None
) -> None:
    path = tmp_path / "doc.pdf"
    data = payload(300_000, 4)
    path.write_bytes(data)
    waits: list[float] = []
    flaky = FailingTransport(limit=100_000, failures=3)
    with make_client(logged.url, logged.token, flaky) as client:
        uploader = TusUploader(client, logged.url, chunk_size=50_000, sleep=waits.append)
        number = uploader.upload(path, kind="document", title="合同")
    assert waits == [0.5, 1.0, 2.0]  # exponential backoff
    assert flaky.sent == len(data)  # nothing was sent twice
    (record,) = [r for r in records(logged) if r["number"] == number]
    assert record["sha256"] == hashlib.sha256(data).hexdigest() and record["title"] == "合同"


def test_a_resumed_download_is_verified(
    cli: typer.Typer, logged: LoggedCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner(env=logged.env)
    path = tmp_path / "call.m4a"
    data = payload(700_000, 5)
    path.write_bytes(data)
    result = runner.invoke(cli, ["upload", str(path), "--server", logged.url])
    assert result.exit_code == 0, result.output
    number = result.stdout.strip().rsplit(" -> ", 1)[1]

    out = tmp_path / "out" / "call.m4a"
    out.parent.mkdir()
    part = out.with_name("call.m4a.part")
    part.write_bytes(data[:300_000])  # an earlier download stopped here
    monkeypatch.chdir(out.parent)
    result = runner.invoke(cli, ["download", number, "--server", logged.url])  # default name
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == data and not part.exists()

    # A part that does not match the record is caught by the final SHA-256 check.
    bad = tmp_path / "out" / "bad.m4a"
    bad_part = bad.with_name("bad.m4a.part")
    bad_part.write_bytes(b"\0" * 300_000)
    result = runner.invoke(cli, ["download", number, "-o", str(bad), "--server", logged.url])
    assert result.exit_code == 1
    assert "mismatch" in result.output
    assert not bad.exists() and not bad_part.exists()


def test_usage_errors_and_no_login(cli: typer.Typer, logged: LoggedCli, tmp_path: Path) -> None:
    runner = CliRunner(env=logged.env)
    path = tmp_path / "a.txt"
    path.write_bytes(b"a")
    result = runner.invoke(cli, ["upload", str(path), "--kind", "nonsense"])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["upload", str(tmp_path / "missing"), "--server", logged.url])
    assert result.exit_code == 2
    stranger = {**logged.env, "XDG_CONFIG_HOME": str(tmp_path / "nobody")}
    result = CliRunner(env=stranger).invoke(cli, ["upload", str(path), "--server", logged.url])
    assert result.exit_code == 1 and "Not logged in" in result.output
    result = runner.invoke(cli, ["download", "TS-20261129-0000-000A", "--server", logged.url])
    assert result.exit_code == 1


def test_a_case_from_the_command_line(cli: typer.Typer, logged: LoggedCli, tmp_path: Path) -> None:
    runner = CliRunner(env=logged.env)

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, [*args, "--server", logged.url])
        assert result.exit_code == code, result.output
        return result.stdout if code == 0 else result.output

    created = run("case", "create", "外卖平台泄露地址", "--description", "骑手念出完整地址")
    case_id = created.split("case ", 1)[1].split(":", 1)[0]
    chat, video = tmp_path / "chat.png", tmp_path / "courier.mp4"
    chat.write_bytes(payload(5000, 7))
    video.write_bytes(payload(70_000, 8))
    out = run("upload", str(chat), str(video), "--kind", "screenshot", "--case", case_id)
    numbers = [line.rsplit(" -> ", 1)[1] for line in out.splitlines() if line.startswith("✓")]
    assert len(numbers) == 2
    run("case", "add", case_id, numbers[1], "--note", "骑手念出地址")

    detail = json.loads(run("case", "show", case_id, "--json"))
    assert [(i["number"], i["note"]) for i in detail["items"]] == [
        (numbers[0], ""),
        (numbers[1], "骑手念出地址"),
    ]
    shown = run("case", "show", case_id)
    assert "外卖平台泄露地址" in shown and "骑手念出地址" in shown and "北京时间" in shown
    assert case_id in run("case", "list")
    listed = json.loads(run("list", "--json", "--case", case_id))
    assert {i["number"] for i in listed["items"]} == set(numbers)

    run("case", "share", case_id, "--access-code", "8642", code=2)  # at least 6 characters
    link = run("case", "share", case_id, "--days", "7", "--access-code", "864213")
    api_url = next(line.split("API: ", 1)[1] for line in link.splitlines() if "API: " in line)
    opened = httpx.get(api_url, headers={"TimeSeal-Share-Code": "864213"})
    assert opened.status_code == 200 and len(opened.json()["items"]) == 2
    run("case", "share", case_id, "--show-ip-and-location")
    shares = httpx.get(
        f"{logged.url}/api/v1/cases/{case_id}/shares",
        headers={"Authorization": f"Bearer {logged.token}"},
    ).json()
    assert [s["show_ip_and_location"] for s in shares] == [False, True]

    run("case", "remove", case_id, numbers[0])
    run("case", "rename", case_id, "--title", "地址泄露")
    detail = json.loads(run("case", "show", case_id, "--json"))
    assert detail["title"] == "地址泄露" and [i["number"] for i in detail["items"]] == numbers[1:]
    run("case", "rename", case_id, code=2)
    run("upload", str(chat), "--case", "999999", code=2)
    run("case", "delete", case_id)
    assert "not found" in run("case", "show", case_id, code=1).lower()
    assert httpx.get(api_url, headers={"TimeSeal-Share-Code": "864213"}).status_code == 404


def test_packages_download_resume_and_verify(
    cli: typer.Typer, logged: LoggedCli, tmp_path: Path
) -> None:
    from timeseal.cli.main import app as timeseal

    runner = CliRunner(env=logged.env)
    photo = tmp_path / "label.jpg"
    photo.write_bytes(payload(300_000, 11))
    result = runner.invoke(cli, ["upload", str(photo), "--kind", "photo", "--server", logged.url])
    assert result.exit_code == 0, result.output
    number = result.stdout.rsplit(" -> ", 1)[1].strip()

    out = tmp_path / "pkg.zip"
    args = ["download", number, "--package", "-o", str(out), "--server", logged.url]
    result = runner.invoke(cli, args)  # waits out "not in the log yet" by retrying
    assert result.exit_code == 0, result.output
    whole = out.read_bytes()
    assert f"SHA-256 {hashlib.sha256(whole).hexdigest()}" in result.output
    data_dir = Path(logged.env["XDG_CONFIG_HOME"] or "").parent / "data"
    root = data_dir / "pki" / "root.pem"
    vkey = (data_dir / "log" / "log.vkey").read_text().strip()
    checked = runner.invoke(timeseal, ["verify", str(out), "--ca", str(root), "--log-key", vkey])
    assert checked.exit_code == 0, checked.output

    # A part left by a broken download resumes; a part of another package starts afresh.
    part = out.with_name("pkg.zip.part")
    tag = out.with_name("pkg.zip.part.etag")
    out.unlink()
    part.write_bytes(whole[:1000])
    tag.write_text(hashlib.sha256(whole).hexdigest())
    assert runner.invoke(cli, args).exit_code == 0
    assert out.read_bytes() == whole and not part.exists() and not tag.exists()
    out.unlink()
    part.write_bytes(b"x" * 5000)
    tag.write_text("0" * 64)
    assert runner.invoke(cli, args).exit_code == 0
    assert out.read_bytes() == whole

    created = runner.invoke(cli, ["case", "create", "包裹", "--server", logged.url])
    case_id = created.stdout.split("case ", 1)[1].split(":", 1)[0]
    assert (
        runner.invoke(cli, ["case", "add", case_id, number, "--server", logged.url]).exit_code == 0
    )
    case_zip = tmp_path / "case.zip"
    got = runner.invoke(
        cli, ["case", "package", case_id, "-o", str(case_zip), "--server", logged.url]
    )
    assert got.exit_code == 0, got.output
    checked = runner.invoke(
        timeseal, ["verify", str(case_zip), "--ca", str(root), "--log-key", vkey, "--json"]
    )
    assert checked.exit_code == 0, checked.output
    missing = runner.invoke(
        cli, ["download", "TS-20261129-0000-000A", "--package", "--server", logged.url]
    )
    assert missing.exit_code == 1
