"""``records.direct.Columns``: a batch's rows kept column by column. The INSERT takes its
columns as they are, through the same bind processors as the same rows given as dicts; as a
sequence it is those rows, for what needs dicts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Column, Date, DateTime, Integer, MetaData, Numeric, Table, Text, insert
from sqlalchemy.dialects import postgresql, sqlite

from trellis.records.direct import Columns, DirectInsert, OtherKeys, as_rows

TABLE = Table(
    "thing",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", Text),
    Column("due", Date),
    Column("at", DateTime),
    Column("rate", Numeric(12, 2)),
)
NOW = datetime(2026, 12, 3, 1, 2, 3)
ROWS = [
    {"name": "a", "due": date(2026, 11, 24), "at": NOW, "rate": Decimal("1.50")},
    {"name": None, "due": None, "at": NOW, "rate": None},
    {"name": "c", "due": date(1, 2, 3), "at": NOW, "rate": Decimal("-2")},
]


def _columns() -> Columns:
    return Columns({key: [row[key] for row in ROWS] for key in ROWS[0]}, len(ROWS))


def test_columns_are_the_rows_as_a_sequence() -> None:
    columns = _columns()
    assert len(columns) == 3
    assert list(columns) == ROWS == as_rows(columns)
    assert columns[0] == ROWS[0] and columns[-1] == ROWS[-1] and columns[1:] == ROWS[1:]
    with pytest.raises(IndexError):
        columns[3]
    with pytest.raises(IndexError):
        columns[-4]
    assert as_rows(ROWS) is ROWS  # (a list as it is)
    with pytest.raises(ValueError):
        Columns({"name": ["a"], "due": []}, 1)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.psycopg.dialect()])
def test_an_insert_takes_columns_as_it_takes_the_same_rows(dialect) -> None:  # type: ignore[no-untyped-def]
    direct = DirectInsert(insert(TABLE), list(ROWS[0]), dialect)
    assert direct.columns_of(_columns()) == direct.columns_of(ROWS)
    assert direct._parameters_of(_columns()) == direct._parameters_of(ROWS)
    with pytest.raises(OtherKeys):
        direct.columns_of(Columns({"name": ["a"]}, 1))
