"""The demo's two flows (issue 13, deliverable 10), as ``trellis init --demo`` loads them:
deal approval (over 10,000 two of three board members, otherwise the sales manager) and a
vacation request that only its team lead's approval moves to Approved."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from trellis.accounts import Actor, User
from trellis.clock import utcnow
from trellis.errors import PermissionDenied, ValidationFailed

FLOW_ONLY = "Only a flow moves records to 'Approved'."


@pytest.fixture
def people(runtime, demo_crm) -> dict[str, Actor]:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return {u.username: Actor.of(u) for u in session.scalars(select(User))}


def call(runtime, who: Actor, service: str, method: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return getattr(getattr(runtime, service)(session, who), method)(*args, **kwargs)


def instance_of(runtime, who: Actor, entity: str, record_id: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        flows = runtime.flows(session, who)
        found = flows.instances_of(entity, record_id)
        assert len(found) == 1
        return flows.describe(found[0])


def open_tasks(described: dict[str, Any]) -> dict[str, int]:
    return {t["assignee"]: t["id"] for t in described["tasks"] if t["status"] == "open"}


def new_deal(runtime, people, amount: str) -> int:  # type: ignore[no-untyped-def]
    mila = people["mila"]  # the sales manager
    deal = call(
        runtime,
        mila,
        "records",
        "create",
        "deal",
        {"name": f"Deal of {amount}", "amount": {"amount": amount, "currency": "EUR"}},
        pipeline="sales",
        stage="negotiation",
    )
    call(runtime, mila, "records", "move_stage", "deal", deal.id, "approval")
    return deal.id


def stage(runtime, entity: str, record_id: int) -> str:  # type: ignore[no-untyped-def]
    return call(runtime, _admin(), "records", "get", entity, record_id).stage


def _admin() -> Actor:
    from trellis.accounts import SYSTEM

    return SYSTEM


def test_a_big_deal_needs_two_of_three_board_members(runtime, people) -> None:  # type: ignore[no-untyped-def]
    deal = new_deal(runtime, people, "50000.00")
    described = instance_of(runtime, people["hanna"], "deal", deal)
    assert described["flow"] == "deal_approval" and described["status"] == "running"
    tasks = open_tasks(described)
    assert set(tasks) == {"hanna", "ivan", "jonas"}
    assert all(t["due_at"] is not None for t in described["tasks"])  # two days, then escalation
    # the sales manager cannot decide a board member's task
    with pytest.raises(PermissionDenied):
        call(runtime, people["mila"], "flows", "complete", tasks["hanna"], "approve")
    call(runtime, people["hanna"], "flows", "complete", tasks["hanna"], "approve")
    assert stage(runtime, "deal", deal) == "approval"
    call(runtime, people["jonas"], "flows", "complete", tasks["jonas"], "approve")
    described = instance_of(runtime, people["ivan"], "deal", deal)
    assert described["status"] == "completed" and described["outcome"] == "approved"
    assert {t["status"] for t in described["tasks"]} == {"completed", "cancelled"}
    assert stage(runtime, "deal", deal) == "approved"


def test_a_small_deal_goes_to_the_sales_manager_and_a_rejection_sends_it_back(  # type: ignore[no-untyped-def]
    runtime, people
) -> None:
    deal = new_deal(runtime, people, "5000.00")
    described = instance_of(runtime, people["mila"], "deal", deal)
    tasks = open_tasks(described)
    assert list(tasks) == ["role:sales_manager"]
    # a board member has no say on a small deal
    with pytest.raises(PermissionDenied):
        call(runtime, people["hanna"], "flows", "complete", tasks["role:sales_manager"], "approve")
    call(runtime, people["mila"], "flows", "complete", tasks["role:sales_manager"], "reject")
    assert instance_of(runtime, people["mila"], "deal", deal)["outcome"] == "rejected"
    assert stage(runtime, "deal", deal) == "negotiation"


def test_nobody_moves_a_deal_to_approved_by_hand(runtime, people) -> None:  # type: ignore[no-untyped-def]
    deal = new_deal(runtime, people, "5000.00")
    for who in (people["mila"], _admin()):
        with pytest.raises(ValidationFailed) as refused:
            call(runtime, who, "records", "move_stage", "deal", deal, "approved")
        assert refused.value.errors == {"stage": [FLOW_ONLY]}


def test_a_vacation_request_is_approved_by_the_team_lead_only(runtime, people) -> None:  # type: ignore[no-untyped-def]
    emma = people["emma"]
    request = call(
        runtime,
        emma,
        "records",
        "create",
        "vacation",
        {
            "employee": emma.user_id,
            "starts_on": "2027-07-01",
            "ends_on": "2027-07-14",
            "days": 10,
            "kind": "annual",
            "reason": "Summer",
        },
        pipeline="vacation",
    )
    assert request.stage == "draft"
    # the bug the issue opens with: the employee moves her own request straight to Approved
    with pytest.raises(ValidationFailed) as refused:
        call(runtime, emma, "records", "move_stage", "vacation", request.id, "approved")
    assert refused.value.errors["stage"][0].startswith("From 'Draft' a record moves only to")
    call(runtime, emma, "records", "move_stage", "vacation", request.id, "submitted")
    described = instance_of(runtime, emma, "vacation", request.id)
    assert described["flow"] == "vacation_approval" and described["status"] == "running"
    tasks = open_tasks(described)
    assert list(tasks) == ["role:team_lead"]
    # from Submitted too, Approved is the flow's to enter, and the task is not hers
    with pytest.raises(ValidationFailed) as refused:
        call(runtime, emma, "records", "move_stage", "vacation", request.id, "approved")
    assert refused.value.errors == {"stage": [FLOW_ONLY]}
    with pytest.raises(PermissionDenied):
        call(runtime, emma, "flows", "complete", tasks["role:team_lead"], "approve")
    # the team lead sees the request and approves it
    mila = people["mila"]
    assert call(runtime, mila, "records", "get", "vacation", request.id).id == request.id
    call(runtime, mila, "flows", "complete", tasks["role:team_lead"], "approve", "Enjoy")
    assert stage(runtime, "vacation", request.id) == "approved"
    described = instance_of(runtime, emma, "vacation", request.id)
    assert described["outcome"] == "approved"
    assert [(d["by"], d["decision"]) for d in described["decisions"]] == [("mila", "approve")]


def test_an_undecided_deal_escalates_to_the_director_after_two_days(runtime, people) -> None:  # type: ignore[no-untyped-def]
    deal = new_deal(runtime, people, "5000.00")
    call(runtime, _admin(), "flows", "fire_due_timers", utcnow() + timedelta(days=1))
    assert list(open_tasks(instance_of(runtime, people["mila"], "deal", deal))) == [
        "role:sales_manager"
    ]
    call(runtime, _admin(), "flows", "fire_due_timers", utcnow() + timedelta(days=2, hours=1))
    tasks = open_tasks(instance_of(runtime, people["mila"], "deal", deal))
    assert list(tasks) == ["role:director"]
    call(runtime, people["dora"], "flows", "complete", tasks["role:director"], "approve")
    assert stage(runtime, "deal", deal) == "approved"
