"""What every flows operation works with: the session, who acts, and the record service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from trellis.accounts import Actor
from trellis.metamodel.compiled import CompiledModel
from trellis.records.service import RecordService


@dataclass
class FlowContext:
    """``records(actor)`` gives the record service in ``session``'s transaction: flows read
    and change records only through it. ``compiled()`` gives the metamodel (asked for only
    when needed: deciding a task does not read it)."""

    session: Session
    actor: Actor
    compiled: Callable[[], CompiledModel]
    records: Callable[[Actor], RecordService]

    @property
    def model(self) -> CompiledModel:
        return self.compiled()


def flow_actor(key: str) -> Actor:
    """Who a flow's outcome acts as (in the audit log: ``flow:<key>``)."""
    return Actor(None, f"flow:{key}", frozenset({"admin"}))
