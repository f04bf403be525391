"""CSV import writes new records a batch at a time (``create_many``) with the outcome of row
by row: the same records in row order, the same problems on the same rows (a unique value
taken by an earlier row, in the same batch or an earlier one, even when that batch also had
a refused row), nothing kept on any problem, and progress reported as before."""

from __future__ import annotations

from configured_fixtures import configured
from sqlalchemy import func, select

from trellis.records.audit import AuditEvent
from trellis.records.importer import BATCH, PROGRESS_EVERY, import_csv


@configured
def parts(factory):  # type: ignore[no-untyped-def]
    factory.entity(
        "part",
        {"name": ("text", {"required": True}), "code": ("text", {"unique": True})},
        title="{name}",
        pipelines={"flow": ["new", "done"]},
    )
    return factory


def _csv(rows: list[tuple[str, str]], stage: str = "") -> str:
    return "Name,Code,stage\n" + "".join(f"{n},{c},{stage}\n" for n, c in rows)


def _import(factory, text: str, progress=None):  # type: ignore[no-untyped-def]
    with factory.runtime.transaction() as session:
        return import_csv(factory.runtime.records(session), "part", text, progress=progress)


def _counts(factory) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with factory.runtime.transaction() as session:
        table = factory.runtime.model(session).entities["part"].table
        records = session.scalar(select(func.count()).select_from(table))
        audits = session.scalar(select(func.count()).select_from(AuditEvent))
    return records, audits


def test_a_long_import_keeps_row_order_stage_and_reports_progress(parts) -> None:  # type: ignore[no-untyped-def]
    n = max(BATCH, PROGRESS_EVERY) * 2 + 37  # several batches, progress twice on the way
    calls: list[tuple[int, int]] = []
    report = _import(
        parts,
        _csv([(f"Part {i}", f"P{i}") for i in range(n)], stage="done"),
        lambda done, total: calls.append((done, total)),
    )
    assert report.ok, report.errors
    assert len(report.created) == n and report.created == sorted(report.created)
    assert calls == [(PROGRESS_EVERY, n), (PROGRESS_EVERY * 2, n), (n, n)]
    last = parts.records("get", "part", report.created[-1])
    assert (last.values["name"], last.values["code"], last.stage) == (
        f"Part {n - 1}",
        f"P{n - 1}",
        "done",
    )
    assert _counts(parts)[1] == n  # one audit row per record


def test_problems_land_on_the_rows_row_by_row_would_name(parts) -> None:  # type: ignore[no-untyped-def]
    rows = [(f"Part {i}", f"P{i}") for i in range(BATCH + 10)]
    rows[1] = ("", "X")  # refused: no name (so X stays free)
    rows[2] = ("Two", "X")  # takes X
    rows[3] = ("Three", "X")  # X is taken by row 2 of the same batch
    rows[BATCH + 5] = ("Later", "X")  # ...and in a later batch too
    rows[BATCH + 6] = ("Again", "P0")  # the code of the very first row
    report = _import(parts, _csv(rows))
    taken = ["Another Part has this Code already."]
    # file row numbers: the header is row 1
    assert report.errors == {
        "row 3": {"name": ["Required."]},
        "row 5": {"code": taken},
        f"row {BATCH + 7}": {"code": taken},
        f"row {BATCH + 8}": {"code": taken},
    }
    assert report.failed_rows == 4
    assert _counts(parts) == (0, 0)  # all or nothing


def test_a_clean_file_after_a_refused_one_imports(parts) -> None:  # type: ignore[no-untyped-def]
    assert not _import(parts, _csv([("A", "A1"), ("", "B1")])).ok
    report = _import(parts, _csv([("A", "A1"), ("B", "B1")]))
    assert report.ok and len(report.created) == 2
    assert _counts(parts) == (2, 2)
