"""The duplicate check of a caller whose reads no scope narrows runs its query compiled once,
on the driver's cursor (no SQLAlchemy execution context or result), with the same candidates
as the query run through SQLAlchemy (a narrowed caller's: test_duplicates.py)."""

from __future__ import annotations

from sqlalchemy import Connection

from trellis.conversion.duplicates import find_candidates


def test_an_unrestricted_callers_candidates_come_from_the_drivers_cursor(  # type: ignore[no-untyped-def]
    runtime, demo, new_lead, monkeypatch
) -> None:
    with runtime.transaction() as session:
        records = runtime.records(session)
        made = [
            records.create("company", {"name": "Initech", "tin": f"EE10203040{i}"}).id
            for i in range(3)
        ]
    executed: list[str] = []
    execute = Connection.execute

    def noted(self, statement, *args, **kwargs):  # type: ignore[no-untyped-def]
        executed.append(str(statement))
        return execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "execute", noted)
    values = {"name": " initech ", "tin": "EE102030402"}
    with runtime.transaction() as session:
        found = find_candidates(runtime.records(session), "company", values)
        again = find_candidates(runtime.records(session), "company", values, limit=2)
    assert [c["id"] for c in found] == made
    assert [c["matched"] for c in found] == [["name"], ["name"], ["name", "tin"]]
    assert [c["id"] for c in again] == made[:2]
    assert not [s for s in executed if "LIMIT" in s], executed
