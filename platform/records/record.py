"""What the record service hands out (:class:`Record`, :class:`Page`) and the state its parts
share (:class:`RecordParts`): the record service is split by concern into checks, writing,
referrers and reading, each a part of :class:`trellis.records.service.RecordService`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from trellis.access.policy import Access, load_access
from trellis.accounts import Actor
from trellis.errors import ValidationFailed
from trellis.metamodel.compiled import CompiledModel
from trellis.records.events import EventBus

#: ``session.info`` key: records known to exist in this transaction, ``{(entity, id): owner
#: id}`` (a conversion's new and linked targets, while it runs): a reference to one is
#: checked against the read scope without reading the record back. Any delete forgets them
#: all (a cascade may reach any of them).
KNOWN_RECORDS = "trellis.known_records"
#: ``session.info`` key: how many times the record service changed or deleted record rows in
#: the session (see :func:`record_writes`)
RECORD_WRITES = "trellis.record_writes"


def record_writes(session: Session) -> int:
    """A count that moves whenever the record service updates or deletes a record row in
    ``session`` (inserts do not move it): equal counts mean no record changed in between."""
    return session.info.get(RECORD_WRITES, 0)  # type: ignore[no-any-return]


def note_record_write(session: Session) -> None:
    session.info[RECORD_WRITES] = record_writes(session) + 1


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
class NewRecord:
    """One record for :meth:`RecordService.create_many`: its input values, and (as for
    ``create``) its pipeline and stage (default: the first pipeline's first stage) and owner
    (default: the caller)."""

    data: Mapping[str, Any]
    pipeline: str | None = None
    stage: str | None = None
    owner_id: int | None = None


@dataclass
class Checked:
    """A new record that passed every check: its values (defaults filled in), its stage and
    owner, ready to insert."""

    values: dict[str, Any]
    pipeline: str | None
    stage: str | None
    owner_id: int | None


class RowsInvalid(ValidationFailed):
    """Some records of a batch have problems (nothing was written): ``rows`` maps the index of
    each such record in the batch to its problems by field, as ``create`` reports them."""

    def __init__(self, rows: Mapping[int, Mapping[str, Any]], total: int) -> None:
        self.rows = {index: dict(problems) for index, problems in rows.items()}
        super().__init__(
            {str(index): problems for index, problems in self.rows.items()},
            f"{len(self.rows)} of {total} records have problems; nothing was written.",
        )


class RecordParts:
    """The session, compiled model, actor, events bus and access every part works with."""

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
