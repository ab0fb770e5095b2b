from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.s3 import s3_endpoint_or_skip


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3 API server for the whole session (TIMESEAL_TEST_S3_URL; ``auto`` starts moto)."""
    with s3_endpoint_or_skip() as url:
        yield url
