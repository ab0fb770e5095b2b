"""The PKI builders (timeseal.core.pki) take the time as an argument and refuse a naive one."""

from __future__ import annotations

import datetime as dt

import pytest

from timeseal.core.pki import create_root_ca


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        create_root_ca(now=dt.datetime(2026, 11, 29, 10, 2))
