"""The ``timeseal`` command's manners (issues 16 and 18): a token is never replaced, a capture
never writes into a used directory, every command uses the same server (the one logged in to)
and says which, ``verify`` trusts that server's root when no ``--ca`` is given, ``stamp``
goes on past a missing file, ``--version``, and colour only when wanted. CliRunner against a
fake platform (TSA, ``/tsa/certs``, log) on a loopback HTTP server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from typer.testing import CliRunner, Result

from tests.support.fake_log import FakeLog, FakePlatform, entries, serve
from tests.support.pki import PKIFixture
from timeseal import __version__
from timeseal.capture.web.steps import Click, Goto, Screenshot, Scroll, Type, Wait, parse_steps
from timeseal.cli import main
from timeseal.cli.capture.web import STEPS_HELP
from timeseal.core.tsp.response import parse_response


@pytest.fixture
def url(test_pki: PKIFixture) -> Iterator[str]:
    with serve(FakePlatform(FakeLog(entries(3)), test_pki)) as base:
        yield base


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    """A private HOME, config and state (nobody logged in), no $TIMESEAL_SERVER, no colour
    preference, and an empty working directory (no ./timeseal-data)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "TIMESEAL_SERVER": None,
        "TIMESEAL_DATA_DIR": None,
        "NO_COLOR": None,
    }


def run(env: dict[str, str | None], *args: str | Path, color: bool = False) -> Result:
    return CliRunner(env=env).invoke(main.app, list(map(str, args)), color=color)


def log_in(env: dict[str, str | None], url: str) -> None:
    """What ``timeseal login`` leaves behind: a token kept for ``url``."""
    path = Path(str(env["XDG_CONFIG_HOME"])) / "timeseal" / "credentials.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"servers": {url: {"token": "ts_test", "phone": "+86"}}}))


def serial(path: Path) -> int:
    response = parse_response(path.read_bytes())
    assert response.token is not None
    return response.token.tst_info.serial_number


def test_stamping_twice_keeps_the_first_token(url: str, env: dict[str, str | None]) -> None:
    evidence = Path("chat.png")
    evidence.write_bytes(b"png")
    first = run(env, "stamp", evidence, "--server", url, "--no-receipt")
    assert first.exit_code == 0, first.output
    earlier = Path("chat.png.tsr").read_bytes()

    second = run(env, "stamp", evidence, "--server", url, "--no-receipt")
    assert second.exit_code == 0, second.output
    assert Path("chat.png.tsr").read_bytes() == earlier  # the earlier date survives
    assert serial(Path("chat.png.2.tsr")) > serial(Path("chat.png.tsr"))
    assert "chat.png.tsr exists and is kept (it proves an earlier date)" in second.output
    assert "chat.png.2.tsr" in second.stdout

    third = run(env, "stamp", evidence, "--server", url)  # with its receipt, beside it
    assert third.exit_code == 0, third.output
    assert Path("chat.png.3.tsr").exists() and Path("chat.png.3.tlog-proof").exists()
    assert not Path("chat.png.tlog-proof").exists()


def test_stamp_goes_on_past_a_missing_file(url: str, env: dict[str, str | None]) -> None:
    Path("a.txt").write_bytes(b"a")
    Path("c.txt").write_bytes(b"c")
    result = run(env, "stamp", "a.txt", "missing.txt", "c.txt", "--server", url, "--no-receipt")
    assert result.exit_code == 1, result.output
    assert Path("a.txt.tsr").exists() and Path("c.txt.tsr").exists()
    assert not Path("missing.txt.tsr").exists()
    assert "[2/3] ✗ missing.txt: 无法读取 cannot read" in result.stderr
    assert result.stderr.count("✗") == 2  # the missing file, then the summary
    assert "stamped 2 of 3 files, 1 failed" in result.stderr
    assert "[1/3] ✓ a.txt -> a.txt.tsr" in result.stdout
    assert "[3/3] ✓ c.txt -> c.txt.tsr" in result.stdout


def test_commands_use_the_logged_in_server_and_say_so(
    url: str, env: dict[str, str | None], tmp_path: Path, test_pki: PKIFixture
) -> None:
    """No --server, no $TIMESEAL_SERVER: ``stamp`` and ``verify`` use the server logged in to
    (not 127.0.0.1:8000), and ``verify`` trusts its root, kept with its fingerprint shown."""
    log_in(env, url)
    Path("receipt.pdf").write_bytes(b"%PDF")
    stamped = run(env, "stamp", "receipt.pdf", "--no-receipt")
    assert stamped.exit_code == 0, stamped.output
    assert stamped.stderr.count("服务器 Server:") == 1
    assert f"服务器 Server: {url} (已登录 logged in)" in stamped.stderr

    checked = run(env, "verify", "receipt.pdf")
    assert checked.exit_code == 0, checked.output
    assert "结论 Result: 有效 VALID" in checked.stdout
    fingerprint = test_pki.root.certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    assert f"SHA-256 {fingerprint}" in checked.stderr
    kept = list((tmp_path / "state" / "timeseal" / "roots").glob("*.pem"))
    assert len(kept) == 1

    # --server wins over the login.
    given = run(env, "stamp", "receipt.pdf", "--server", url, "--no-receipt")
    assert f"服务器 Server: {url} (--server)" in given.stderr


def test_a_photo_is_refused_into_a_used_directory(env: dict[str, str | None]) -> None:
    out = Path("evidence")
    out.mkdir()
    (out / "photo.jpg").write_bytes(b"the earlier photo")
    result = run(env, "capture", "photo", "--lavfi", "testsrc", "-o", out)
    assert result.exit_code == 2, result.output
    assert "输出目录不为空" in result.stderr and "not empty" in result.stderr
    assert "环境检查" not in result.output  # refused before the environment check
    assert (out / "photo.jpg").read_bytes() == b"the earlier photo"
    assert sorted(p.name for p in out.iterdir()) == ["photo.jpg"]


def test_a_recording_is_refused_before_it_starts(env: dict[str, str | None]) -> None:
    out = Path("rec")
    out.mkdir()
    (out / "chain.jsonl").write_text("{}\n")
    result = run(env, "capture", "screen", "--display", ":987", "--duration", "1", "-o", out)
    assert result.exit_code == 2, result.output
    assert "not empty" in result.stderr
    assert "recording" not in result.stdout and "Ctrl-C" not in result.output
    assert sorted(p.name for p in out.iterdir()) == ["chain.jsonl"]


def test_version(env: dict[str, str | None]) -> None:
    result = run(env, "--version")
    assert result.exit_code == 0
    assert result.stdout == f"timeseal {__version__}\n"


def test_marks_are_coloured_unless_no_color(url: str, env: dict[str, str | None]) -> None:
    args = ("stamp", "missing.txt", "--server", url, "--no-receipt")
    coloured = run(env, *args, color=True)
    assert coloured.exit_code == 1
    assert "\x1b[31m\x1b[1m✗\x1b[0m" in coloured.stderr
    plain = run({**env, "NO_COLOR": "1"}, *args, color=True)
    assert plain.exit_code == 1
    assert "✗ missing.txt" in plain.stderr and "\x1b[" not in plain.output
    piped = run(env, *args)  # not a terminal: no colour either
    assert "\x1b[" not in piped.output


def test_the_environment_wins_over_the_login(url: str, env: dict[str, str | None]) -> None:
    log_in(env, "http://127.0.0.1:9")  # logged in elsewhere (nothing listens there)
    Path("a.txt").write_bytes(b"a")
    result = run({**env, "TIMESEAL_SERVER": url}, "stamp", "a.txt", "--no-receipt")
    assert result.exit_code == 0, result.output
    assert f"服务器 Server: {url} ($TIMESEAL_SERVER)" in result.stderr


def test_capture_web_help_shows_the_whole_steps_syntax_and_it_parses() -> None:
    result = CliRunner().invoke(main.app, ["capture", "web", "--help"], terminal_width=120)
    assert result.exit_code == 0, result.output
    example = [line.strip() for line in STEPS_HELP.splitlines() if line.startswith("  - ")]
    for line in example:
        assert line in result.output
    # The example is a steps file that parses, with one step of every kind.
    steps = [placed.step for placed in parse_steps("\n".join(example))]
    kinds = {type(step) for step in steps}
    assert kinds == {Goto, Click, Type, Scroll, Wait, Screenshot}
