"""The audit log and the stage history of records.

Every record change writes one :class:`AuditEvent` holding what changed, field by field
(``{"field": [old, new]}``), with option keys rather than labels so a rename never rewrites
history. Stage moves also open and close :class:`StageVisit` rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, BigInteger, Connection, Index, Integer, String, delete, event, insert
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from trellis.clock import as_utc, utcnow
from trellis.db import Base
from trellis.records.copy_rows import copy_or_insert_many
from trellis.records.direct import insert_one

BigId = BigInteger().with_variant(Integer(), "sqlite")


class AuditEvent(Base):
    """One change of one record: created, updated, stage, deleted, converted..."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_record", "entity", "record_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entity: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: who acted when no user did: a flow's outcome or service task is ``flow:<key>``
    via: Mapped[str | None] = mapped_column(String(60), nullable=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StageVisit(Base):
    """A stay of a record in a stage: entered (when, by whom) and left (when, by whom)."""

    __tablename__ = "stage_visit"
    __table_args__ = (Index("ix_stage_visit_record", "entity", "record_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entity: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(BigInteger)
    pipeline: Mapped[str] = mapped_column(String(40))
    stage: Mapped[str] = mapped_column(String(40))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    entered_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: as ``AuditEvent.via``: the flow that moved the record in
    entered_via: Mapped[str | None] = mapped_column(String(60), nullable=True)
    left_at: Mapped[datetime | None] = mapped_column(nullable=True)
    left_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    def duration(self, now: datetime | None = None) -> timedelta:
        """How long the record stayed (or, in its current stage, has stayed so far)."""
        end = as_utc(self.left_at or now or utcnow())
        return max(end - as_utc(self.entered_at), timedelta(0))


def acting_via(user_id: int | None, username: str) -> str | None:
    """What ``via`` records for an actor: its name when no user acts and it is not the plain
    system (``flow:<key>``), else nothing."""
    if user_id is not None or username == "system":
        return None
    return username[:60]


def forget_entity(session: Session, entity: str) -> None:
    """Drop the audit and stage history of a purged entity type."""
    session.execute(delete(AuditEvent).where(AuditEvent.entity == entity))
    session.execute(delete(StageVisit).where(StageVisit.entity == entity))


#: one audit row, one stage visit (values as parameters: one cached statement for every row;
#: inline: nobody reads their ids, so a single row has no RETURNING to fetch either, and the
#: rows can be sent with others without waiting, see ``db.sent_together``)
AUDIT_INSERT = insert(AuditEvent.__table__).inline()
VISIT_INSERT = insert(StageVisit.__table__).inline()
#: ``session.info`` key: the audit rows and stage visits held back to be inserted together
#: (:class:`HeldRows`)
HELD_ROWS = "trellis.held_history_rows"


class HeldRows:
    """The audit rows and new stage visits the record service writes in a session while
    held, each in order (see :func:`hold_history_rows`); ``connection`` is where they are
    inserted, at the level of the savepoint they were held in."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.connection = session.connection()
        self.audit: list[dict[str, Any]] = []
        self.visits: list[dict[str, Any]] = []
        session.info[HELD_ROWS] = self

    @property
    def holding(self) -> bool:
        return self.session.info.get(HELD_ROWS) is self

    def write(self) -> None:
        """Insert what is held (a statement per table) and hold no more."""
        if self.holding:
            del self.session.info[HELD_ROWS]
            self.write_so_far()

    def write_so_far(self) -> None:
        """Insert what is held (a statement per table), holding on."""
        for statement, rows in ((AUDIT_INSERT, self.audit), (VISIT_INSERT, self.visits)):
            if rows:
                self.connection.execute(statement, list(rows) if len(rows) > 1 else rows[0])
                rows.clear()

    def close(self) -> None:
        """Hold no more; what is held and not written is dropped (its savepoint is rolled
        back)."""
        if self.holding:
            del self.session.info[HELD_ROWS]


@event.listens_for(Session, "after_transaction_create")
def _savepoint_begun(session: Session, transaction: SessionTransaction) -> None:
    """A savepoint begun inside while rows are held (a flow's actions, a unique write): what
    was held goes in before it, and what follows is written at once (the savepoint may be
    rolled back). One listener for every session: one added to each session holding rows
    (and removed again) cost more than the conversion's audit INSERT."""
    if transaction.nested:
        held: HeldRows | None = session.info.get(HELD_ROWS)
        if held is not None:
            held.write()


def hold_history_rows(session: Session) -> HeldRows | None:
    """From now on the audit rows and new stage visits the record service writes in
    ``session`` are held, in order, and inserted by :meth:`HeldRows.write` in a statement
    per table (a conversion's four audit rows, its two visits), or dropped by
    :meth:`HeldRows.close` with the savepoint they were written in. A savepoint begun inside,
    reading a history or the stage history, writes them first; leaving a stage writes the
    visits of that record first. ``None`` when rows are held already: the outer holder
    writes them."""
    if HELD_ROWS in session.info:
        return None
    return HeldRows(session)


def write_held_rows(session: Session) -> None:
    """Insert the rows held so far (before the audit log or the stage history is read),
    holding on."""
    held: HeldRows | None = session.info.get(HELD_ROWS)
    if held is not None:
        held.write_so_far()


def write_held_visits_of(session: Session, entity: str, record_id: int) -> None:
    """Insert the rows held so far if a stage visit of the record is held (before its open
    visit is closed), holding on."""
    held: HeldRows | None = session.info.get(HELD_ROWS)
    if held is not None and any(
        v["entity"] == entity and v["record_id"] == record_id for v in held.visits
    ):
        held.write_so_far()


def write_audit_rows(
    session: Session,
    rows: list[dict[str, Any]],
    connection: Connection | None = None,
    kept: dict[Any, Any] | None = None,
) -> None:
    """Insert ``rows`` (one statement; on ``connection``, the session's connection in this
    transaction when the caller has it at hand), or hold them (see
    :func:`hold_history_rows`). ``kept``: the statements kept with the compiled entity type
    of the rows, where one row's INSERT is kept to run on the driver's cursor (see
    ``records.direct``), and many rows' COPY on PostgreSQL (``records.copy_rows``)."""
    held: HeldRows | None = session.info.get(HELD_ROWS)
    if held is not None:
        held.audit.extend(rows)
        return
    connection = connection if connection is not None else session.connection()
    if len(rows) > 1:
        if kept is not None:
            copy_or_insert_many(kept, connection, AUDIT_INSERT, rows)
        else:
            connection.execute(AUDIT_INSERT, rows)
    elif kept is not None:
        insert_one(kept, connection, AUDIT_INSERT, rows[0])
    else:
        connection.execute(AUDIT_INSERT, rows[0])


def write_visit_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert new stage visits (one statement), or hold them (see
    :func:`hold_history_rows`)."""
    held: HeldRows | None = session.info.get(HELD_ROWS)
    if held is not None:
        held.visits.extend(rows)
    else:
        session.connection().execute(VISIT_INSERT, rows if len(rows) > 1 else rows[0])
