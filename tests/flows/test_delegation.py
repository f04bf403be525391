"""Who decides: substitutes for a date range ("X for Y"), delegation by the assignee,
reassignment by an administrator, and the rev check between two deciders."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from trellis.errors import Conflict, PermissionDenied, ValidationFailed
from trellis.flows.instance_rows import load
from trellis.flows.instances import load_process, save

ROUTE = {
    "steps": [
        {"id": "s", "label": "Approve", "approvers": {"users": ["ann", "bob"]}, "mode": "any"}
    ]
}


def test_a_substitute_decides_for_the_assignee(flows, factory) -> None:  # type: ignore[no-untyped-def]
    flows.flow("f", ROUTE)
    instance = flows("start", "f", "deal", factory.record("deal", name="D").id).id
    task = flows.task_of(instance, "ann")
    today = date.today()
    with pytest.raises(PermissionDenied):
        flows("complete", task, "approve", actor="sub")
    flows(
        "add_substitute", "sub", today - timedelta(days=1), today + timedelta(days=1), actor="ann"
    )
    # outside the range the substitute may not decide
    with pytest.raises(PermissionDenied):
        flows("complete", task, "approve", actor="sub", today=today + timedelta(days=5))
    assert [t.id for t in flows("my_tasks", actor="sub")] == [task]
    flows("complete", task, "approve", "fine by me", actor="sub")
    (decision,) = flows.describe(instance)["decisions"]
    assert (decision["by"], decision["user"], decision["on_behalf_of"]) == (
        "sub for ann",
        "sub",
        "ann",
    )
    assert flows.describe(instance)["outcome"] == "approved"


def test_substitutes_are_checked(flows) -> None:  # type: ignore[no-untyped-def]
    today = date.today()
    with pytest.raises(ValidationFailed) as failure:
        flows("add_substitute", "ann", today, today - timedelta(days=1), actor="ann")
    assert set(failure.value.errors) == {"until", "to"}
    with pytest.raises(PermissionDenied):
        flows("add_substitute", "sub", today, today, user="bob", actor="ann")


def test_delegate_and_reassign(flows, factory) -> None:  # type: ignore[no-untyped-def]
    flows.flow("f", ROUTE)
    instance = flows("start", "f", "deal", factory.record("deal", name="D").id).id
    task = flows.task_of(instance, "ann")
    with pytest.raises(PermissionDenied):
        flows("delegate", task, "cy", actor="bob")  # not bob's task
    flows("delegate", task, "cy", actor="ann")
    with pytest.raises(PermissionDenied):
        flows("complete", task, "approve", actor="ann")  # no longer hers
    flows("reassign", task, "dee")  # an administrator
    assert flows.task_of(instance, "dee") == task
    flows("complete", task, "reject", actor="dee")
    bob_task = flows.task_of(instance, "bob")
    flows("complete", bob_task, "reject", actor="bob")
    assert flows.describe(instance)["outcome"] == "rejected"
    with pytest.raises(Conflict):
        flows("complete", task, "approve", actor="dee")  # decided already


def test_a_stale_save_is_a_conflict(flows, factory) -> None:  # type: ignore[no-untyped-def]
    """Two deciders load the same rev; the second save loses with a Conflict and nothing
    of its step is kept."""
    flows.flow("f", ROUTE)
    instance_id = flows("start", "f", "deal", factory.record("deal", name="D").id).id
    runtime = flows.runtime
    with runtime.transaction() as session:
        stale = load(runtime.flows(session).context, instance_id)
    flows("complete", flows.task_of(instance_id, "ann"), "approve", actor="ann")
    with runtime.transaction() as session:
        ctx = runtime.flows(session).context
        process = load_process(ctx, stale)
        with pytest.raises(Conflict):
            save(ctx, stale, process)
    assert flows.describe(instance_id)["outcome"] == "approved"


def test_two_approvers_at_once_never_double_advance(flows, factory, settings) -> None:  # type: ignore[no-untyped-def]
    """Two approvers of an 'any' step decide at the same moment, each with its own runtime
    and connection: one wins, the other gets a Conflict; one decision, one advance."""
    import threading

    from trellis.runtime import Runtime

    flows.flow("f", ROUTE)
    instance = flows("start", "f", "deal", factory.record("deal", name="D").id).id
    tasks = {name: flows.task_of(instance, name) for name in ("ann", "bob")}
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(name: str) -> None:
        runtime = Runtime.from_settings(settings)
        try:
            barrier.wait()
            with runtime.transaction() as session:
                runtime.flows(session, flows.actors[name]).complete(tasks[name], "approve")
            outcomes[name] = "done"
        except Conflict:
            outcomes[name] = "conflict"
        finally:
            runtime.dispose()

    threads = [threading.Thread(target=decide, args=(n,)) for n in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["conflict", "done"]
    described = flows.describe(instance)
    assert len(described["decisions"]) == 1
    assert described["outcome"] == "approved"
    assert sorted(t["status"] for t in described["tasks"]) == ["cancelled", "completed"]
