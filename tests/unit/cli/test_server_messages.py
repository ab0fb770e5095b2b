"""What a real ``timeseal serve`` tells the people in front of it: the operator, at start-up
and at the first refusal, which clock source was asked, why its clock is not trusted and the
two fixes; the CLI user the same hint; and the API's errors in both languages, which the CLI
prints as "中文 / English" like the rest of its text."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from tests.support.accounts import PHONE, code_prompt_input, invoke_answering, wrong_code
from tests.support.server import LiveServer, live_server
from timeseal.cli import main
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import FailureInfo, parse_response

FIXES = ("chrony", "--clock-source local", "make serve CLOCK_SOURCE=local")
HINT = "The clock is not trusted: no timestamp will be issued."


def _env(root: Path) -> dict[str, str | None]:
    (root / "home").mkdir()
    return {
        "HOME": str(root / "home"),
        "XDG_CONFIG_HOME": str(root / "xdg"),
        "XDG_DATA_HOME": str(root / "data-home"),
        "TIMESEAL_SERVER": None,
        "LANG": "zh_CN.UTF-8",
    }


def _server_output(live: LiveServer) -> str:
    port = live.url.rsplit(":", 1)[1]
    return (live.data_dir.parent / f"server-{port}.log").read_text()


def _wait_for(live: LiveServer, text: str, count: int = 1) -> str:
    deadline = time.monotonic() + 20
    while (output := _server_output(live)).count(text) < count:
        assert time.monotonic() < deadline, output[-3000:]
        time.sleep(0.1)
    return output


def _login(runner: CliRunner, live: LiveServer) -> None:
    stdin = code_prompt_input(live.data_dir / "sms-outbox.log", PHONE)
    args = ["login", "--server", live.url, "--phone", PHONE]
    result = invoke_answering(runner, main.app, args, stdin)
    assert result.exit_code == 0, result.output


def test_an_untrusted_clock_names_its_source_and_the_fixes(tmp_path: Path) -> None:
    runner = CliRunner(env=_env(tmp_path))
    evidence = tmp_path / "订单截图.png"
    evidence.write_bytes(b"a screenshot of the order")
    with live_server(tmp_path / "data", clock_source="unsynchronised") as live:
        # start-up: the source, why, both fixes, in both languages
        started = _server_output(live)
        assert "clock source unsynchronised: clock marked unsynchronised" in started
        assert all(fix in started for fix in FIXES)
        assert "解决办法" in started and "时钟不可信" in started
        assert started.count(HINT) == 1  # no refusal yet

        # the TSA's rejection says what the operator can do, to any RFC 3161 client
        reply = httpx.post(
            f"{live.url}/tsa",
            content=build_request(b"\x11" * 32).der,
            headers={"Content-Type": "application/timestamp-query"},
        )
        response = parse_response(reply.content)
        assert response.failure_info == {FailureInfo.TIME_NOT_AVAILABLE}
        assert all(fix in " ".join(response.status_text) for fix in FIXES)
        # the first refusal is logged with the hint, once
        _wait_for(live, HINT, count=2)

        # `timeseal stamp` prints it
        result = runner.invoke(main.app, ["stamp", str(evidence), "--server", live.url])
        assert result.exit_code == 1
        said = " ".join(result.output.split())
        assert all(fix in said for fix in FIXES), result.output

        # an upload is refused at once with clock_untrusted, not "try again later", both
        # languages in the CLI
        _login(runner, live)
        result = runner.invoke(main.app, ["upload", str(evidence), "--server", live.url])
        assert result.exit_code == 1, result.output
        said = " ".join(result.output.split())  # the console wraps long lines
        assert "暂时无法签发时间戳" not in said
        assert "服务器时钟不可信" in said
        assert "The server's clock is not trusted" in said
        assert "make serve CLOCK_SOURCE=local" in said
        assert _server_output(live).count(HINT) == 2  # one spell, one warning


def test_server_errors_reach_the_cli_in_both_languages(tmp_path: Path) -> None:
    runner = CliRunner(env=_env(tmp_path))
    with live_server(tmp_path / "data") as live:
        outbox = live.data_dir / "sms-outbox.log"
        args = ["login", "--server", live.url, "--phone", PHONE]
        # a wrong code, three times: each refusal printed in both languages
        stdin = code_prompt_input(outbox, PHONE, [wrong_code] * 3)
        result = invoke_answering(runner, main.app, args, stdin)
        assert result.exit_code == 1
        assert "验证码不正确或已失效。 / The code is wrong or no longer valid." in result.output
        # the API itself, after those three wrong tries from this address: rate limited,
        # both messages beside the one Accept-Language picked
        reply = httpx.post(
            f"{live.url}/api/v1/auth/login",
            json={"phone": PHONE, "code": "000000", "kind": "token"},
            headers={"Accept-Language": "en"},
        )
        error = reply.json()["error"]
        assert (reply.status_code, error["code"]) == (429, "rate_limited")
        wait = error["retry_after"]
        assert error["message"] == error["message_en"]
        assert error["message_en"] == f"Too many requests; try again in {wait} seconds."
        assert error["message_zh"] == f"操作过于频繁，请 {wait} 秒后再试。"
        # asking for codes again at once: rate limited, the wait in both languages
        for _ in range(5):
            result = runner.invoke(main.app, args, input="\n")
            if "操作过于频繁" in result.output:
                break
        assert result.exit_code == 1
        assert "操作过于频繁，请" in result.output and "/ Too many requests; try again in" in (
            result.output
        ), result.output


def test_download_names_a_missing_or_wrong_check_character(tmp_path: Path) -> None:
    runner = CliRunner(env=_env(tmp_path))
    for typed, words in (
        ("TS-20261129-7Q4K-M2X", "the last character is a check character"),
        ("ts202611297q4km2x", "the last character is a check character"),
        ("TS-20261129-7Q4K-M2XD", "check character (its last one) does not match"),
    ):
        result = runner.invoke(main.app, ["download", typed, "--server", "http://127.0.0.1:9"])
        assert result.exit_code == 2, result.output
        said = " ".join(result.output.split())
        assert words in said and "校验字符" in said
