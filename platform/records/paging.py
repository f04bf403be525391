"""Keyset paging of record lists: opaque cursors and the conditions that continue after one.

A cursor holds the sort it was made for and the sort values of the last record of a page
(``id`` last). The next page is read from an index position instead of an OFFSET, so a deep
page costs what the first one does. Cursors come from the client: every value is checked
against its column's type before it becomes a bound parameter, and a cursor made for another
sort is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, tuple_

from trellis.errors import BadRequest
from trellis.records.query import SortKey

#: a list's total is counted up to this many records unless the exact count is asked for
COUNT_CAP = 1_000
MAX_CURSOR = 2_000
#: what a cursor is made of (unpadded URL-safe base64); anything else is no cursor
CURSOR_PATTERN = "^[A-Za-z0-9_-]*$"
_CURSOR = re.compile(CURSOR_PATTERN.strip("^$"))
BAD_CURSOR = "The cursor is not one this list gave out; start again from the first page."


def encode_cursor(keys: Sequence[SortKey], row: Mapping[str, Any]) -> str:
    """The cursor after ``row`` in a list ordered by ``keys``."""
    values = [_dump(row[k.column.name]) for k in keys]
    text = json.dumps([[_spec(k) for k in keys], values], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(keys: Sequence[SortKey], cursor: str) -> list[Any]:
    """The sort values in ``cursor`` (one per key), checked against the columns' types."""
    try:
        if len(cursor) > MAX_CURSOR or not _CURSOR.fullmatch(cursor):
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        spec, values = json.loads(raw)
        if spec != [_spec(k) for k in keys] or len(values) != len(keys):
            raise ValueError
        return [_load(k, v) for k, v in zip(keys, values, strict=True)]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, InvalidOperation):
        raise BadRequest(BAD_CURSOR, {"after": ["Invalid cursor."]}) from None


def after_segments(keys: Sequence[SortKey], values: Sequence[Any]) -> list[ColumnElement[bool]]:
    """Conditions for the records after ``values`` in the order of ``keys``, as segments read
    one after the other (each in that order) until a page is full.

    Each segment is a range of the ``(column, id)`` index where one exists: a single row-value
    comparison, and for a column with empty values a second segment for the empty ones (they
    come first going up, last going down). Several sort keys fall back to one condition that
    the database filters with."""
    first = keys[0]
    if len(keys) == 2 and first.nullable and not keys[1].nullable:
        value, last_id = values
        column, ids = first.column, keys[1].column
        if first.descending:
            if value is None:
                return [and_(column.is_(None), ids < last_id)]
            return [tuple_(column, ids) < tuple_(value, last_id), column.is_(None)]
        if value is None:
            return [and_(column.is_(None), ids > last_id), column.is_not(None)]
        return [tuple_(column, ids) > tuple_(value, last_id)]
    if not any(k.nullable for k in keys) and len({k.descending for k in keys}) == 1:
        row = tuple_(*(k.column for k in keys))
        bound = tuple_(*values)
        return [row < bound if first.descending else row > bound]
    return [_expanded(keys, values)]


def _expanded(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """(k1 after v1) or (k1 = v1 and k2 after v2) or ... with empty values placed."""
    branches = []
    for i, key in enumerate(keys):
        same = [_equal(k, v) for k, v in zip(keys[:i], values[:i], strict=True)]
        branches.append(and_(*same, _after(key, values[i])))
    return or_(*branches)


def _equal(key: SortKey, value: Any) -> ColumnElement[bool]:
    return key.column.is_(None) if value is None else key.column == value


def _after(key: SortKey, value: Any) -> ColumnElement[bool]:
    column = key.column
    if key.descending:  # empty values last
        return false() if value is None else or_(column < value, column.is_(None))
    return column.is_not(None) if value is None else column > value


def _spec(key: SortKey) -> str:
    return f"-{key.name}" if key.descending else key.name


def _dump(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    return value


def _load(key: SortKey, value: Any) -> Any:
    if value is None:
        if not key.nullable:
            raise ValueError
        return None
    wanted = key.column.type.python_type
    if isinstance(value, dict) and len(value) == 1:
        ((tag, text),) = value.items()
        if not isinstance(text, str):
            raise ValueError
        value = {
            "t": datetime.fromisoformat,
            "d": date.fromisoformat,
            "n": Decimal,
        }.get(tag, _refuse)(text)
    if wanted is Decimal and isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if isinstance(value, bool) != (wanted is bool) or not isinstance(value, wanted):
        raise ValueError
    if isinstance(value, datetime) is not (wanted is datetime):
        raise ValueError
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError
    return value


def _refuse(_text: str) -> Any:
    raise ValueError
