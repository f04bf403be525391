"""The record service: the only writer of records.

Every write validates types, settings, options, references, uniqueness, required rules, stage
rules and validation rules and reports every problem at once; keeps created/updated by and
at, an owner and a version number (a stale write is refused, never merged); writes the audit
log and the stage history; and announces what happened on the events seam. It takes a session
and never commits: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import marshmallow as ma
from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trellis.access.models import RecordLink
from trellis.access.policy import Access, load_access
from trellis.access.probes import Probe, note_probe
from trellis.accounts import Actor
from trellis.clock import as_utc, utcnow
from trellis.errors import BadRequest, Conflict, NotFound, PermissionDenied, ValidationFailed
from trellis.metamodel.changes import Errors
from trellis.metamodel.compiled import CompiledEntity, CompiledField, CompiledModel
from trellis.metamodel.fieldtypes.base import input_messages
from trellis.metamodel.physical import physical_name
from trellis.records.audit import AuditEvent, StageVisit
from trellis.records.events import EventBus, RecordEvent
from trellis.records.paging import COUNT_CAP, after_segments, decode_cursor, encode_cursor
from trellis.records.query import (
    Filter,
    filter_clauses,
    order_clauses,
    page_bounds,
    search_clause,
    sort_keys,
    title_text_clause,
)
from trellis.records.stage_rules import creation_problem, move_problem
from trellis.records.user_values import resolve_user_values
from trellis.records.validation import RECORD_KEY, rule_problems

AUDIT_INSERT = insert(AuditEvent.__table__)
#: a unique value taken on a record the caller may not see (not confirmed as such)
TAKEN_UNSEEN = "This value cannot be used; choose another."
#: a rule about a field hidden from the caller is not met (the field and the rule unnamed)
HIDDEN_RULE = "A rule about information you cannot see is not met; ask someone who can see it."
#: why a delete is refused when its effects reach records the caller may not change
UNTOUCHABLE = (
    "Cannot delete: other records depend on it that you may not change. "
    "Ask someone who may change them."
)
READ_ONLY_KEYS = frozenset(
    {"id", "version", "title", "created_at", "updated_at", "created_by", "updated_by", "owner"}
)


@dataclass
class Record:
    """A record as the platform sees it: Python values of its active fields plus system data."""

    entity: str
    id: int
    version: int
    values: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    created_by: int | None
    updated_by: int | None
    owner_id: int | None
    pipeline: str | None = None
    stage: str | None = None
    title: str = ""


@dataclass
class Page:
    """One page of a record list."""

    items: list[Record]
    total: int
    page: int
    per_page: int
    total_is_lower_bound: bool = False
    """``total`` was counted up to a cap: there are more records than that."""
    next_cursor: str | None = None
    """Where the next page starts (``after=``); None on the last page."""


@dataclass
class _Write:
    """A validated change, ready to store."""

    values: dict[str, Any]
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)


class RecordService:
    """Create, read, update, delete, list and move records of any entity type."""

    def __init__(
        self,
        session: Session,
        model: CompiledModel,
        actor: Actor,
        events: EventBus | None = None,
        access: Access | None = None,
    ) -> None:
        self.session = session
        self.model = model
        self.actor = actor
        self.events = events or EventBus()
        # secure by default: without an explicit Access, the actor's roles decide
        self.access = access or load_access(session, actor)

    # -- writes ----------------------------------------------------------------------------

    def create(
        self,
        entity: str,
        data: Mapping[str, Any],
        *,
        pipeline: str | None = None,
        stage: str | None = None,
        owner_id: int | None = None,
        by_flow: str | None = None,
    ) -> Record:
        """Create a record; ``pipeline``/``stage`` default to the first pipeline's first stage.
        A record may start in another stage only if the caller could move it there from the
        first one (see ``stage_rules``); ``by_flow`` as for :meth:`move_stage`."""
        ent = self._entity(entity)
        if not self.access.can("create", ent.key):
            raise PermissionDenied(f"You may not create {ent.label_plural}.")
        errors = Errors()
        owner = owner_id if owner_id is not None else self.actor.user_id
        loaded = self._load(ent, data, errors, owner)
        values = {key: self._default(f) for key, f in ent.fields.items()}
        values.update(loaded)
        pipeline, stage = self._placement(ent, pipeline, stage, None, None, errors)
        if pipeline and stage and not {"pipeline", "stage"} & set(errors):
            problem = creation_problem(ent, pipeline, stage, self.actor, by_flow=by_flow)
            if problem:
                errors.add("stage", problem)
        self._check(ent, values, {}, list(loaded), None, pipeline, stage, errors, owner)
        errors.raise_if_any()
        now = utcnow()
        row = {
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "created_by": self.actor.user_id,
            "updated_by": self.actor.user_id,
            "owner_id": owner,
            "pipeline": pipeline,
            "stage": stage,
        }
        for key, f in ent.fields.items():
            row.update(f.type.to_row(f, values[key]))
        record_id = self._write_row(ent, insert(ent.table).returning(ent.table.c.id), row)
        self._write_sides(ent, record_id, values, replace=False)
        changes = {k: (None, v) for k, v in values.items() if not ent.fields[k].type.is_empty(v)}
        if pipeline:
            changes["pipeline"], changes["stage"] = (None, pipeline), (None, stage)
            self._enter_stage(ent.key, record_id, pipeline, stage, now)  # type: ignore[arg-type]
        self._audit(ent, record_id, "create", changes, now)
        record = Record(
            ent.key,
            record_id,
            1,
            values,
            as_utc(now),
            as_utc(now),
            self.actor.user_id,
            self.actor.user_id,
            owner,
            pipeline,
            stage,
        )
        record.title = self._title(ent, record)
        self._emit("created", ent, record_id, changes)
        return self._visible(ent, record)

    def update(
        self, entity: str, record_id: int, data: Mapping[str, Any], *, version: int
    ) -> Record:
        """Change fields of a record read at ``version``; a stale version is a Conflict."""
        ent = self._entity(entity)
        current = self._fetch_for(ent, record_id, "update")
        self._check_version(current, version)
        errors = Errors()
        loaded = self._load(ent, data, errors, current.owner_id)
        values = {**current.values, **loaded}
        self._check(
            ent,
            values,
            current.values,
            list(loaded),
            current.id,
            current.pipeline,
            current.stage,
            errors,
            current.owner_id,
        )
        errors.raise_if_any()
        record = self._store(ent, current, values, "update", current.pipeline, current.stage)
        return self._visible(ent, record)

    def move_stage(
        self,
        entity: str,
        record_id: int,
        stage: str,
        *,
        pipeline: str | None = None,
        values: Mapping[str, Any] | None = None,
        version: int | None = None,
        by_flow: str | None = None,
    ) -> Record:
        """Move a record to ``stage`` (of ``pipeline``, default its own), filling ``values``
        on the way. The new stage's required fields are enforced; all missing ones are
        reported together.

        The pipeline's stage rules hold (see ``stage_rules``): the current stage's allowed
        next stages, the roles that may enter the new stage, and stages reserved to flows.
        ``by_flow`` is the flows engine's seam: the key of the flow whose outcome makes this
        move. With it, a stage reserved to flows may be entered and its roles do not apply
        (the flow decided who decides); the allowed next stages still do."""
        ent = self._entity(entity)
        if not ent.has_pipelines:
            raise BadRequest(f"{ent.label_plural} have no stages.")
        current = self._fetch_for(ent, record_id, "update")
        if version is not None:
            self._check_version(current, version)
        errors = Errors()
        loaded = self._load(ent, values or {}, errors, current.owner_id)
        merged = {**current.values, **loaded}
        pipeline, stage = self._placement(
            ent, pipeline or current.pipeline, stage, current.pipeline, current.stage, errors
        )
        if pipeline and stage and not {"pipeline", "stage"} & set(errors):
            problem = move_problem(
                ent, current.pipeline, current.stage, pipeline, stage, self.actor, by_flow=by_flow
            )
            if problem:
                errors.add("stage", problem)
        self._check(
            ent,
            merged,
            current.values,
            list(loaded),
            current.id,
            pipeline,
            stage,
            errors,
            current.owner_id,
        )
        errors.raise_if_any()
        return self._visible(ent, self._store(ent, current, merged, "stage", pipeline, stage))

    def delete(self, entity: str, record_id: int, *, version: int | None = None) -> None:
        """Delete a record, applying each referring field's ``on_delete`` rule first."""
        ent = self._entity(entity)
        current = self._fetch_for(ent, record_id, "delete")
        if version is not None:
            self._check_version(current, version)
        self._delete(ent, current)

    def _delete(self, ent: CompiledEntity, current: Record) -> None:
        # cascades and set-null follow the configuration; a delete whose effects reach
        # records the caller may not change is refused without describing them
        record_id = current.id
        self._handle_referrers(ent, record_id)
        now = utcnow()
        for side in ent.side_tables.values():
            self.session.execute(delete(side).where(side.c.record_id == record_id))
        self.session.execute(delete(ent.table).where(ent.table.c.id == record_id))
        changes = {
            k: (v, None) for k, v in current.values.items() if not ent.fields[k].type.is_empty(v)
        }
        if current.pipeline:
            self._leave_stage(ent.key, record_id, now)
        self._audit(ent, record_id, "delete", changes, now)
        self._emit("deleted", ent, record_id, changes)

    def relocate_stage(
        self, entity: str, from_pipeline: str, from_stage: str, to_pipeline: str, to_stage: str
    ) -> int:
        """Move every record of a stage elsewhere (used when a stage is removed). No stage
        rules are checked: the administrator restructures the pipeline. Returns the count."""
        ent = self.model.entities.get(entity) or self.model.archived_entities[entity]
        t = ent.table
        ids = list(
            self.session.scalars(
                select(t.c.id).where(t.c.pipeline == from_pipeline, t.c.stage == from_stage)
            )
        )
        now = utcnow()
        for record_id in ids:
            self.session.execute(
                update(t)
                .where(t.c.id == record_id)
                .values(
                    pipeline=to_pipeline,
                    stage=to_stage,
                    version=t.c.version + 1,
                    updated_at=now,
                    updated_by=self.actor.user_id,
                )
            )
            self._leave_stage(ent.key, record_id, now)
            self._enter_stage(ent.key, record_id, to_pipeline, to_stage, now)
            changes = {"pipeline": (from_pipeline, to_pipeline), "stage": (from_stage, to_stage)}
            self._audit(ent, record_id, "stage", changes, now)
        return len(ids)

    # -- reads -----------------------------------------------------------------------------

    def get(self, entity: str, record_id: int) -> Record:
        """One record the caller may read, or NotFound."""
        ent = self._entity(entity)
        return self._visible(ent, self._fetch_for(ent, record_id, "read"))

    def list(
        self,
        entity: str,
        *,
        filters: Iterable[Filter] = (),
        sort: Sequence[str] = (),
        page: int = 1,
        per_page: int = 50,
        q: str | None = None,
        title_text: str | None = None,
        after: str | None = None,
        exact_total: bool = False,
    ) -> Page:
        """A filtered, sorted page of the records the caller may read, and their count.
        Filters, sort and search on a field hidden from the caller are refused as unknown.
        ``title_text`` keeps the records a person may mean by typing it for their title (see
        ``title_text_clause``): reference inputs suggest and resolve records with it.

        ``after`` (a cursor from a page's ``next_cursor``) continues after that page by
        keyset instead of ``page``. The total is counted up to :data:`COUNT_CAP` records
        (``total_is_lower_bound`` says when there are more) unless ``exact_total``."""
        ent = self._entity(entity)
        page, per_page = page_bounds(page, per_page)
        conditions = self._read_conditions(ent, filters, q)
        hidden = self.access.hidden_fields(ent.key)
        if title_text and title_text.strip():
            conditions.append(title_text_clause(ent, title_text, hidden))
        keys = sort_keys(ent, sort, hidden)
        order = order_clauses(keys)
        if after:
            page, offset = 1, None
            rows: list[Any] = []
            for segment in after_segments(keys, decode_cursor(keys, after)):
                query = select(ent.table).where(*conditions, segment).order_by(*order)
                rows += self.session.execute(query.limit(per_page + 1 - len(rows))).mappings()
                if len(rows) > per_page:
                    break
        else:
            offset = (page - 1) * per_page
            query = select(ent.table).where(*conditions).order_by(*order)
            rows = list(self.session.execute(query.limit(per_page + 1).offset(offset)).mappings())
        more = len(rows) > per_page
        rows = rows[:per_page]
        total, lower_bound = self._total(ent, conditions, offset, len(rows), more, exact_total)
        items = [self._visible(ent, r) for r in self._hydrate(ent, rows)]
        cursor = encode_cursor(keys, rows[-1]) if more else None
        return Page(items, total, page, per_page, lower_bound, cursor)

    def _total(
        self,
        ent: CompiledEntity,
        conditions: list[Any],
        offset: int | None,
        shown: int,
        more: bool,
        exact: bool,
    ) -> tuple[int, bool]:
        """How many records match, and whether that is only a lower bound: counted up to
        COUNT_CAP (or past the page asked for), exactly when asked; not counted at all when
        the page read the last of them."""
        if offset is not None and not more and (shown or not offset):
            return offset + shown, False
        matching = select(ent.table.c.id).where(*conditions)
        if exact:
            return self.session.scalar(select(func.count()).select_from(matching.subquery())), False
        cap = max(COUNT_CAP, (offset or 0) + shown)
        capped = matching.limit(cap + 1).subquery()
        counted = self.session.scalar(select(func.count()).select_from(capped)) or 0
        return (cap, True) if counted > cap else (counted, False)

    def money_totals(
        self, entity: str, field: str, *, filters: Iterable[Filter] = (), q: str | None = None
    ) -> dict[str, Any]:
        """The sum of a money field per currency over the records the caller may read that
        match ``filters`` and the search ``q`` (amounts in different currencies are never
        added together)."""
        ent = self._entity(entity)
        conditions = self._read_conditions(ent, filters, q)
        f = ent.fields.get(field)
        if f is None or f.key in self.access.hidden_everywhere(ent.key) or f.type.name != "money":
            raise BadRequest(f"{field!r} is not a money field of {ent.label_plural}.")
        # only the amounts the caller sees count: not those of records where it is hidden
        visible = self.access.visible_clause(ent.key, f.key, ent.table)
        if visible is not None:
            conditions.append(visible)
        amount, currency = ent.table.c[f"{f.key}_amount"], ent.table.c[f"{f.key}_currency"]
        rows = self.session.execute(
            select(currency, func.sum(amount))
            .where(*conditions, amount.is_not(None))
            .group_by(currency)
            .order_by(currency)
        )
        return {code: total for code, total in rows}

    def writable_keys(self, entity: str, record: Record | None = None) -> list[str]:
        """The fields of ``entity`` the caller may write on ``record`` (default: a new record
        of their own), in form order: neither hidden from them nor read-only for them, nor
        references to an entity type they may not read (there is no record they could pick)."""
        ent = self._entity(entity)
        owner = record.owner_id if record is not None else self.actor.user_id
        closed = self.access.hidden_on(ent.key, owner) | self.access.read_only_fields(ent.key)
        return [
            key
            for key, f in ent.fields.items()
            if key not in closed
            and not (
                f.type.name == "reference" and not self.access.can("read", f.settings["target"])
            )
        ]

    def _read_conditions(
        self, ent: CompiledEntity, filters: Iterable[Filter], q: str | None
    ) -> list[Any]:
        """The WHERE of a read over many records: the caller's filters and search, and the
        policy's scope. Filters and search on hidden fields are refused as unknown."""
        if not self.access.can("read", ent.key):
            raise PermissionDenied(f"You may not read {ent.label_plural}.")
        hidden = self.access.hidden_fields(ent.key)
        conditions = filter_clauses(ent, self.model, filters, hidden)
        scope = self.access.scope_clause("read", ent.key, ent.table)
        if scope is not None:
            conditions.append(scope)
        if q:
            conditions.append(search_clause(ent, q, hidden))
        return conditions

    def titles(self, entity: str, ids: Iterable[int]) -> dict[int, str]:
        """Titles of records by id (for references); ids the caller may not read, or that do
        not exist, are left out."""
        ent = self.model.entities.get(entity) or self.model.archived_entities.get(entity)
        wanted = sorted(set(ids))
        if ent is None or not wanted or not self.access.can("read", ent.key):
            return {}
        query = select(ent.table).where(ent.table.c.id.in_(wanted))
        scope = self.access.scope_clause("read", ent.key, ent.table)
        if scope is not None:
            query = query.where(scope)
        rows = self.session.execute(query)
        return {r.id: r.title for r in self._hydrate(ent, rows.mappings().all())}

    def history(self, entity: str, record_id: int) -> list[dict[str, Any]]:
        """The audit log of a record the caller may read, one item per changed field, oldest
        first; fields hidden from the caller are left out."""
        ent = self._entity(entity)
        current = self._fetch_for(ent, record_id, "read")
        hidden = self.access.hidden_on(ent.key, current.owner_id)
        events = self.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity == entity, AuditEvent.record_id == record_id)
            .order_by(AuditEvent.id)
        ).all()
        if not events:
            raise NotFound(f"No history for {entity} #{record_id}.")
        return [
            {
                "at": as_utc(event.at).isoformat(),
                "by": event.by,
                "action": event.action,
                "field": name,
                "old": old,
                "new": new,
            }
            for event in events
            for name, (old, new) in (event.changes or {}).items()
            if name not in hidden
        ]

    def changes_since(self, entity: str, record_id: int, version: int) -> list[dict[str, Any]]:
        """What changed after ``version`` (the version a stale editor had read), field by field:
        each audit event of a record makes one version, so the events after the first
        ``version`` ones are the newer changes."""
        ent = self._entity(entity)
        current = self._fetch_for(ent, record_id, "read")
        hidden = self.access.hidden_on(ent.key, current.owner_id)
        events = self.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity == ent.key, AuditEvent.record_id == record_id)
            .order_by(AuditEvent.id)
            .offset(max(version, 0))
        ).all()
        return [
            {"at": as_utc(e.at).isoformat(), "by": e.by, "field": name, "old": old, "new": new}
            for e in events
            for name, (old, new) in (e.changes or {}).items()
            if name not in hidden
        ]

    def links(self, entity: str, record_id: int) -> list[dict[str, Any]]:
        """What a record is linked to, both ways: the records its reference fields point at
        (``reference``), the records whose reference fields point at it (``referenced_by``),
        and stored links such as conversions (``converted_into`` / ``converted_from``).
        Only records and fields the caller may read are listed."""
        ent = self._entity(entity)
        current = self._fetch_for(ent, record_id, "read")
        found: list[tuple[str, str, int, str | None]] = []
        hidden_here = self.access.hidden_on(ent.key, current.owner_id)
        for key, f in ent.fields.items():
            value = current.values.get(key)
            if f.type.name == "reference" and value and key not in hidden_here:
                found.append(("reference", f.settings["target"], value, key))
        for other in self.model.entities.values():
            for f in other.fields.values():
                if f.type.name != "reference" or f.settings.get("target") != ent.key:
                    continue
                column = other.table.c[f"{f.key}_id"]
                query = select(other.table.c.id).where(column == record_id)
                # a referrer whose field is hidden from the caller does not show it
                visible = self.access.visible_clause(other.key, f.key, other.table)
                if visible is not None:
                    query = query.where(visible)
                ids = self.session.scalars(query)
                found.extend(("referenced_by", other.key, i, f.key) for i in ids)
        stored = self.session.scalars(
            select(RecordLink)
            .where(
                or_(
                    and_(RecordLink.from_entity == ent.key, RecordLink.from_id == record_id),
                    and_(RecordLink.to_entity == ent.key, RecordLink.to_id == record_id),
                )
            )
            .order_by(RecordLink.id)
        )
        for link in stored:
            if link.from_entity == ent.key and link.from_id == record_id:
                found.append((f"{link.kind}_into", link.to_entity, link.to_id, None))
            else:
                found.append((f"{link.kind}_from", link.from_entity, link.from_id, None))
        titles: dict[str, dict[int, str]] = {}
        for _kind, target, target_id, _field in found:
            titles.setdefault(target, {})[target_id] = ""
        for target, ids in titles.items():
            titles[target] = self.titles(target, ids)
        return [
            {
                "kind": kind,
                "entity": target,
                "id": target_id,
                "title": titles[target][target_id],
                "field": field,
            }
            for kind, target, target_id, field in found
            if target_id in titles.get(target, {})
        ]

    def stage_history(self, entity: str, record_id: int) -> list[StageVisit]:
        """The stages a record has been in, with who moved it in and out, oldest first."""
        self._fetch_for(self._entity(entity), record_id, "read")
        return list(
            self.session.scalars(
                select(StageVisit)
                .where(StageVisit.entity == entity, StageVisit.record_id == record_id)
                .order_by(StageVisit.id)
            )
        )

    # -- validation ------------------------------------------------------------------------

    def _load(
        self, ent: CompiledEntity, data: Mapping[str, Any], errors: Errors, owner_id: int | None
    ) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise BadRequest("Expected an object of field values.")
        known = {}
        hidden = self.access.hidden_on(ent.key, owner_id)
        read_only = self.access.read_only_fields(ent.key)
        for key, value in data.items():
            if key in hidden:
                errors.add(key, "Unknown field.")
            elif key in read_only:
                errors.add(key, "Read-only.")
            elif key in ent.fields:
                known[key] = value
            elif key in READ_ONLY_KEYS:
                errors.add(key, "Read-only.")
            elif key in ("pipeline", "stage"):
                errors.add(key, "Move the record to change its stage.")
            else:
                errors.add(key, "Unknown field.")
        try:
            loaded = ent.input_schema.load(known, partial=True)
        except ma.ValidationError as exc:
            for key, messages in _by_field(exc.messages).items():
                for message in messages:
                    errors.add(key, message)
            loaded = {k: v for k, v in (exc.valid_data or {}).items() if k not in errors}
        values = {k: ent.fields[k].type.normalise(ent.fields[k], v) for k, v in loaded.items()}
        for key in ent.side_tables:
            if values.get(key):
                # choices read back in the list's order; keep that order from the start
                options = self.model.option_lists[ent.fields[key].settings["list"]].options
                order = {k: o.position for k, o in options.items()}
                values[key] = tuple(sorted(values[key], key=lambda v: (order.get(v, 1 << 30), v)))
        return values

    def _check(
        self,
        ent: CompiledEntity,
        values: dict[str, Any],
        old: Mapping[str, Any],
        changed: list[str],
        record_id: int | None,
        pipeline: str | None,
        stage: str | None,
        errors: Errors,
        owner_id: int | None,
    ) -> None:
        resolve_user_values(self.session, ent, values, old, changed, errors)
        for key in changed:
            if key in errors:
                continue
            f = ent.fields[key]
            for message in f.type.value_errors(f, values[key], old.get(key), self.model):
                errors.add(key, message)
        self._check_references(ent, values, old, changed, errors)
        self._check_unique(ent, values, changed, record_id, errors)
        plain = {k: ent.fields[k].type.to_plain(ent.fields[k], v) for k, v in values.items()}
        # a rule about a field hidden from the caller is enforced, but its message names
        # neither the field nor the condition, and the refusal counts as a probe
        hidden = self.access.hidden_on(ent.key, owner_id)
        probed: set[str] = set()
        for key, message, names in rule_problems(ent, values, plain, pipeline, stage):
            if names & hidden:
                probed |= names & hidden
                key, message = _redacted(key, message, hidden)
            if key == RECORD_KEY and message in errors.get(key, []):
                continue
            if key not in errors or key == RECORD_KEY:
                errors.add(key, message)
        if probed and record_id is not None:
            # (a new record holds only defaults in the fields hidden from its creator: a
            # refusal tells nothing stored)
            self._probe(ent, record_id, probed)

    def _probe(self, ent: CompiledEntity, record_id: int | None, fields: Iterable[str]) -> None:
        """Note a refusal that depends on what the caller may not see (see access.probes)."""
        note_probe(
            self.session, Probe(self.actor.user_id, ent.key, record_id, tuple(sorted(fields)))
        )

    def _check_references(
        self,
        ent: CompiledEntity,
        values: Mapping[str, Any],
        old: Mapping[str, Any],
        changed: list[str],
        errors: Errors,
    ) -> None:
        for key in changed:
            f = ent.fields[key]
            value = values.get(key)
            if f.type.name != "reference" or value is None or key in errors:
                continue
            if value == old.get(key):
                continue
            target = self.model.entities.get(f.settings["target"])
            if target is None:
                errors.add(key, f"The target entity type {f.settings['target']!r} is archived.")
                continue
            # a record the caller may not read is as absent as one that does not exist
            query = select(target.table.c.id).where(target.table.c.id == value)
            scope = self.access.scope_clause("read", target.key, target.table)
            if scope is not None:
                query = query.where(scope)
            if self.session.scalar(query) is None:
                errors.add(key, f"No {target.label} with id {value}.")

    def _write_row(self, ent: CompiledEntity, statement: Any, row: Any = None) -> int:
        """Run an insert or update of a record row. Two writers can both pass
        :meth:`_check_unique` and race (PostgreSQL runs them side by side): the loser's unique
        violation is the same 422 as the check's, inside a savepoint, so the transaction
        (an import, say) goes on."""
        unique = [f for f in ent.fields.values() if f.unique]

        def run() -> int:  # the new id of an insert, the rows an update changed
            result = self.session.execute(statement, row)
            return result.scalar_one() if statement.is_insert else result.rowcount

        if not unique:
            return run()
        try:
            with self.session.begin_nested():
                return run()
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
                        raise ValidationFailed({f.key: [_taken(ent, f)]}) from None
                    raise ValidationFailed({f.key: [TAKEN_UNSEEN]}) from None
            raise

    def _check_unique(
        self,
        ent: CompiledEntity,
        values: Mapping[str, Any],
        changed: list[str],
        record_id: int | None,
        errors: Errors,
    ) -> None:
        for key in changed:
            f = ent.fields[key]
            value = values.get(key)
            if not f.unique or key in errors or f.type.is_empty(value):
                continue
            clause = f.type.filter_clause(f, ent.table, "eq", f.type.to_plain(f, value), self.model)
            query = select(ent.table.c.id, ent.table.c.owner_id).where(clause)
            if record_id is not None:
                query = query.where(ent.table.c.id != record_id)
            other = self.session.execute(query.limit(1)).first()
            if other is None:
                continue
            if self.access.allows("read", ent.key, other.owner_id) and key not in (
                self.access.hidden_on(ent.key, other.owner_id)
            ):
                errors.add(key, _taken(ent, f))
            else:
                # the value is taken on a record the caller may not see: refuse without
                # confirming it, and count the refusal as a probe
                errors.add(key, TAKEN_UNSEEN)
                self._probe(ent, record_id, [key])

    def _placement(
        self,
        ent: CompiledEntity,
        pipeline: str | None,
        stage: str | None,
        current_pipeline: str | None,
        current_stage: str | None,
        errors: Errors,
    ) -> tuple[str | None, str | None]:
        for name, value in (("pipeline", pipeline), ("stage", stage)):
            if value is not None and not isinstance(value, str):
                errors.add(name, "Expected a key (text).")
                return current_pipeline, current_stage
        if not ent.has_pipelines:
            if pipeline or stage:
                errors.add("stage", f"{ent.label_plural} have no stages.")
            return None, None
        chosen = ent.pipelines.get(pipeline) if pipeline else ent.default_pipeline()
        if chosen is None:
            errors.add(
                "pipeline", f"Unknown pipeline {pipeline!r} (use: {', '.join(ent.pipelines)})."
            )
            return current_pipeline, current_stage
        if stage is None:
            return chosen.key, chosen.first_stage().key
        if stage not in chosen.stages:
            errors.add("stage", f"Pipeline {chosen.label!r} has no stage {stage!r}.")
            return current_pipeline, current_stage
        return chosen.key, stage

    def _check_version(self, current: Record, version: Any) -> None:
        if isinstance(version, bool) or not isinstance(version, int):
            raise BadRequest("Send the version you read (an integer) to change a record.")
        if version != current.version:
            raise Conflict(
                f"{current.title!r} was changed by someone else (you read version {version}, "
                f"it is now at {current.version}). Nothing was written.",
                current={"version": current.version},
            )

    def _default(self, f: CompiledField) -> Any:
        if f.default is None:
            return f.type.empty_value
        return f.type.input_field(f, self.model).deserialize(f.default)

    # -- storage ---------------------------------------------------------------------------

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
        t = ent.table
        changed = self._write_row(
            ent,
            update(t)
            .where(t.c.id == current.id, t.c.version == current.version)
            .values(
                **row,
                pipeline=pipeline,
                stage=stage,
                version=current.version + 1,
                updated_at=now,
                updated_by=self.actor.user_id,
            ),
        )
        if changed != 1:
            raise Conflict(f"{current.title!r} was changed by someone else. Nothing was written.")
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
        record.title = self._title(ent, record)
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

    def _handle_referrers(self, ent: CompiledEntity, record_id: int) -> None:
        blockers: list[str] = []
        for other in self.model.entities.values():
            for f in other.fields.values():
                if f.type.name != "reference" or f.settings.get("target") != ent.key:
                    continue
                column = other.table.c[f"{f.key}_id"]
                rows = self.session.execute(
                    select(other.table.c.id, other.table.c.owner_id).where(column == record_id)
                ).all()
                if not rows:
                    continue
                ids = [row.id for row in rows]
                rule = f.settings.get("on_delete", "set_null")
                if rule == "restrict":
                    if not all(
                        self.access.allows("read", other.key, o)
                        and f.key not in self.access.hidden_on(other.key, o)
                        for _i, o in rows
                    ):
                        raise Conflict(UNTOUCHABLE)
                    blockers.append(f"{len(ids)} {other.label_plural} refer to it by {f.label}.")
                    continue
                if not all(self._may_clear(other, f.key, rule, o) for _i, o in rows):
                    raise Conflict(UNTOUCHABLE)
                if rule == "cascade":
                    for other_id in ids:
                        if other.key != ent.key or other_id != record_id:
                            self._delete(other, self._fetch(other, other_id))
                else:
                    for other_id in ids:
                        referrer = self._fetch(other, other_id)
                        self._store(
                            other,
                            referrer,
                            {**referrer.values, f.key: None},
                            "update",
                            referrer.pipeline,
                            referrer.stage,
                        )
        if blockers:
            raise Conflict("Cannot delete: " + " ".join(blockers))

    def _may_clear(self, other: CompiledEntity, key: str, rule: str, owner_id: int | None) -> bool:
        """Whether the caller may make a delete's change to a referrer owned by ``owner_id``:
        delete it (cascade), or empty its field ``key`` (set null)."""
        if rule == "cascade":
            return self.access.allows("delete", other.key, owner_id)
        closed = self.access.hidden_on(other.key, owner_id) | self.access.read_only_fields(
            other.key
        )
        return self.access.allows("update", other.key, owner_id) and key not in closed

    def _enter_stage(
        self, entity: str, record_id: int, pipeline: str, stage: str, now: datetime
    ) -> None:
        self.session.execute(
            insert(StageVisit.__table__).values(
                entity=entity,
                record_id=record_id,
                pipeline=pipeline,
                stage=stage,
                entered_at=now,
                entered_by=self.actor.user_id,
            )
        )

    def _leave_stage(self, entity: str, record_id: int, now: datetime) -> None:
        self.session.execute(
            update(StageVisit)
            .where(
                StageVisit.entity == entity,
                StageVisit.record_id == record_id,
                StageVisit.left_at.is_(None),
            )
            .values(left_at=now, left_by=self.actor.user_id)
        )

    def _audit(
        self,
        ent: CompiledEntity,
        record_id: int,
        action: str,
        changes: Mapping[str, tuple[Any, Any]],
        now: datetime,
    ) -> None:
        payload = {}
        for key, (old, new) in changes.items():
            f = ent.fields.get(key)
            if f is None:
                payload[key] = [old, new]
            else:
                payload[key] = [f.type.to_audit(f, old), f.type.to_audit(f, new)]
        # values as parameters, not in the statement: one cached statement for every row
        self.session.execute(
            AUDIT_INSERT,
            {
                "entity": ent.key,
                "record_id": record_id,
                "action": action,
                "at": now,
                "by": self.actor.user_id,
                "changes": payload,
            },
        )

    def _emit(
        self, kind: str, ent: CompiledEntity, record_id: int, changes: dict[str, Any]
    ) -> None:
        self.events.emit(self.session, RecordEvent(kind, ent.key, record_id, self.actor, changes))

    # -- reading rows ----------------------------------------------------------------------

    def _entity(self, key: str) -> CompiledEntity:
        ent = self.model.entity(key)
        if not self.access.can("read", ent.key) and not self.access.can("create", ent.key):
            raise NotFound(f"No entity type {key!r}.")
        return ent

    def _fetch_for(self, ent: CompiledEntity, record_id: int, action: str) -> Record:
        """The record if the caller may read it (else NotFound) and do ``action`` (else
        PermissionDenied)."""
        record = self._fetch(ent, record_id)
        if not self.access.allows("read", ent.key, record.owner_id):
            raise NotFound(f"No {ent.label} with id {record_id}.")
        if action != "read" and not self.access.allows(action, ent.key, record.owner_id):
            raise PermissionDenied(f"You may not {action} this {ent.label}.")
        return record

    def _visible(self, ent: CompiledEntity, record: Record) -> Record:
        hidden = self.access.hidden_on(ent.key, record.owner_id)
        if hidden:
            record.values = {k: v for k, v in record.values.items() if k not in hidden}
        return record

    def _fetch(self, ent: CompiledEntity, record_id: int) -> Record:
        if isinstance(record_id, bool) or not isinstance(record_id, int) or record_id >= 2**63:
            raise NotFound(f"No {ent.label} with id {record_id!r}.")
        row = (
            self.session.execute(select(ent.table).where(ent.table.c.id == record_id))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"No {ent.label} with id {record_id}.")
        return self._hydrate(ent, [row])[0]

    def _hydrate(self, ent: CompiledEntity, rows: Sequence[Mapping[str, Any]]) -> list[Record]:
        ids = [r["id"] for r in rows]
        sides = self._side_values(ent, ids)
        records = []
        for row in rows:
            values = {}
            for key, f in ent.fields.items():
                if key in ent.side_tables:
                    values[key] = sides[key].get(row["id"], ())
                else:
                    values[key] = f.type.from_row(f, row)
            record = Record(
                ent.key,
                row["id"],
                row["version"],
                values,
                as_utc(row["created_at"]),
                as_utc(row["updated_at"]),
                row["created_by"],
                row["updated_by"],
                row["owner_id"],
                row["pipeline"],
                row["stage"],
            )
            record.title = self._title(ent, record)
            records.append(record)
        return records

    def _side_values(
        self, ent: CompiledEntity, ids: list[int]
    ) -> dict[str, dict[int, tuple[str, ...]]]:
        found: dict[str, dict[int, tuple[str, ...]]] = {}
        for key, side in ent.side_tables.items():
            if key not in ent.fields:
                continue
            f = ent.fields[key]
            options = self.model.option_lists[f.settings["list"]].options
            chosen: dict[int, list[str]] = {}
            if ids:
                for record_id, value in self.session.execute(
                    select(side.c.record_id, side.c.value).where(side.c.record_id.in_(ids))
                ):
                    chosen.setdefault(record_id, []).append(value)
            order = {k: o.position for k, o in options.items()}
            found[key] = {
                rid: tuple(sorted(vals, key=lambda v: (order.get(v, 1 << 30), v)))
                for rid, vals in chosen.items()
            }
        return found

    def _title(self, ent: CompiledEntity, record: Record) -> str:
        # a title made of a field the caller may not see would show it: fall back instead
        hidden = self.access.hidden_on(ent.key, record.owner_id)
        if ent.title_keys and not hidden.intersection(ent.title_keys):
            texts = {
                k: ent.fields[k].type.display(ent.fields[k], record.values.get(k), self.model)
                if k in ent.fields
                else ""
                for k in ent.title_keys
            }
            title = " ".join(ent.title_template.format_map(texts).split())
            if title:
                return title
        return f"{ent.label} #{record.id}"


def _taken(ent: CompiledEntity, f: CompiledField) -> str:
    return f"Another {ent.label} has this {f.label} already."


def _by_field(messages: Any) -> dict[str, list[str]]:
    if not isinstance(messages, Mapping):
        return {RECORD_KEY: [str(messages)]}
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        if isinstance(value, Mapping):
            out[key] = input_messages(ma.ValidationError(value))
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        else:
            out[key] = [str(value)]
    return out


def _redacted(key: str, message: str, hidden: frozenset[str]) -> tuple[str, str]:
    """A rule problem reworded for a caller from whom some of its fields are hidden: no field
    they cannot see is named, no condition is echoed."""
    if key in hidden or key == RECORD_KEY:
        return RECORD_KEY, HIDDEN_RULE
    return key, "Required." if message.startswith("Required") else HIDDEN_RULE


def _differs(f: CompiledField, old: Any, new: Any) -> bool:
    if f.type.is_empty(old) and f.type.is_empty(new):
        return False
    return old != new
