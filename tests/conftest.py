from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pki import PKIFixture, make_pki
from tests.support.server import LiveServer, live_server


@pytest.fixture(scope="session")
def test_pki() -> PKIFixture:
    return make_pki()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real `timeseal serve` for the whole session (clock source: local)."""
    data_dir: Path = tmp_path_factory.mktemp("server-data")
    with live_server(data_dir) as live:
        yield live
