"""``/docs`` and ``/redoc`` loaded their scripts from a public CDN, on the origin that holds
the session cookie: whoever controls that CDN (or its path to a user) could run script able to
call every API the logged-in user can. Off by default now; on request, ``/docs`` is served from
locally installed files only (issue 12, point 8). ``/openapi.json`` stays: it is the contract.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import server_database_url
from timeseal.server.api.docs import ASSETS, offline_swagger_ui
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.runtime.http import HttpConfig, resolve
from timeseal.server.tsa.clock import LocalSource

SCRIPT_OR_STYLE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@contextmanager
def running(data_dir: Path, **settings: Any) -> Iterator[TestClient]:
    app = create_app(
        ServerSettings(
            database_url=server_database_url(),
            data_dir=data_dir,
            clock_source=LocalSource(),
            **settings,
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_docs_and_redoc_are_off_by_default_and_the_contract_stays(data_dir: Path) -> None:
    with running(data_dir) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/redoc").status_code == 404
        assert client.get("/docs/oauth2-redirect").status_code == 404
        contract = client.get("/openapi.json")
    assert contract.status_code == 200
    assert "/api/v1/uploads" in contract.json()["paths"]


def test_docs_asked_for_without_local_assets_stay_off(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if offline_swagger_ui() is not None:
        pytest.skip("swagger-ui-bundle is installed here")
    with (
        caplog.at_level(logging.WARNING, logger="timeseal.server"),
        running(data_dir, http=HttpConfig(api_docs=True)) as client,
    ):
        assert client.get("/docs").status_code == 404
    assert "/docs stays off" in caplog.text


def test_docs_asked_for_are_served_from_local_files_only(data_dir: Path, tmp_path: Path) -> None:
    assets = tmp_path / "swagger-ui"
    assets.mkdir()
    for name in ASSETS:
        (assets / name).write_text(f"/* {name} */\n")
    with running(data_dir, http=HttpConfig(api_docs=True), swagger_ui=assets) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        urls = SCRIPT_OR_STYLE.findall(page.text)
        assert urls and all(u.startswith(("/docs/assets/", "data:")) for u in urls), urls
        script = client.get("/docs/assets/swagger-ui-bundle.js")
        assert script.status_code == 200 and script.text == "/* swagger-ui-bundle.js */\n"
        assert client.get("/redoc").status_code == 404


def test_the_flag_turns_docs_on_over_config_json() -> None:
    assert HttpConfig().api_docs is False
    assert resolve(HttpConfig(), api_docs=True).api_docs is True
    assert resolve(HttpConfig(api_docs=True), api_docs=False).api_docs is False
