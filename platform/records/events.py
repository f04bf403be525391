"""The events seam: the record service announces what happened, inside the transaction.

Flows, automations, search indexing and webhooks subscribe here; nothing else reaches into
the record service. Handlers run synchronously with the same session, after validation, so
their writes commit or roll back with the change that caused them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from trellis.accounts import Actor

EVENT_KINDS = ("created", "updated", "stage_changed", "deleted", "converted")


@dataclass(frozen=True)
class RecordEvent:
    """Something that happened to a record. ``changes`` maps field -> (old, new)."""

    kind: str
    entity: str
    record_id: int
    actor: Actor
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


Handler = Callable[[Session, RecordEvent], None]
#: whether a handler has anything to do with events of a kind about an entity type:
#: ``(session, kind, entity) -> bool`` (see :meth:`EventBus.emit_many`)
Concern = Callable[[Session, str, str], bool]


class EventBus:
    """Subscribers by event kind (``"*"`` for all)."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[tuple[Handler, Concern | None]]] = defaultdict(list)
        #: the handlers each kind runs (its own, then the catch-all ones), worked out on the
        #: first event of the kind after a subscription
        self._runs: dict[str, tuple[tuple[Handler, Concern | None], ...]] = {}

    def subscribe(self, kind: str, handler: Handler, concerns: Concern | None = None) -> None:
        """Call ``handler(session, event)`` for every event of ``kind``. ``concerns``: a
        quick test of whether the handler has anything to do with the events of a kind
        about an entity type, asked once for a batch of them (:meth:`emit_many`); a handler
        without one is called for every event."""
        if kind != "*" and kind not in EVENT_KINDS:
            raise ValueError(f"Unknown event kind {kind!r}")
        self._handlers[kind].append((handler, concerns))
        self._runs = {}

    def emit(self, session: Session, event: RecordEvent) -> None:
        """Run the handlers of ``event.kind`` and the catch-all ones, in subscription order."""
        for handler, _concerns in self._of(event.kind):
            handler(session, event)

    def emit_many(
        self,
        session: Session,
        kind: str,
        entity: str,
        events: list[RecordEvent],
        handlers: list[Handler] | None = None,
    ) -> None:
        """:meth:`emit` each of ``events`` (all of ``kind``, about ``entity``) in turn, the
        handlers that have nothing to do with them (by their ``concerns``) left out;
        ``handlers``: those of :meth:`listening`, asked already."""
        if not events:
            return
        if handlers is None:
            handlers = self.listening(session, kind, entity)
        for event in events:
            for handler in handlers:
                handler(session, event)

    def listening(self, session: Session, kind: str, entity: str) -> list[Handler]:
        """The handlers :meth:`emit_many` runs for events of ``kind`` about ``entity``, in
        subscription order: none, and a writer need not make the events at all."""
        return [
            handler
            for handler, concerns in self._of(kind)
            if concerns is None or concerns(session, kind, entity)
        ]

    def _of(self, kind: str) -> tuple[tuple[Handler, Concern | None], ...]:
        handlers = self._runs.get(kind)
        if handlers is None:
            handlers = (*self._handlers.get(kind, ()), *self._handlers.get("*", ()))
            self._runs[kind] = handlers
        return handlers
