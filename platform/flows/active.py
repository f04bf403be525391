"""What record events may set off, cached: the live triggered flows and the active
automations of each entity type.

Every record event asks for them, so they are kept per process (:class:`ActiveTriggers`, one
per runtime) and keyed by a stamp in the database (``flow_state.stamp``, as the compiled
metamodel is keyed by ``meta_state.stamp``): every change of a flow or an automation moves
the stamp (:func:`touch`, after the change is flushed), so the change shows at once in the
transaction that made it and, after it commits, in every process on its next transaction. A
transaction reads the stamp once, in the statement that reads the metamodel stamp (which
every record write reads first: :meth:`MetamodelCache.read_along`), or on its own when the
transaction has not read that one (or changed flows since); record events after that cost no
query. A stamp (not a counter) is compared, so a rolled-back change is never mistaken for a
committed one.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from trellis.db import Base
from trellis.metamodel.model_cache import MetamodelCache, forget_read_along, read_along

#: ``session.info`` key: the triggers this transaction has read
_READ = "trellis.active_triggers"
#: the name of the flows' stamp read along with the metamodel stamp
_ALONG = "flow_state"


class FlowState(Base):
    """One row: a stamp moved by every change of flows and automations."""

    __tablename__ = "flow_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    stamp: Mapped[str] = mapped_column(String(32), default="")


@dataclass(frozen=True)
class FlowTrigger:
    """A live flow that a record event may start (``trigger``: create, stage or field)."""

    id: int
    key: str
    trigger: str
    stage: str | None
    field: str | None
    when: str | None
    live_version_id: int


@dataclass(frozen=True)
class AutomationTrigger:
    """An active automation: trigger, condition and actions."""

    key: str
    label: str
    trigger: str
    stage: str | None
    field: str | None
    condition: str | None
    actions: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Triggers:
    flows: dict[str, tuple[FlowTrigger, ...]]
    automations: dict[str, tuple[AutomationTrigger, ...]]


def touch(session: Session) -> None:
    """Move the stamp: call after a change of flows or automations is flushed."""
    stamp = uuid.uuid4().hex
    table = FlowState.__table__
    if session.execute(update(table).where(table.c.id == 1).values(stamp=stamp)).rowcount == 0:
        session.execute(insert(table).values(id=1, stamp=stamp))
    session.info.pop(_READ, None)
    forget_read_along(session, _ALONG)


def _load(session: Session) -> Triggers:
    from trellis.flows.automations import Automation
    from trellis.flows.models import Flow

    flows: dict[str, list[FlowTrigger]] = {}
    rows = session.execute(
        select(
            Flow.entity,
            Flow.id,
            Flow.key,
            Flow.trigger,
            Flow.trigger_stage,
            Flow.trigger_field,
            Flow.when,
            Flow.live_version_id,
        )
        .where(Flow.trigger != "manual", Flow.live_version_id.is_not(None))
        .order_by(Flow.id)
    )
    for entity, *values in rows:
        flows.setdefault(entity, []).append(FlowTrigger(*values))
    automations: dict[str, list[AutomationTrigger]] = {}
    for row in session.scalars(
        select(Automation).where(Automation.active.is_(True)).order_by(Automation.id)
    ):
        automations.setdefault(row.entity, []).append(
            AutomationTrigger(
                row.key,
                row.label,
                row.trigger,
                row.stage,
                row.field,
                row.condition,
                tuple(dict(a) for a in row.actions or ()),
            )
        )
    return Triggers(
        {k: tuple(v) for k, v in flows.items()}, {k: tuple(v) for k, v in automations.items()}
    )


class ActiveTriggers:
    """The triggers by stamp, one per runtime; safe to share between threads."""

    def __init__(self, metamodel: MetamodelCache | None = None) -> None:
        """With ``metamodel``, the stamp is read along with the metamodel's stamp."""
        if metamodel is not None:
            table = FlowState.__table__
            stamp = select(table.c.stamp).where(table.c.id == 1).scalar_subquery()
            metamodel.read_along(_ALONG, stamp)
        self._lock = threading.Lock()
        self._stamp: str | None = None
        self._triggers: Triggers | None = None
        self.loads = 0
        """how many times the triggers were read from the database (tests count them)"""

    def get(self, session: Session) -> Triggers:
        """The triggers as ``session``'s transaction sees them (the stamp read once in it)."""
        transaction = session.get_transaction()
        read = session.info.get(_READ)
        if read is not None and read[0] is transaction:
            return read[1]
        stamp = read_along(session, _ALONG)
        if stamp is None:
            stamp = session.scalar(select(FlowState.stamp).where(FlowState.id == 1))
        stamp = stamp or ""
        with self._lock:
            triggers = self._triggers if stamp == self._stamp else None
        if triggers is None:
            triggers = _load(session)
            with self._lock:
                self._stamp, self._triggers = stamp, triggers
                self.loads += 1
        session.info[_READ] = (transaction, triggers)
        return triggers

    def flows(self, session: Session, entity: str) -> tuple[FlowTrigger, ...]:
        return self.get(session).flows.get(entity, ())

    def automations(self, session: Session, entity: str) -> tuple[AutomationTrigger, ...]:
        return self.get(session).automations.get(entity, ())
