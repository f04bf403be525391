"""Deadlines: stored with a due time, fired by workers with the clock passed in; with two
workers racing (threads, each its own session and connection) an escalation fires once."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from trellis.accounts import SYSTEM
from trellis.clock import utcnow
from trellis.flows.models import FlowDecision, FlowInstance, FlowTask
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


AUTOMATIC = {
    "steps": [
        {
            "id": "mgr",
            "label": "Manager",
            "approvers": {"users": ["ann", "bob"]},
            "deadline": "P2D",
            "on_deadline": "approve",
        }
    ],
    "on_approved": {"stage": "won"},
    "on_rejected": {"stage": "lost"},
}


def race(settings, later, workers: int = 2) -> list[int]:  # type: ignore[no-untyped-def]
    """``workers`` workers (each its own engine and connection) run one round at ``later``
    at the same moment; the work each did."""
    barrier = threading.Barrier(workers)
    fired: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        runtime = Runtime.from_settings(settings)
        try:
            barrier.wait()
            fired.append(Worker(runtime, ["flow_timers"]).run_once(later)["flow_timers"])
        except BaseException as exc:
            errors.append(exc)
        finally:
            runtime.dispose()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return fired


def test_a_deadline_decides_automatically_exactly_once_with_two_workers(
    flows, factory, settings
) -> None:  # type: ignore[no-untyped-def]
    flows.flow("auto", AUTOMATIC)
    deals = [factory.record("deal", name=f"D{i}").id for i in range(6)]
    started = [flows("start", "auto", "deal", d).id for d in deals]
    # one approver decided in time on the first deal; the deadline decides the rest
    flows("complete", flows.task_of(started[0], "ann"), "approve", actor="ann")
    with flows.runtime.transaction() as session:
        assert fire_due_timers(flows.runtime.flows(session, SYSTEM).context, utcnow()) == 0
    assert sum(race(settings, utcnow() + timedelta(days=3))) == 6
    for instance, deal in zip(started, deals, strict=True):
        described = flows.describe(instance)
        assert (described["status"], described["outcome"]) == ("completed", "approved")
        assert flows.open_tasks(instance) == []
        automatic = [d for d in described["decisions"] if d["user"] is None]
        assert [(d["decision"], d["comment"]) for d in automatic] == [
            ("approve", "No decision within P2D: approved automatically.")
        ]
        assert factory.records("get", "deal", deal).stage == "won"
    with flows.runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(FlowDecision)) == 7
    # nothing is left to fire
    with flows.runtime.transaction() as session:
        later = utcnow() + timedelta(days=5)
        assert fire_due_timers(flows.runtime.flows(session, SYSTEM).context, later) == 0


def test_a_deadline_rejects_automatically_and_in_time_decisions_win(flows, factory) -> None:  # type: ignore[no-untyped-def]
    route = {"steps": [AUTOMATIC["steps"][0] | {"on_deadline": "reject"}], **OUTCOMES_ONLY}
    flows.flow("auto", route)
    late, early = (factory.record("deal", name=n).id for n in ("late", "early"))
    late_i, early_i = (flows("start", "auto", "deal", d).id for d in (late, early))
    for name in ("ann", "bob"):
        flows("complete", flows.task_of(early_i, name), "approve", actor=name)
    with flows.runtime.transaction() as session:
        ctx = flows.runtime.flows(session, SYSTEM).context
        assert fire_due_timers(ctx, utcnow() + timedelta(days=3)) == 1
    assert flows.describe(early_i)["outcome"] == "approved"
    described = flows.describe(late_i)
    assert described["outcome"] == "rejected"
    assert [(d["by"], d["decision"]) for d in described["decisions"]] == [("system", "reject")]
    assert factory.records("get", "deal", late).stage == "lost"


OUTCOMES_ONLY = {"on_approved": {"stage": "won"}, "on_rejected": {"stage": "lost"}}


def test_a_deadline_escalating_to_nobody_fails_the_instance_and_tells_the_admins(
    flows, factory
) -> None:  # type: ignore[no-untyped-def]
    from trellis.access.grants import create_role
    from trellis.accounts import User, create_user
    from trellis.flows.notifications import notifications_of

    with flows.runtime.transaction() as session:
        create_role(session, SYSTEM, "auditor", "Auditor")  # nobody has it
        create_user(session, "root", "root-password-long", ["admin"])
    to_role = {**ROUTE["steps"][0], "escalate_to": {"role": "auditor"}}
    flows.flow("to_role", {**ROUTE, "steps": [to_role]})
    flows.flow("to_user", ROUTE)  # escalates to boss, made inactive below
    by_role = flows("start", "to_role", "deal", factory.record("deal", name="R").id).id
    by_user = flows("start", "to_user", "deal", factory.record("deal", name="U").id).id
    with flows.runtime.transaction() as session:
        session.scalars(select(User).where(User.username == "boss")).one().is_active = False
    with flows.runtime.transaction() as session:
        ctx = flows.runtime.flows(session, SYSTEM).context
        assert fire_due_timers(ctx, utcnow() + timedelta(days=3)) == 2
    for instance, why in (
        (by_role, "no active user has the role auditor"),
        (by_user, "the user boss is inactive"),
    ):
        described = flows.describe(instance)
        # not running with a task nobody can decide: failed, saying why, nothing open
        assert described["status"] == "failed" and described["outcome"] is None
        assert "Step 'Manager' escalated to nobody" in described["error"]
        assert why in described["error"]
        assert [(t["activity"], t["status"]) for t in described["tasks"]] == [("mgr", "cancelled")]
        assert described["next_due_at"] is None
    with flows.runtime.transaction() as session:
        admin_id = session.scalar(select(User.id).where(User.username == "root"))
        messages = [n.message for n in notifications_of(session, admin_id)]
    assert any("'to_role' failed on deal" in m and "role auditor" in m for m in messages)
    assert any("'to_user' failed on deal" in m and "boss is inactive" in m for m in messages)
    # an escalation reached at the start (a vacant approver role) is checked the same way
    with flows.runtime.transaction() as session:
        create_role(session, SYSTEM, "board", "Board")
    vacant = {**to_role, "approvers": {"role": "board"}}
    flows.flow("vacant", {**ROUTE, "steps": [vacant]})
    at_start = flows.describe(
        flows("start", "vacant", "deal", factory.record("deal", name="V").id).id
    )
    assert at_start["status"] == "failed" and at_start["tasks"] == []
    assert "escalated to nobody: no active user has the role auditor" in at_start["error"]
