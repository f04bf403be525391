"""``EventBus.emit_many``: a batch's events reach the handlers as one ``emit`` per event
would, in the same order (each event to every handler before the next event); a handler
whose ``concerns`` says it has nothing to do with the batch's kind and entity type is left
out, asked once for the batch."""

from __future__ import annotations

from typing import Any

from trellis.accounts import SYSTEM
from trellis.records.events import EventBus, RecordEvent


def test_a_batch_reaches_the_handlers_as_one_emit_per_event() -> None:
    bus, seen, asked = EventBus(), [], []

    def handler(name: str) -> Any:
        return lambda _session, event: seen.append((name, event.record_id))

    def concerns(answer: bool) -> Any:
        def ask(_session: Any, kind: str, entity: str) -> bool:
            asked.append((kind, entity))
            return answer

        return ask

    bus.subscribe("created", handler("own"))
    bus.subscribe("*", handler("any"), concerns(True))
    bus.subscribe("*", handler("none"), concerns(False))
    bus.subscribe("updated", handler("other kind"))
    events = [RecordEvent("created", "deal", n, SYSTEM) for n in (1, 2, 3)]
    bus.emit_many(None, "created", "deal", events)  # type: ignore[arg-type]
    assert seen == [("own", 1), ("any", 1), ("own", 2), ("any", 2), ("own", 3), ("any", 3)]
    assert asked == [("created", "deal"), ("created", "deal")]  # once per concerned handler
    seen.clear()
    for event in events:
        bus.emit(None, event)  # type: ignore[arg-type]
    assert [s for s in seen if s[0] != "none"] == [
        ("own", 1), ("any", 1), ("own", 2), ("any", 2), ("own", 3), ("any", 3)
    ]  # fmt: skip
    assert ("none", 1) in seen  # (emit asks no handler: each is called)
    asked.clear()
    bus.emit_many(None, "created", "deal", [])  # type: ignore[arg-type]
    assert asked == []
