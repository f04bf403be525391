"""The demo (the shipped packs' samples) writes its records in batches (``create_many``): the
database it leaves is the one it left writing them one ``create`` at a time (records, side
rows, audit rows, stage visits, ids included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from trellis.demo import load_demo
from trellis.records.audit import AuditEvent, StageVisit
from trellis.records.service import NewRecord, RecordService
from trellis.runtime import Runtime

MOMENTS = {"created_at", "updated_at", "at", "entered_at", "left_at"}


def _everything(runtime: Runtime) -> dict[str, Any]:
    with runtime.transaction() as session:
        model = runtime.model(session)
        tables = [e.table for e in model.entities.values()]
        tables += [s for e in model.entities.values() for s in e.side_tables.values()]
        tables += [AuditEvent.__table__, StageVisit.__table__]
        return {
            t.name: [
                {k: v for k, v in row.items() if k not in MOMENTS}
                for row in session.execute(select(t).order_by(*t.primary_key.columns))
                .mappings()
                .all()
            ]
            for t in tables
        }


def _one_at_a_time(self: RecordService, entity: str, records: Any, **_: Any) -> list[Any]:
    return [
        self.create(entity, r.data, pipeline=r.pipeline, stage=r.stage, owner_id=r.owner_id)
        if isinstance(r, NewRecord)
        else self.create(entity, r)
        for r in records
    ]


def test_the_demo_loads_as_it_did_one_record_at_a_time(
    runtime, new_database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    runtime.initialise()
    counts = load_demo(runtime)
    assert counts["records"] >= 9
    batched = _everything(runtime)
    assert sum(len(rows) for rows in batched.values()) > counts["records"] * 2
    folder = tmp_path / "single"
    folder.mkdir()
    with new_database(folder) as url:
        single = Runtime.from_settings(
            {"DATABASE_URL": url, "INSTANCE_PATH": str(folder), "SECRET_KEY": "t"}
        )
        try:
            single.initialise()
            with monkeypatch.context() as patch:
                patch.setattr(RecordService, "create_many", _one_at_a_time)
                load_demo(single)
            assert _everything(single) == batched
        finally:
            single.dispose()
