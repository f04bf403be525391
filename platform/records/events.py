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


class EventBus:
    """Subscribers by event kind (``"*"`` for all)."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        #: the handlers each kind runs (its own, then the catch-all ones), worked out on the
        #: first event of the kind after a subscription
        self._runs: dict[str, tuple[Handler, ...]] = {}

    def subscribe(self, kind: str, handler: Handler) -> None:
        """Call ``handler(session, event)`` for every event of ``kind``."""
        if kind != "*" and kind not in EVENT_KINDS:
            raise ValueError(f"Unknown event kind {kind!r}")
        self._handlers[kind].append(handler)
        self._runs = {}

    def emit(self, session: Session, event: RecordEvent) -> None:
        """Run the handlers of ``event.kind`` and the catch-all ones, in subscription order."""
        handlers = self._runs.get(event.kind)
        if handlers is None:
            handlers = (*self._handlers.get(event.kind, ()), *self._handlers.get("*", ()))
            self._runs[event.kind] = handlers
        for handler in handlers:
            handler(session, event)
