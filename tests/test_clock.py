"""trellis.clock.as_utc: a stored (naive UTC) datetime as aware UTC, the same value, type and
fold as ``replace(tzinfo=UTC)`` gave (its fast path for plain datetimes), aware ones moved to
UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from trellis.clock import as_utc


class Stamp(datetime):
    """A datetime subclass a caller may hand in: it stays of its class."""


@pytest.mark.parametrize(
    "naive",
    [
        datetime(2026, 12, 2, 12, 0),
        datetime(2026, 1, 1, 0, 0, 0, 1),
        datetime(1, 1, 1),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime(2026, 10, 25, 1, 30, fold=1),
        Stamp(2026, 3, 4, 5, 6, 7, 8),
    ],
)
def test_a_naive_datetime_is_taken_as_utc(naive: datetime) -> None:
    aware = as_utc(naive)
    expected = naive.replace(tzinfo=UTC)
    assert aware == expected
    assert aware.tzinfo is UTC
    assert type(aware) is type(expected)
    assert aware.fold == naive.fold
    assert aware.replace(tzinfo=None) == naive


def test_an_aware_datetime_is_moved_to_utc() -> None:
    aware = datetime(2026, 12, 2, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert as_utc(aware) == datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert as_utc(aware).utcoffset() == timedelta(0)
