"""Deadlines: stored with a due time, fired by workers with the clock passed in; with two
workers racing (threads, each its own session and connection) an escalation fires once."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from trellis.accounts import SYSTEM
from trellis.clock import utcnow
from trellis.flows.models import FlowInstance, FlowTask
from trellis.flows.timers import fire_due_timers
from trellis.flows.worker import Worker
from trellis.runtime import Runtime

ROUTE = {
    "steps": [
        {
            "id": "mgr",
            "label": "Manager",
            "approvers": {"users": ["ann"]},
            "deadline": "P2D",
            "escalate_to": {"user": "boss"},
        }
    ],
    "on_approved": {"stage": "won"},
}


def test_a_deadline_escalates_exactly_once_with_two_workers(flows, factory, settings) -> None:  # type: ignore[no-untyped-def]
    flows.flow("esc", ROUTE)
    deals = [factory.record("deal", name=f"D{i}").id for i in range(6)]
    started = [flows("start", "esc", "deal", d).id for d in deals]
    task = flows.open_tasks(started[0])[0]
    assert task["due_at"] is not None
    due = task["due_at"]
    assert timedelta(days=1, hours=23) < due - utcnow() <= timedelta(days=2)

    # not due yet: nothing happens
    with flows.runtime.transaction() as session:
        assert fire_due_timers(flows.runtime.flows(session, SYSTEM).context, utcnow()) == 0

    later = utcnow() + timedelta(days=3)
    barrier = threading.Barrier(2)
    fired: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        runtime = Runtime.from_settings(settings)  # its own engine, session and connection
        try:
            barrier.wait()
            fired.append(Worker(runtime, ["flow_timers"]).run_once(later)["flow_timers"])
        except BaseException as exc:
            errors.append(exc)
        finally:
            runtime.dispose()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(fired) in ([0, 6], [1, 5], [2, 4], [3, 3])  # the work was shared, not doubled
    with flows.runtime.transaction() as session:
        escalations = session.scalar(
            select(func.count()).select_from(FlowTask).where(FlowTask.activity == "mgr_escalation")
        )
        assert escalations == 6
        assert (
            session.scalar(select(func.count()).where(FlowInstance.next_due_at.is_not(None))) == 0
        )
    described = flows.describe(started[0])
    assert [(t["activity"], t["assignee"], t["status"]) for t in described["tasks"]] == [
        ("mgr", "ann", "cancelled"),
        ("mgr_escalation", "boss", "open"),
    ]
    # a third worker later finds nothing due
    with flows.runtime.transaction() as session:
        assert fire_due_timers(flows.runtime.flows(session, SYSTEM).context, later) == 0
    flows("complete", flows.task_of(started[0], "boss"), "approve", actor="boss")
    assert flows.describe(started[0])["outcome"] == "approved"
    assert factory.records("get", "deal", deals[0]).stage == "won"


def test_a_decision_before_the_deadline_clears_the_timer(flows, factory) -> None:  # type: ignore[no-untyped-def]
    flows.flow("esc", ROUTE)
    instance = flows("start", "esc", "deal", factory.record("deal", name="D").id).id
    flows("complete", flows.task_of(instance, "ann"), "approve", actor="ann")
    with flows.runtime.transaction() as session:
        ctx = flows.runtime.flows(session, SYSTEM).context
        assert fire_due_timers(ctx, utcnow() + timedelta(days=3)) == 0
    described = flows.describe(instance)
    assert described["outcome"] == "approved" and described["next_due_at"] is None
