"""``timeseal login/logout/whoami`` against a real HTTP server: the accounts API on uvicorn in
a thread, and a real ``timeseal serve`` process. The code prompt is answered from the dev SMS
outbox through CliRunner's input."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from tests.support.accounts import (
    PHONE,
    FakeClock,
    auth_app,
    code_prompt_input,
    invoke_answering,
    migrated_engine,
    outbox_entries,
    serve_in_thread,
    wrong_code,
)
from tests.support.server import free_port, live_server
from timeseal.cli.account_cmd import register


@dataclass(frozen=True)
class ApiServer:
    url: str
    outbox: Path


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[ApiServer]:
    outbox = tmp_path / "sms-outbox.log"
    with (
        migrated_engine(f"sqlite:///{tmp_path / 'timeseal.db'}") as engine,
        serve_in_thread(auth_app(engine, outbox, FakeClock())) as url,
    ):
        yield ApiServer(url, outbox)


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    """A private HOME and XDG_CONFIG_HOME; no TIMESEAL_SERVER from the caller's shell."""
    (tmp_path / "home").mkdir()
    return {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "TIMESEAL_SERVER": None,
        "LANG": "zh_CN.UTF-8",
    }


def account_with(url: str, token: str) -> httpx.Response:
    return httpx.get(f"{url}/api/v1/account", headers={"Authorization": f"Bearer {token}"})


def test_login_whoami_logout(
    cli: typer.Typer, api_server: ApiServer, env: dict[str, str | None], tmp_path: Path
) -> None:
    runner = CliRunner(env=env)
    result = invoke_answering(
        runner,
        cli,
        ["login", "--server", api_server.url + "/", "--phone", "138 1234 5678"],
        code_prompt_input(api_server.outbox),
    )
    assert result.exit_code == 0, result.output
    assert "验证码已发送至 +86 138****5678" in result.output
    assert f"Logged in to {api_server.url} as +86 138****5678" in result.output

    directory = tmp_path / "xdg" / "timeseal"
    path = directory / "credentials.json"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())["servers"]
    assert list(stored) == [api_server.url]
    entry = stored[api_server.url]
    assert entry["phone"] == PHONE and entry["token"].startswith("ts_")
    assert entry["token_id"].startswith("tok_")
    # The known-device token, sent with this number's later code requests (issue 12).
    assert entry["device_token"].startswith("kd1.")
    assert account_with(api_server.url, entry["token"]).json()["phone"] == PHONE
    assert not (tmp_path / "home" / ".config").exists()

    # whoami finds the only server logged in to without --server.
    result = runner.invoke(cli, ["whoami"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{PHONE}  (account 1)  {api_server.url}")

    result = runner.invoke(cli, ["logout", "--server", api_server.url])
    assert result.exit_code == 0, result.output
    assert json.loads(path.read_text()) == {"servers": {}}
    assert account_with(api_server.url, entry["token"]).status_code == 401  # revoked

    result = runner.invoke(cli, ["whoami", "--server", api_server.url])
    assert result.exit_code == 1
    assert "Not logged in" in result.output
    result = runner.invoke(cli, ["logout", "--server", api_server.url])
    assert result.exit_code == 0 and "Not logged in" in result.output


def test_a_wrong_code_can_be_retyped(
    cli: typer.Typer, api_server: ApiServer, env: dict[str, str | None]
) -> None:
    answers = code_prompt_input(api_server.outbox, answers=[wrong_code, lambda code: code])
    result = invoke_answering(
        CliRunner(env=env), cli, ["login", "--server", api_server.url, "--phone", PHONE], answers
    )
    assert result.exit_code == 0, result.output
    assert "✗ 验证码不正确或已失效。" in result.output


def test_three_wrong_codes_give_up(
    cli: typer.Typer, api_server: ApiServer, env: dict[str, str | None], tmp_path: Path
) -> None:
    answers = code_prompt_input(api_server.outbox, answers=[wrong_code] * 3)
    env = {**env, "LANG": "en_GB.UTF-8"}
    result = invoke_answering(
        CliRunner(env=env), cli, ["login", "--server", api_server.url, "--phone", PHONE], answers
    )
    assert result.exit_code == 1
    # both languages, as the rest of the CLI writes, whatever the locale
    wrong = "✗ 验证码不正确或已失效。 / The code is wrong or no longer valid."
    assert result.output.count(wrong) == 3
    assert not (tmp_path / "xdg" / "timeseal" / "credentials.json").exists()


def test_the_phone_is_checked_before_anything_is_sent(
    cli: typer.Typer, api_server: ApiServer, env: dict[str, str | None]
) -> None:
    result = CliRunner(env=env).invoke(
        cli, ["login", "--server", api_server.url, "--phone", "12345"]
    )
    assert result.exit_code == 2
    assert "不是有效的中国大陆手机号" in result.output
    assert outbox_entries(api_server.outbox) == []


def test_the_phone_is_prompted_for_when_not_given(
    cli: typer.Typer, api_server: ApiServer, env: dict[str, str | None]
) -> None:
    stdin = code_prompt_input(api_server.outbox, answers=["13812345678", lambda code: code])
    result = invoke_answering(CliRunner(env=env), cli, ["login", "--server", api_server.url], stdin)
    assert result.exit_code == 0, result.output


def test_server_errors_are_shown_and_fail(
    cli: typer.Typer, api_server: ApiServer, env: dict[str, str | None]
) -> None:
    runner = CliRunner(env=env)
    args = ["login", "--server", api_server.url, "--phone", PHONE]
    assert invoke_answering(runner, cli, args, code_prompt_input(api_server.outbox)).exit_code == 0
    # The next code requests go out with this computer's known-device token, and count for it
    # (not for the IP): one more code is sent (the prompt gets no answer), a third within the
    # minute is refused by the server, and its message is printed.
    assert "A code was sent" in runner.invoke(cli, args).output
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert "操作过于频繁" in result.output
    # Nothing listening.
    closed = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(cli, ["login", "--server", closed, "--phone", PHONE])
    assert result.exit_code == 1
    assert "cannot reach" in result.output
    result = runner.invoke(cli, ["whoami", "--server", "ftp://x"])
    assert result.exit_code == 2


def test_without_xdg_config_home_the_token_goes_to_dot_config(
    cli: typer.Typer, api_server: ApiServer, env: dict[str, str | None], tmp_path: Path
) -> None:
    env = {**env, "XDG_CONFIG_HOME": "relative/is/ignored"}
    result = invoke_answering(
        CliRunner(env=env),
        cli,
        ["login", "--server", api_server.url, "--phone", PHONE],
        code_prompt_input(api_server.outbox),
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / "home" / ".config" / "timeseal" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_revoked_token_is_reported_by_whoami(
    cli: typer.Typer, api_server: ApiServer, env: dict[str, str | None], tmp_path: Path
) -> None:
    runner = CliRunner(env=env)
    args = ["login", "--server", api_server.url, "--phone", PHONE]
    assert invoke_answering(runner, cli, args, code_prompt_input(api_server.outbox)).exit_code == 0
    path = tmp_path / "xdg" / "timeseal" / "credentials.json"
    token = json.loads(path.read_text())["servers"][api_server.url]["token"]
    httpx.post(f"{api_server.url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    result = runner.invoke(cli, ["whoami", "--server", api_server.url])
    assert result.exit_code == 1
    assert "no longer works" in result.output
    # logout still forgets it (the server had already revoked it).
    assert runner.invoke(cli, ["logout", "--server", api_server.url]).exit_code == 0


def test_login_against_timeseal_serve(
    cli: typer.Typer, env: dict[str, str | None], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    runner = CliRunner(env=env)
    with live_server(data_dir) as live:
        outbox = data_dir / "sms-outbox.log"
        result = invoke_answering(
            runner,
            cli,
            ["login", "--server", live.url, "--phone", "+86 139-8765-4321"],
            code_prompt_input(outbox, "+8613987654321"),
        )
        assert result.exit_code == 0, result.output
        result = runner.invoke(cli, ["whoami", "--server", live.url])
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("+8613987654321  (account ")
        assert runner.invoke(cli, ["logout", "--server", live.url]).exit_code == 0
        assert runner.invoke(cli, ["whoami", "--server", live.url]).exit_code == 1


def test_an_interrupted_login_finishes_with_the_code_already_sent(
    cli: typer.Typer, api_server: ApiServer, env: dict[str, str | None]
) -> None:
    """The prompt is interrupted after the code was sent; ``login PHONE --code CODE`` logs in
    with that code and asks the server for no new one."""
    runner = CliRunner(env=env)
    aborted = runner.invoke(cli, ["login", "13812345678", "--server", api_server.url], input="")
    assert aborted.exit_code != 0
    assert len(outbox_entries(api_server.outbox)) == 1
    code = outbox_entries(api_server.outbox)[-1]["code"]
    args = ["login", "13812345678", "--code", code, "--server", api_server.url]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"Logged in to {api_server.url} as +86 138****5678" in result.stdout
    assert len(outbox_entries(api_server.outbox)) == 1  # no second code


def test_login_help_says_where_a_development_code_goes(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["login", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "sms-outbox.log" in result.stdout and "--code" in result.stdout
