"""Writing records: the INSERT and UPDATE of record rows (a unique value lost to a concurrent
writer is the same 422 as the check's), multiple-choice side rows, stage visits, audit rows
and events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, update
from sqlalchemy.exc import IntegrityError

from trellis.clock import as_utc, utcnow
from trellis.errors import StaleWrite, ValidationFailed
from trellis.metamodel.compiled import CompiledEntity, CompiledField
from trellis.metamodel.physical import physical_name
from trellis.records.audit import (
    StageVisit,
    acting_via,
    write_audit_rows,
    write_held_visits_of,
    write_visit_rows,
)
from trellis.records.checks import TAKEN_UNSEEN, taken
from trellis.records.copy_rows import copy_or_insert_returning_each
from trellis.records.direct import insert_one
from trellis.records.events import RecordEvent
from trellis.records.record import Checked, Record, RecordParts, note_record_write

_NO_GUARD = nullcontext()
_VISITS = StageVisit.__table__
VISIT_LEAVE = (
    update(_VISITS)
    .where(
        _VISITS.c.entity == bindparam("of_entity"),
        _VISITS.c.record_id == bindparam("of_record"),
        _VISITS.c.left_at.is_(None),
    )
    .values(left_at=bindparam("now"), left_by=bindparam("by"))
)


class Writing(RecordParts):
    """The statements of the record service (a part of RecordService)."""

    def _write_row(self, ent: CompiledEntity, statement: Any, row: Any = None) -> int:
        """Run an update of a record row (see :meth:`_unique_guard`); the rows it changed."""
        note_record_write(self.session)
        with self._unique_guard(ent):
            return self.session.connection().execute(statement, row).rowcount

    @contextmanager
    def _unique_guard(self, ent: CompiledEntity) -> Iterator[None]:
        """Around an insert or update of record rows. Two writers can both pass
        :meth:`_check_unique` and race (PostgreSQL runs them side by side): the loser's unique
        violation is the same 422 as the check's, inside a savepoint, so the transaction
        (an import, say) goes on."""
        unique = [f for f in ent.fields.values() if f.unique]
        if not unique:
            yield
            return
        try:
            with self.session.begin_nested():
                # the session emits the SAVEPOINT when asked for its connection: statements
                # run on the Connection itself would not (PostgreSQL then aborts the whole
                # transaction on the violation)
                self.session.connection()
                yield
        except IntegrityError as exc:
            text = str(exc.orig)
            for f in unique:
                columns = f.type.indexable_columns(f)
                index = physical_name("uq", ent.table.name, f.key)
                if index in text or any(f"{ent.table.name}.{c}" in text for c in columns):
                    # the winner may be a record the caller cannot read: confirm the value
                    # only to a caller who reads every record and sees the field on each
                    sees_all = self.access.scope_clause("read", ent.key, ent.table) is None
                    if sees_all and f.key not in self.access.hidden_fields(ent.key):
                        raise ValidationFailed({f.key: [taken(ent, f)]}) from None
                    raise ValidationFailed({f.key: [TAKEN_UNSEEN]}) from None
            raise

    def _insert(self, ent: CompiledEntity, batch: Sequence[Checked]) -> list[Record]:
        """Write checked new records: one INSERT of their rows (ids back in order), one of
        their multiple-choice rows per side table, one of their stage visits and one of their
        audit rows; then announce each. One record or many take the same path."""
        if not batch:
            return []
        now = utcnow()
        connection = self.session.connection()
        ids = self._insert_rows(ent, connection, self._record_rows(ent, batch, now))
        self._insert_side_rows(ent, connection, ids, batch)
        # (no handler for the events: none is made, nor the changes they would carry)
        handlers = self.events.listening(self.session, "created", ent.key)
        records, changed, audits, visits = self._created(ent, ids, batch, now, bool(handlers))
        self._set_titles(ent, records)
        if visits:
            write_visit_rows(self.session, visits)
        write_audit_rows(self.session, audits, connection, ent.direct_statements)
        if handlers:
            events = [
                RecordEvent("created", ent.key, record.id, self.actor, changes)
                for record, changes in zip(records, changed, strict=True)
            ]
            self.events.emit_many(self.session, "created", ent.key, events, handlers)
        return records

    def _record_rows(
        self, ent: CompiledEntity, batch: Sequence[Checked], now: datetime
    ) -> list[dict[str, Any]]:
        """The table rows of new records, written at ``now`` by the actor."""
        user = self.actor.user_id
        direct, converted = ent.row_writers
        rows = []
        for new in batch:
            values = new.values
            row = {
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "created_by": user,
                "updated_by": user,
                "owner_id": new.owner_id,
                "pipeline": new.pipeline,
                "stage": new.stage,
            }
            for key, column in direct:
                row[column] = values[key]
            for key, to_row in converted:
                row.update(to_row(values[key]))
            rows.append(row)
        return rows

    def _insert_rows(
        self, ent: CompiledEntity, connection: Connection, rows: list[dict[str, Any]]
    ) -> list[int]:
        """INSERT new record rows: their ids, in the order of the rows (a unique value lost
        to a concurrent writer is the check's 422, see :meth:`_unique_guard`)."""
        kept = ent.direct_statements
        with self._unique_guard(ent) if ent.value_hooks.unique else _NO_GUARD:
            if len(rows) == 1:  # (ids in the rows' order need SQLAlchemy's sorting only for many)
                # on the driver's cursor, compiled once (see records.direct)
                return [insert_one(kept, connection, ent.insert_one_returning_id, rows[0])[0]]  # type: ignore[index]
            # on the driver's cursor: on PostgreSQL the ids from the sequence and one COPY
            # (records.copy_rows), on SQLite one executemany and the last rowid (records.direct)
            each = copy_or_insert_returning_each(
                kept, connection, ent.insert_one_returning_id, rows
            )
            if each is not None:
                return [returned[0] for returned in each]
            return list(connection.execute(ent.insert_returning_id, rows).scalars())

    @staticmethod
    def _insert_side_rows(
        ent: CompiledEntity, connection: Connection, ids: list[int], batch: Sequence[Checked]
    ) -> None:
        """One INSERT per side table of the new records' multiple-choice values."""
        for key in ent.value_hooks.side_keys:
            chosen = [
                {"record_id": record_id, "value": v}
                for record_id, new in zip(ids, batch, strict=True)
                for v in new.values[key] or ()
            ]
            if chosen:
                connection.execute(insert(ent.side_tables[key]), chosen)

    def _created(
        self,
        ent: CompiledEntity,
        ids: list[int],
        batch: Sequence[Checked],
        now: datetime,
        with_changes: bool = True,
    ) -> tuple[list[Record], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """The new records as read back, their changes (for the events; none without
        ``with_changes``), their audit rows and their first stage visits."""
        user = self.actor.user_id
        visits, audits, records, changed = [], [], [], []
        at = as_utc(now)
        via = acting_via(user, self.actor.username)
        # each field's own is_empty and to_audit, if any (and the audit's form of no value)
        plan = [
            (key, empty, to_audit, None if to_audit is None else to_audit(None))
            for key, empty, to_audit in ent.value_hooks.audit_plan
        ]
        # (the fields whose audit pair is not the event's: each value kept as it is)
        converted = [key for key, _empty, to_audit, _before in plan if to_audit is not None]
        entity = ent.key
        for record_id, new in zip(ids, batch, strict=True):
            payload = {}
            values = new.values
            for k, empty, to_audit, before in plan:  # (FieldType.is_empty inline for most)
                v = values[k]
                if empty(v) if empty else v is None or (isinstance(v, str) and not v.strip()):
                    continue
                payload[k] = (None, v) if to_audit is None else (before, to_audit(v))
            if new.pipeline:
                payload["pipeline"] = (None, new.pipeline)
                payload["stage"] = (None, new.stage)
                visits.append(self._visit_row(entity, record_id, new.pipeline, new.stage, now))  # type: ignore[arg-type]
            if with_changes:
                # the event's pairs: the audit's, each value kept as it is (a tuple is
                # written as the same JSON array as a list)
                changes = dict(payload)
                for k in converted:
                    if k in changes:
                        changes[k] = (None, values[k])
                changed.append(changes)
            # (the audit row of _audit_row, its payload built with the changes)
            audits.append(
                {
                    "entity": entity,
                    "record_id": record_id,
                    "action": "create",
                    "at": now,
                    "by": user,
                    "via": via,
                    "changes": payload,
                }
            )
            records.append(
                Record(
                    entity,
                    record_id,
                    1,
                    new.values,
                    at,
                    at,
                    user,
                    user,
                    new.owner_id,
                    new.pipeline,
                    new.stage,
                )
            )
        return records, changed, audits, visits

    def _store(
        self,
        ent: CompiledEntity,
        current: Record,
        values: dict[str, Any],
        action: str,
        pipeline: str | None,
        stage: str | None,
    ) -> Record:
        changes = {
            k: (current.values.get(k), v)
            for k, v in values.items()
            if _differs(ent.fields[k], current.values.get(k), v)
        }
        moved = (pipeline, stage) != (current.pipeline, current.stage)
        if not changes and not moved:
            return current
        now = utcnow()
        row: dict[str, Any] = {}
        for key in changes:
            f = ent.fields[key]
            row.update(f.type.to_row(f, values[key]))
        row.update(
            _of_id=current.id,
            _of_version=current.version,
            pipeline=pipeline,
            stage=stage,
            version=current.version + 1,
            updated_at=now,
            updated_by=self.actor.user_id,
        )
        # one prepared statement (per entity type and set of columns), the values bound
        changed = self._write_row(ent, ent.update_by_version, row)
        if changed != 1:
            raise StaleWrite(
                f"{current.title!r} was changed by someone else. Nothing was written.",
                ent.key,
                current.id,
                current.version,
            )
        self._write_sides(ent, current.id, {k: values[k] for k in changes}, replace=True)
        if moved:
            if pipeline != current.pipeline:
                changes["pipeline"] = (current.pipeline, pipeline)
            changes["stage"] = (current.stage, stage)
            self._leave_stage(ent.key, current.id, now)
            self._enter_stage(ent.key, current.id, pipeline, stage, now)  # type: ignore[arg-type]
        self._audit(ent, current.id, action if moved else "update", changes, now)
        record = Record(
            ent.key,
            current.id,
            current.version + 1,
            values,
            current.created_at,
            as_utc(now),
            current.created_by,
            self.actor.user_id,
            current.owner_id,
            pipeline,
            stage,
        )
        self._set_titles(ent, [record])
        self._emit("stage_changed" if moved else "updated", ent, current.id, changes)
        return record

    def _write_sides(
        self, ent: CompiledEntity, record_id: int, values: Mapping[str, Any], *, replace: bool
    ) -> None:
        for key, side in ent.side_tables.items():
            if key not in values or key not in ent.fields:
                continue
            if replace:
                self.session.execute(delete(side).where(side.c.record_id == record_id))
            chosen = values[key] or ()
            if chosen:
                self.session.execute(
                    insert(side), [{"record_id": record_id, "value": v} for v in chosen]
                )

    def _enter_stage(
        self, entity: str, record_id: int, pipeline: str, stage: str, now: datetime
    ) -> None:
        write_visit_rows(self.session, [self._visit_row(entity, record_id, pipeline, stage, now)])

    def _visit_row(
        self, entity: str, record_id: int, pipeline: str, stage: str, now: datetime
    ) -> dict[str, Any]:
        return {
            "entity": entity,
            "record_id": record_id,
            "pipeline": pipeline,
            "stage": stage,
            "entered_at": now,
            "entered_by": self.actor.user_id,
            "entered_via": acting_via(self.actor.user_id, self.actor.username),
        }

    def _leave_stage(self, entity: str, record_id: int, now: datetime) -> None:
        # Core, on the connection (no ORM update path; ``stage_history`` reads visits afresh)
        write_held_visits_of(self.session, entity, record_id)  # (the open one may be held)
        self.session.connection().execute(
            VISIT_LEAVE,
            {"of_entity": entity, "of_record": record_id, "now": now, "by": self.actor.user_id},
        )

    def _audit(
        self,
        ent: CompiledEntity,
        record_id: int,
        action: str,
        changes: Mapping[str, tuple[Any, Any]],
        now: datetime,
    ) -> None:
        # values as parameters, not in the statement: one cached statement for every row
        write_audit_rows(
            self.session,
            [self._audit_row(ent, record_id, action, changes, now)],
            kept=ent.direct_statements,
        )

    def _audit_row(
        self,
        ent: CompiledEntity,
        record_id: int,
        action: str,
        changes: Mapping[str, tuple[Any, Any]],
        now: datetime,
    ) -> dict[str, Any]:
        payload = {}
        audit = ent.value_hooks.audit  # (the types whose audit value differs)
        for key, (old, new) in changes.items():
            to_audit = audit.get(key)
            if to_audit is None:  # not a field (pipeline, stage), or kept as it is
                payload[key] = [old, new]
            else:
                payload[key] = [to_audit(old), to_audit(new)]
        return {
            "entity": ent.key,
            "record_id": record_id,
            "action": action,
            "at": now,
            "by": self.actor.user_id,
            "via": acting_via(self.actor.user_id, self.actor.username),
            "changes": payload,
        }

    def _emit(
        self, kind: str, ent: CompiledEntity, record_id: int, changes: dict[str, Any]
    ) -> None:
        self.events.emit(self.session, RecordEvent(kind, ent.key, record_id, self.actor, changes))


def _differs(f: CompiledField, old: Any, new: Any) -> bool:
    if f.type.is_empty(old) and f.type.is_empty(new):
        return False
    return old != new
