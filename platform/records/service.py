"""The record service: the only writer of records.

Every write validates types, settings, options, references, uniqueness, required rules, stage
rules and validation rules and reports every problem at once; keeps created/updated by and
at, an owner and a version number (a stale write is refused, never merged); writes the audit
log and the stage history; and announces what happened on the events seam. It takes a session
and never commits: the caller owns the transaction.

:class:`RecordService` is the one entry; its parts live beside it by concern: ``checks``
(validation), ``writing`` (statements, audit, stage visits, events), ``referrers`` (deletes
and links) and ``reading`` (records, lists, history).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import func, select, update

from trellis.clock import utcnow
from trellis.collector import collector_paused
from trellis.errors import BadRequest, PermissionDenied, StaleWrite
from trellis.metamodel.changes import Errors
from trellis.metamodel.compiled import CompiledEntity
from trellis.records.checks import (
    HIDDEN_RULE,
    READ_ONLY_KEYS,
    TAKEN_UNSEEN,
    Checks,
    LoadedNew,
    NewBatch,
)
from trellis.records.paging import COUNT_CAP
from trellis.records.reading import PAGE_TOTAL, Reading
from trellis.records.record import (
    Checked,
    NewRecord,
    Page,
    Record,
    RowsInvalid,
    note_record_write,
)
from trellis.records.referrers import UNTOUCHABLE, Referrers
from trellis.records.stage_rules import move_problem
from trellis.records.unique_batch import StoredHolders
from trellis.records.validation import RECORD_KEY
from trellis.records.writing import Writing

__all__ = [
    "HIDDEN_RULE",
    "READ_ONLY_KEYS",
    "TAKEN_UNSEEN",
    "UNTOUCHABLE",
    "NewRecord",
    "Page",
    "Record",
    "RecordService",
    "RowsInvalid",
]


class RecordService(Reading, Referrers, Writing, Checks):
    """Create, read, update, delete, list and move records of any entity type."""

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
        ent = self._creatable(entity)
        errors = Errors()
        new = self._checked_new(ent, NewRecord(data, pipeline, stage, owner_id), errors, by_flow)
        errors.raise_if_any()
        return self._visible(ent, self._insert(ent, [new])[0])

    def create_many(
        self,
        entity: str,
        records: Iterable[Mapping[str, Any] | NewRecord],
        *,
        pipeline: str | None = None,
        stage: str | None = None,
        owner_id: int | None = None,
        by_flow: str | None = None,
    ) -> list[Record]:
        """Create records as many ``create`` calls would (the same checks, messages, rows,
        audit rows, stage visits and events, in order), in one INSERT per table. Each item is
        the input of one record, or a :class:`NewRecord` with its own placement and owner
        (the keywords are the default of the others). Every problem of every record is
        checked first: any problem is a :class:`RowsInvalid` naming each record by its index,
        and nothing is written. Two records of the batch with the same unique value: the
        later one is refused, as it would be after the earlier one was created."""
        ent = self._creatable(entity)
        with collector_paused():  # (a batch's objects: see trellis.collector)
            return self._create_batch(ent, records, (pipeline, stage, owner_id), by_flow)

    def _create_batch(
        self,
        ent: CompiledEntity,
        records: Iterable[Mapping[str, Any] | NewRecord],
        placement: tuple[str | None, str | None, int | None],
        by_flow: str | None,
    ) -> list[Record]:
        """:meth:`create_many` of ``records`` (``placement``: the default pipeline, stage
        and owner)."""
        news = [
            item if isinstance(item, NewRecord) else NewRecord(item, *placement) for item in records
        ]
        # the values loaded column by column first (those of a record with a problem: None)
        datas = [new.data for new in news]
        if len(news) > 1 and all(isinstance(data, Mapping) for data in datas):
            preloaded = ent.input_loader.load_new_many(datas, self.model)
        else:
            preloaded = [None] * len(news)

        shared = NewBatch()

        def load_each() -> Iterator[tuple[Errors, LoadedNew | None]]:
            for new, values in zip(news, preloaded, strict=True):
                errors = Errors()
                try:
                    yield errors, self._loaded_new(ent, new, errors, by_flow, values, shared)
                except BadRequest as exc:  # not an object of values at all
                    errors.add(RECORD_KEY, exc.detail)
                    yield errors, None

        loaded: Iterable[tuple[Errors, LoadedNew | None]] = load_each()
        holders = None
        if ent.value_hooks.unique:
            # every record loaded first, to look up their unique values together; else
            # each is loaded as it is checked (none kept longer than it needs to be)
            loaded = list(loaded)
            holders = self._stored_holders(ent, loaded)
        checked: list[Checked] = []
        problems: dict[int, Errors] = {}
        taken_in_batch: dict[tuple[str, Any], int | None] = {}
        total = 0
        for index, (errors, record) in enumerate(loaded):
            total += 1
            if record is not None:
                try:
                    self._check_new(ent, record, errors, holders)
                except BadRequest as exc:
                    errors.add(RECORD_KEY, exc.detail)
                else:
                    if ent.value_hooks.unique:
                        self._check_unique_in_batch(ent, record.ready, taken_in_batch, errors)
            if errors or record is None:  # (no record loaded: a problem in ``errors``)
                problems[index] = errors
            else:
                checked.append(record.ready)
        if problems:
            raise RowsInvalid(problems, total)
        return [self._visible(ent, record) for record in self._insert(ent, checked)]

    def _stored_holders(
        self, ent: CompiledEntity, loaded: list[tuple[Errors, LoadedNew | None]]
    ) -> StoredHolders:
        """The stored holders of the unique values of a batch's loaded records: one
        statement per unique field, where :meth:`_check` would ask for each record's."""
        holders = StoredHolders()
        holders.look_up(self.session, ent, (r.ready.values for _, r in loaded if r))
        return holders

    def _creatable(self, entity: str) -> CompiledEntity:
        ent = self._entity(entity)
        if not self.access.can("create", ent.key):
            raise PermissionDenied(f"You may not create {ent.label_plural}.")
        return ent

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
        return self._move(ent, current, stage, pipeline, values, version, by_flow)

    def move_stage_of(
        self, current: Record, stage: str, *, values: Mapping[str, Any] | None = None
    ) -> Record:
        """:meth:`move_stage` of a record read in this transaction (with every field, by
        :meth:`_fetch_for` for "update", no record written in the session since), without
        reading it again. A concurrent writer that changed it since (PostgreSQL) makes it read
        afresh and move as :meth:`move_stage` does."""
        ent = self._entity(current.entity)
        if not ent.has_pipelines:
            raise BadRequest(f"{ent.label_plural} have no stages.")
        try:
            return self._move(ent, current, stage, None, values, None, None)
        except StaleWrite as exc:
            # only this move's own UPDATE (nothing was written): anything else goes on up
            if (exc.entity, exc.record_id, exc.version) != (ent.key, current.id, current.version):
                raise
        return self.move_stage(current.entity, current.id, stage, values=values)

    def _move(
        self,
        ent: CompiledEntity,
        current: Record,
        stage: str,
        pipeline: str | None,
        values: Mapping[str, Any] | None,
        version: int | None,
        by_flow: str | None,
    ) -> Record:
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
            note_record_write(self.session)
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

    def _total(  # here, not in reading.py: COUNT_CAP is read from this module
        self,
        ent: CompiledEntity,
        conditions: Callable[[], list[Any]],
        offset: int | None,
        shown: int,
        more: bool,
        exact: bool,
        counted: int | None = None,
    ) -> tuple[int, bool]:
        """How many records match (``conditions()`` makes their WHERE), and whether that is
        only a lower bound: counted up to COUNT_CAP (or past the page asked for), exactly when
        asked; not counted at all when the page read the last of them. ``counted`` is the
        capped count when the page's own statement brought it (see :meth:`_capped_count`)."""
        if offset is not None and not more and (shown or not offset):
            return offset + shown, False
        if exact:
            matching = select(ent.table.c.id).where(*conditions())
            return self.session.scalar(select(func.count()).select_from(matching.subquery())), False
        cap = max(COUNT_CAP, (offset or 0) + shown)
        if counted is None:
            matching = select(ent.table.c.id).where(*conditions())
            capped = matching.limit(cap + 1).subquery()
            counted = self.session.scalar(select(func.count()).select_from(capped)) or 0
        return (cap, True) if counted > cap else (counted, False)

    @staticmethod
    def _count_cap(offset: int, per_page: int) -> int:
        """The cap of a count that comes with a page (see :meth:`_capped_count`): at least the
        one ``_total`` uses, which depends on the rows the page shows. A count capped higher
        tells the same, whether more than ``_total``'s cap match and if not how many."""
        return max(COUNT_CAP, offset + per_page)

    def _capped_count(self, ent: CompiledEntity, conditions: list[Any], limit: Any) -> Any:
        """The count of the records matching ``conditions``, up to ``limit`` (the cap + 1),
        as a column of the page's own statement (one statement, one round trip less; the
        database computes it once); ``limit`` may be a bound parameter."""
        matching = select(ent.table.c.id).where(*conditions).limit(limit).subquery()
        return (select(func.count()).select_from(matching).correlate(None).scalar_subquery()).label(
            PAGE_TOTAL
        )
