from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.engines import watching_engines
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


@pytest.fixture(autouse=True)
def no_leaked_connections() -> Iterator[None]:
    """Fails the test that leaks a database connection, naming where the engine was made and
    where the connection was taken (tests/support/engines.py). Set up before, so torn down
    after, every other fixture of the test."""
    with watching_engines() as watcher:
        yield
    leaks = watcher.leaks()
    watcher.dispose_all()
    if leaks:
        pytest.fail("database connections leaked:\n\n" + "\n\n".join(leaks), pytrace=False)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Last, below the final counts: one line naming the groups of tests skipped for want of
    PostgreSQL or S3, and how to run them (tests/support/skipped_groups.py)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if not isinstance(reporter, pytest.TerminalReporter):
        return
    from tests.support.skipped_groups import skipped_groups_line

    line = skipped_groups_line(reporter.stats.get("skipped", []))
    if line is not None:
        reporter.write_line(line, yellow=True, bold=True)
