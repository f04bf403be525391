"""The one place that says what time it is (UTC), so tests and storage agree."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Naive UTC now: stored as is in both SQLite and PostgreSQL, read back as UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def as_utc(value: datetime) -> datetime:
    """A datetime read from storage (naive UTC) or given by a caller, as aware UTC."""
    if value.tzinfo is None:
        if type(value) is datetime:  # (a list page makes two a record: a quarter the time)
            return _combine(value, value.time(), UTC)
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


#: the same value as ``naive.replace(tzinfo=UTC)`` (date, time, fold) at a quarter of its
#: cost: ``replace`` parses eight keyword arguments per call
_combine = datetime.combine


def to_storage(value: datetime) -> datetime:
    """An aware or naive datetime as naive UTC for storage; naive input is taken as UTC."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
