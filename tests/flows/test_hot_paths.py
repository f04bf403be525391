"""The hot paths of flows (issue 13): what record events may start is read once per process
and kept by stamp (a published flow or a changed automation shows at once in the process
that made it and, through the stamp, in every other); the menu's task count is one COUNT;
an idle timer job only reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from trigger_world import ONE, new_deals, publish_on_create, started, statements

from trellis.clock import utcnow
from trellis.flows.automations import save_automation
from trellis.flows.timers import run_due_timers
from trellis.runtime import Runtime


def reads(seen: list[str], table: str) -> list[str]:
    return [s for s in seen if f"from {table} " in f"{s} "]


def stamp_alone(seen: list[str]) -> list[str]:
    """Statements that read the flows' stamp on their own (not with the metamodel's)."""
    return [s for s in reads(seen, "flow_state") if "from meta_state" not in s]


@pytest.fixture
def other(settings) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    """Another process: its own engine and caches on the same database."""
    runtime = Runtime.from_settings(settings)
    yield runtime
    runtime.dispose()


def test_record_events_read_no_flow_or_automation_table_once_cached(flows, other) -> None:  # type: ignore[no-untyped-def]
    flows.flow("made", ONE, {"on": "create", "when": "amount > 1000"})
    new_deals(other, "warm up")
    with statements(other) as seen:
        new_deals(other, "a", "b", "c", "d", "e")
    # the stamp, once per transaction, read along with the metamodel's (no statement of its own)
    assert stamp_alone(seen) == []
    assert reads(seen, "flow") == [] and reads(seen, "automation") == []
    with statements(other) as seen:
        new_deals(other, "f")
        new_deals(other, "g")
    assert stamp_alone(seen) == []
    assert reads(seen, "flow") == [] and reads(seen, "automation") == []


def test_a_published_flow_triggers_at_once_here_and_after_the_stamp_moves_elsewhere(  # type: ignore[no-untyped-def]
    flows, runtime, other
) -> None:
    # both processes have read the triggers (none yet)
    assert started(runtime, new_deals(runtime, "here")[0]) == []
    assert started(other, new_deals(other, "there")[0]) == []
    loads = other.triggers.loads

    flows.flow("on_create", ONE, {"on": "create"})
    assert started(runtime, new_deals(runtime, "here")[0]) == ["on_create"]
    assert started(other, new_deals(other, "there")[0]) == ["on_create"]
    assert other.triggers.loads == loads + 1
    new_deals(other, "again")
    assert other.triggers.loads == loads + 1  # the stamp did not move: nothing reread

    # published and used in one transaction: the same transaction sees it
    with runtime.transaction() as session:
        publish_on_create(runtime, session, "second")
        deal = runtime.records(session).create("deal", {"name": "same", "amount": 1}).id
    assert started(runtime, deal) == ["on_create", "second"]

    # a trigger changed to manual stops starting, in the other process too
    flows("update_flow", "on_create", {"trigger": {"on": "manual"}})
    assert started(other, new_deals(other, "manual now")[0]) == ["second"]


def test_an_automation_change_reaches_the_other_process(flows, runtime, other) -> None:  # type: ignore[no-untyped-def]
    def description(rt: Runtime, deal: int) -> object:
        with rt.transaction() as session:
            return rt.records(session).get("deal", deal).values.get("name")

    new_deals(other, "warm up")
    automation = {
        "entity": "deal",
        "trigger": {"on": "create"},
        "actions": [{"type": "set_fields", "values": {"name": "renamed"}}],
    }
    with runtime.transaction() as session:
        save_automation(session, runtime.model(session), "rename", automation, create=True)
    assert description(other, new_deals(other, "x")[0]) == "renamed"
    with runtime.transaction() as session:
        off = {**automation, "active": False}
        save_automation(session, runtime.model(session), "rename", off, create=False)
    assert description(other, new_deals(other, "kept")[0]) == "kept"


def test_a_rolled_back_change_is_not_kept_by_the_cache(flows, runtime) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError), runtime.transaction() as session:
        publish_on_create(runtime, session, "gone")
        runtime.records(session).create("deal", {"name": "in", "amount": 1})
        raise RuntimeError("roll back")
    assert started(runtime, new_deals(runtime, "after")[0]) == []


def test_the_menu_count_is_one_count_of_the_tasks_listed(flows, runtime, actors) -> None:  # type: ignore[no-untyped-def]
    mine = {"steps": [{"id": "s", "label": "Approve", "approvers": {"users": ["bob"]}}]}
    role = {"steps": [{"id": "s", "label": "Approve", "approvers": {"role": "manager"}}]}
    flows.flow("to_bob", mine)
    flows.flow("to_managers", role)
    deals = new_deals(runtime, "a", "b", "c")
    for deal in deals:
        flows("start", "to_bob", "deal", deal)
    flows("start", "to_managers", "deal", deals[0])  # ann is a manager
    today = date.today()
    flows("add_substitute", "sub", today, today + timedelta(days=2), actor="bob")
    expected = {"bob": 3, "ann": 1, "sub": 3, "cy": 0}
    for name, count in expected.items():
        with runtime.transaction() as session:
            service = runtime.flows(session, actors[name])
            with statements(runtime) as seen:
                assert service.open_task_count() == count
            assert len(service.my_tasks()) == count
        queries = [s for s in seen if s.startswith(("select", "insert", "update", "delete"))]
        assert len(queries) == 1 and "count(" in queries[0], seen
    tomorrow = today + timedelta(days=3)  # the substitution is over
    with runtime.transaction() as session:
        assert runtime.flows(session, actors["sub"]).open_task_count(tomorrow) == 0


def test_an_idle_timer_job_only_reads(flows, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    route = {
        "steps": [
            {
                "id": "s",
                "label": "Approve",
                "approvers": {"users": ["ann"]},
                "deadline": "PT1H",
                "escalate_to": "boss",
            }
        ]
    }
    flows.flow("timed", route)
    flows("start", "timed", "deal", new_deals(runtime, "a")[0])
    opened: list[bool] = []
    transaction = runtime.transaction

    def spy(read_only=None, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(bool(read_only))
        return transaction(read_only, **kwargs)

    monkeypatch.setattr(runtime, "transaction", spy)
    assert run_due_timers(runtime, utcnow()) == 0  # nothing due yet
    assert opened == [True]
    opened.clear()
    assert run_due_timers(runtime, utcnow() + timedelta(hours=2)) == 1
    assert opened == [True, False]  # a read found it, a write fired it


def test_a_stale_step_writes_nothing_of_its_own(flows, runtime, actors) -> None:  # type: ignore[no-untyped-def]
    """The step's writes go together (one statement on PostgreSQL): when its rev check
    fails, neither its task rows nor its decision are written."""
    from sqlalchemy import func, select

    from trellis.errors import Conflict
    from trellis.flows.instance_rows import load
    from trellis.flows.instances import step
    from trellis.flows.models import FlowDecision, FlowTask

    two = {
        "steps": [
            {"id": "a", "label": "A", "approvers": {"users": ["ann"]}},
            {"id": "b", "label": "B", "approvers": {"users": ["bob"]}},
        ]
    }
    flows.flow("two", two)
    instance = flows("start", "two", "deal", new_deals(runtime, "d")[0]).id
    task = flows.task_of(instance, "ann")

    def rows() -> tuple[int, int]:
        with runtime.transaction() as session:
            tasks = select(func.count()).where(FlowTask.instance_id == instance)
            decisions = select(func.count()).where(FlowDecision.instance_id == instance)
            return session.scalar(tasks), session.scalar(decisions)

    with runtime.transaction() as session:
        stale = load(runtime.flows(session).context, instance)
    flows("complete", task, "approve", actor="ann")
    assert rows() == (2, 1)
    now = utcnow()
    with runtime.transaction() as session:
        ctx = runtime.flows(session, actors["ann"]).context
        spiff = session.get(FlowTask, task).spiff_id
        decision = {
            "task_id": task,
            "instance_id": instance,
            "user_id": actors["ann"].user_id,
            "on_behalf_of": None,
            "decision": "approve",
            "comment": "again",
            "at": now,
        }
        with pytest.raises(Conflict):
            step(
                ctx,
                stale,
                lambda process: process.decide(spiff, "approve"),
                now,
                decided=(task, spiff),
                decision=decision,
            )
    assert rows() == (2, 1)
    assert [t["label"] for t in flows.open_tasks(instance)] == ["B"]
