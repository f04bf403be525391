"""``records.direct.column_processor``: a column of values goes to the driver as its bind
processor makes each one. A processor that writes dates as their ISO text (SQLite's DATE)
is run as ``date.isoformat`` for plain dates, and as itself for anything else; the
processors of other types are not taken for one."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Numeric, String

from trellis.records.direct import _writes_iso_dates, column_processor

DATES = [date(2026, 11, 24), date(1, 1, 1), date(999, 12, 31), date(9999, 12, 31), None]
DATES += [date(2024, 2, 29), datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 1, 2, tzinfo=UTC)]


def test_a_column_of_dates_goes_as_the_processor_makes_each(runtime) -> None:  # type: ignore[no-untyped-def]
    dialect = runtime.engine.dialect
    process = Date().dialect_impl(dialect).bind_processor(dialect)
    column = column_processor(process)
    if process is None:  # (PostgreSQL's driver takes dates as they are)
        assert column is None
        return
    assert _writes_iso_dates(process) is (dialect.name == "sqlite")
    values = DATES * 3
    assert column(values) == [process(value) for value in values]


def test_other_types_processors_are_not_taken_for_iso_dates(runtime) -> None:  # type: ignore[no-untyped-def]
    dialect = runtime.engine.dialect
    samples = {
        DateTime(): [datetime(2026, 1, 2, 3, 4), None],
        Numeric(12, 2): [Decimal("1.25"), None],
        Boolean(): [True, False, None],
        JSON(): [{"a": [1, "b"]}, None],
        String(): ["x", None],
    }
    for kind, values in samples.items():
        process = kind.dialect_impl(dialect).bind_processor(dialect)
        if process is None:
            assert column_processor(process) is None
            continue
        assert not _writes_iso_dates(process), kind
        got = column_processor(process)(values * 2)
        # (psycopg's Json wrapper of a value compares by identity: compare what it wraps)
        assert [_unwrapped(v) for v in got] == [_unwrapped(process(v)) for v in values * 2]


def _unwrapped(value: object) -> object:
    return getattr(value, "obj", value)


def test_a_column_is_processed_value_by_value_or_once_for_a_run_of_one_object() -> None:
    calls: list[Any] = []

    def process(value: Any) -> Any:
        calls.append(value)
        return f"<{value}>"

    column = column_processor(process)
    assert column is not None
    calls.clear()  # (the sample dates it was asked about)
    assert column([1, 2, 2, 3]) == ["<1>", "<2>", "<2>", "<3>"]
    assert calls == [1, 2, 2, 3]
    calls.clear()
    moment = object()
    other = object()
    assert column([moment, moment, moment, other, moment]) == [
        f"<{moment}>", f"<{moment}>", f"<{moment}>", f"<{other}>", f"<{moment}>"
    ]  # fmt: skip
    assert calls == [moment, other, moment]  # (a run of one object processed once)
    assert column([]) == [] and column([7]) == ["<7>"]
