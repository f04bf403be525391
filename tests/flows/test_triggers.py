"""Flows started by record events (the events seam): on create with a condition, on entering
a stage, on a field change; a deleted record's flows are cancelled. And a whole route where
every step runs in a fresh runtime (a new process: nothing cached, all from the database)."""

from __future__ import annotations

from datetime import timedelta

from trellis.accounts import SYSTEM
from trellis.clock import utcnow
from trellis.flows.engine import SPECS
from trellis.flows.timers import fire_due_timers
from trellis.runtime import Runtime

ONE = {"steps": [{"id": "s", "label": "Approve", "approvers": {"users": ["ann"]}}]}


def flows_of(flows, deal: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [flows.describe(i.id)["flow"] for i in flows("instances_of", "deal", deal)]


def test_triggers_on_create_stage_and_field(flows, factory) -> None:  # type: ignore[no-untyped-def]
    flows.flow("big", ONE, {"on": "create", "when": "amount > 10000"})
    flows.flow("review", ONE, {"on": "stage", "stage": "review"})
    flows.flow("repriced", ONE, {"on": "field", "field": "amount"})
    small = factory.record("deal", name="S", amount=5).id
    big = factory.record("deal", name="B", amount=20000).id
    assert flows_of(flows, small) == [] and flows_of(flows, big) == ["big"]
    factory.records("move_stage", "deal", small, "review")
    assert flows_of(flows, small) == ["review"]
    record = factory.records("get", "deal", small)
    factory.records("update", "deal", small, {"name": "renamed"}, version=record.version)
    assert flows_of(flows, small) == ["review"]  # not the amount
    record = factory.records("get", "deal", small)
    factory.records("update", "deal", small, {"amount": 7}, version=record.version)
    assert flows_of(flows, small) == ["review", "repriced"]

    instance = flows("instances_of", "deal", big)[0].id
    factory.records("delete", "deal", big)
    described = flows.describe(instance)
    assert described["status"] == "cancelled"
    assert {t["status"] for t in described["tasks"]} == {"cancelled"}


def test_a_batch_of_creates_starts_the_flow_of_each_record(flows, factory) -> None:  # type: ignore[no-untyped-def]
    """``create_many`` (an import's path) starts a flow on create for every record whose
    condition holds, as one create per record does."""
    flows.flow("big", ONE, {"on": "create", "when": "amount > 10000"})
    deals = factory.records(
        "create_many", "deal", [{"name": f"D{i}", "amount": 20000 * (i % 2)} for i in range(6)]
    )
    assert [flows_of(flows, deal.id) for deal in deals] == [[], ["big"]] * 3


def test_every_step_survives_a_reload_in_a_fresh_runtime(flows, factory, settings) -> None:  # type: ignore[no-untyped-def]
    route = {
        "steps": [
            {
                "id": "mgr",
                "label": "Manager",
                "approvers": {"role": "manager"},
                "deadline": "PT4H",
                "escalate_to": "boss",
            },
            {
                "id": "board",
                "label": "Board",
                "approvers": {"users": ["bob", "cy", "dee"]},
                "mode": "quorum",
                "quorum": 2,
                "when": "amount > 10000",
            },
        ],
        "on_approved": {"stage": "won"},
    }
    flows.flow("deal", route)
    deal = factory.record("deal", name="D", amount=50000).id

    def fresh(method: str, *args, actor=SYSTEM, **kwargs):  # type: ignore[no-untyped-def]
        SPECS._items.clear()  # as a new process would: parse the version again
        runtime = Runtime.from_settings(settings)
        try:
            with runtime.transaction() as session:
                service = runtime.flows(session, actor)
                result = getattr(service, method)(*args, **kwargs)
                return result if isinstance(result, int) else getattr(result, "id", result)
        finally:
            runtime.dispose()

    instance = fresh("start", "deal", "deal", deal)
    with flows.runtime.transaction() as session:
        ctx = flows.runtime.flows(session, SYSTEM).context
        assert fire_due_timers(ctx, utcnow() + timedelta(hours=5)) == 1  # escalated to boss
    fresh("complete", flows.task_of(instance, "boss"), "approve", actor=flows.actors["boss"])
    assert {t["assignee"] for t in flows.open_tasks(instance)} == {"bob", "cy", "dee"}
    fresh("complete", flows.task_of(instance, "dee"), "reject", actor=flows.actors["dee"])
    fresh("complete", flows.task_of(instance, "bob"), "approve", actor=flows.actors["bob"])
    assert flows.describe(instance)["status"] == "running"
    fresh("complete", flows.task_of(instance, "cy"), "approve", actor=flows.actors["cy"])
    described = flows.describe(instance)
    assert (described["status"], described["outcome"]) == ("completed", "approved")
    assert [d["by"] for d in described["decisions"]] == ["boss", "dee", "bob", "cy"]
    assert factory.records("get", "deal", deal).stage == "won"
