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


def test_listening_names_the_handlers_a_batch_runs_and_emit_many_takes_them() -> None:
    bus, seen, asked = EventBus(), [], []

    def concerns(answer: bool) -> Any:
        def ask(_session: Any, kind: str, entity: str) -> bool:
            asked.append((kind, entity))
            return answer

        return ask

    def own(_session: Any, event: RecordEvent) -> None:
        seen.append(("own", event.record_id))

    def concerned(_session: Any, event: RecordEvent) -> None:
        seen.append(("concerned", event.record_id))

    bus.subscribe("created", own)
    bus.subscribe("*", concerned, concerns(True))
    bus.subscribe("*", lambda _s, _e: seen.append(("none", 0)), concerns(False))
    assert bus.listening(None, "created", "deal") == [own, concerned]  # type: ignore[arg-type]
    assert bus.listening(None, "updated", "deal") == [concerned]  # type: ignore[arg-type]
    asked.clear()
    events = [RecordEvent("created", "deal", n, SYSTEM) for n in (1, 2)]
    bus.emit_many(None, "created", "deal", events, [concerned])  # type: ignore[arg-type]
    assert seen == [("concerned", 1), ("concerned", 2)]
    assert asked == []  # (the handlers given: no concerns asked again)
