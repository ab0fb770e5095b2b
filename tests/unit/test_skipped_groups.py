"""The line at the end of a test session naming the groups skipped for want of a service
(tests/support/skipped_groups.py, printed by tests/conftest.py's pytest_unconfigure)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.skipped_groups import skipped_groups_line

ROOT = Path(__file__).resolve().parents[2]


def _skipped(nodeid: str, reason: str) -> pytest.TestReport:
    return pytest.TestReport(
        nodeid,
        ("tests/x.py", 1, nodeid),
        {},
        "skipped",
        ("tests/support/postgres.py", 23, f"Skipped: {reason}"),
        "setup",
    )


def test_counts_each_group_and_says_how_to_run_it() -> None:
    reports = [
        _skipped("a[postgresql]", "TIMESEAL_TEST_POSTGRES_URL is not set"),
        _skipped("b[postgresql]", "TIMESEAL_TEST_POSTGRES_URL is not set"),
        _skipped("c", "TIMESEAL_TEST_S3_URL is not set (an S3 endpoint URL, or 'auto')"),
        _skipped("d", "swagger-ui-bundle is installed here"),
    ]
    line = skipped_groups_line(reports)
    assert line == (
        "not run: 2 PostgreSQL tests "
        "(set TIMESEAL_TEST_POSTGRES_URL=postgresql+psycopg://USER@HOST:5432/DB), "
        "1 S3 tests (set TIMESEAL_TEST_S3_URL=auto (starts a moto server)); .ci/run sets both"
    )


def test_nothing_said_when_no_group_was_skipped() -> None:
    assert skipped_groups_line([_skipped("d", "needs a Debian system (dpkg)")]) is None


def test_a_session_without_postgresql_ends_with_the_line() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TIMESEAL_TEST_POSTGRES_URL", "TIMESEAL_TEST_S3_URL", "PYTEST_XDIST_WORKER")
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "postgres"]
        + ["tests/unit/store/test_migrations.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    last = done.stdout.strip().splitlines()[-1]
    assert re.match(r"not run: \d+ PostgreSQL tests \(set TIMESEAL_TEST_POSTGRES_URL=", last), last
