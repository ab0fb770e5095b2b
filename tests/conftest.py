from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.pki import PKIFixture, make_pki
from tests.support.server import LiveServer, live_server

# In CI every run tries the same examples, so a landing never depends on the luck of the draw;
# locally each run explores new ones (and keeps failures in .hypothesis/ to replay them).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def test_pki() -> PKIFixture:
    return make_pki()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real `timeseal serve` for the whole session (clock source: local)."""
    data_dir: Path = tmp_path_factory.mktemp("server-data")
    with live_server(data_dir) as live:
        yield live
