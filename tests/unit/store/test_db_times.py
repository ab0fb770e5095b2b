"""Time columns hold whole milliseconds since 1970 (UTC), computed exactly in one place."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timeseal.store.db import from_ms, to_ms


def test_microseconds_round_down_exactly() -> None:
    t = dt.datetime(2025, 11, 24, 16, 0, 0, 999_999, tzinfo=dt.UTC)
    assert to_ms(t) == 1_764_000_000_999


def test_before_1970_rounds_toward_the_past() -> None:
    # int(t.timestamp() * 1000), the other way this was once written, gives 0 here.
    assert to_ms(dt.datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=dt.UTC)) == -1


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_ms(dt.datetime(2025, 1, 1))


def test_other_offsets_mean_the_same_instant() -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    t = dt.datetime(2025, 1, 1, 8, 0, tzinfo=beijing)
    assert to_ms(t) == to_ms(t.astimezone(dt.UTC))


@given(st.integers(min_value=-(10**13), max_value=10**13))
def test_round_trip(ms: int) -> None:
    assert to_ms(from_ms(ms)) == ms
    assert from_ms(ms).tzinfo is dt.UTC
