"""Audit rows held back (a conversion's) go in before a savepoint begun inside, so the
savepoint's rollback keeps them; holding adds no event listener to the session (one listener
for every session does it: adding and removing one per conversion cost more than the
conversion's audit INSERT)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from trellis.records.audit import AuditEvent, hold_history_rows, write_audit_rows


def _row(record_id: int) -> dict:  # type: ignore[type-arg]
    return {
        "entity": "probe",
        "record_id": record_id,
        "action": "created",
        "at": datetime(2026, 12, 2),
        "by": None,
        "via": None,
        "changes": {},
    }


def _stored(session) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(  # type: ignore[no-any-return]
        select(func.count()).select_from(AuditEvent).where(AuditEvent.entity == "probe")
    )


def test_a_savepoint_begun_while_holding_keeps_the_rows_held_before_it(runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        listeners = len(session.dispatch.after_transaction_create)
        held = hold_history_rows(session)
        assert held is not None
        assert len(session.dispatch.after_transaction_create) == listeners
        write_audit_rows(session, [_row(1), _row(2)])
        assert _stored(session) == 0  # held
        savepoint = session.begin_nested()  # writes them first
        write_audit_rows(session, [_row(3)])  # written at once: the savepoint may go
        savepoint.rollback()
        assert _stored(session) == 2
        held.write()
        held.close()
        write_audit_rows(session, [_row(4)])
        assert _stored(session) == 3
    with runtime.transaction() as session:
        assert _stored(session) == 3
