"""Approval routes run on the engine: all / any / quorum with early rejection, a condition
skipping a step, parallel steps, outcomes applied through the record service, and every
step in its own transaction (the process reloaded from the database each time)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from trellis.access.grants import create_role, set_grant
from trellis.accounts import SYSTEM, Actor, create_user
from trellis.errors import PermissionDenied, TrellisError, ValidationFailed


def step(step_id: str, users: list[str], mode: str = "all", **extra):  # type: ignore[no-untyped-def]
    return {
        "id": step_id,
        "label": step_id.title(),
        "approvers": {"users": users},
        "mode": mode,
        **extra,
    }


OUTCOMES = {"on_approved": {"stage": "won"}, "on_rejected": {"stage": "lost"}}


def new_deal(factory, amount: int = 500) -> int:  # type: ignore[no-untyped-def]
    return factory.record("deal", name="Deal", amount=amount).id


def stage_of(factory, deal: int) -> str:  # type: ignore[no-untyped-def]
    return factory.records("get", "deal", deal).stage


def test_all_needs_everyone_and_a_rejection_ends_it_at_once(flows, factory) -> None:  # type: ignore[no-untyped-def]
    flows.flow("check", {"steps": [step("board", ["ann", "bob", "cy"], "all")], **OUTCOMES})
    deal = new_deal(factory)
    instance = flows("start", "check", "deal", deal).id
    assert {t["assignee"] for t in flows.open_tasks(instance)} == {"ann", "bob", "cy"}
    flows("complete", flows.task_of(instance, "ann"), "approve", actor="ann")
    flows("complete", flows.task_of(instance, "bob"), "approve", actor="bob")
    assert flows.describe(instance)["status"] == "running"
    flows("complete", flows.task_of(instance, "cy"), "approve", actor="cy")
    described = flows.describe(instance)
    assert (described["status"], described["outcome"]) == ("completed", "approved")
    assert stage_of(factory, deal) == "won"

    other = new_deal(factory)
    second = flows("start", "check", "deal", other).id
    flows("complete", flows.task_of(second, "bob"), "reject", "too dear", actor="bob")
    described = flows.describe(second)
    assert (described["status"], described["outcome"]) == ("completed", "rejected")
    assert {t["status"] for t in described["tasks"]} == {"completed", "cancelled"}
    assert stage_of(factory, other) == "lost"


def test_a_stage_reserved_to_flows_opens_only_to_the_outcome(flows, factory) -> None:  # type: ignore[no-untyped-def]
    flows.flow("check", {"steps": [step("one", ["ann"])], **OUTCOMES})
    deal = new_deal(factory)
    with pytest.raises(TrellisError):
        factory.records("move_stage", "deal", deal, "won")  # not even an administrator
    instance = flows("start", "check", "deal", deal).id
    flows("complete", flows.task_of(instance, "ann"), "approve", actor="ann")
    assert stage_of(factory, deal) == "won"


def test_any_approves_on_the_first_approval(flows, factory) -> None:  # type: ignore[no-untyped-def]
    flows.flow("quick", {"steps": [step("one", ["ann", "bob"], "any")], **OUTCOMES})
    deal = new_deal(factory)
    instance = flows("start", "quick", "deal", deal).id
    flows("complete", flows.task_of(instance, "bob"), "reject", actor="bob")
    assert flows.describe(instance)["status"] == "running"  # ann may still approve
    flows("complete", flows.task_of(instance, "ann"), "approve", actor="ann")
    assert flows.describe(instance)["outcome"] == "approved"
    assert stage_of(factory, deal) == "won"


def test_quorum_two_of_three_and_early_rejection(flows, factory) -> None:  # type: ignore[no-untyped-def]
    route = {"steps": [step("board", ["ann", "bob", "cy"], "quorum", quorum=2)], **OUTCOMES}
    flows.flow("board", route)
    deal = new_deal(factory)
    instance = flows("start", "board", "deal", deal).id
    flows("complete", flows.task_of(instance, "ann"), "approve", actor="ann")
    flows("complete", flows.task_of(instance, "cy"), "approve", actor="cy")
    described = flows.describe(instance)
    assert described["outcome"] == "approved"
    # the third vote is no longer asked for
    assert [t["status"] for t in described["tasks"] if t["assignee"] == "bob"] == ["cancelled"]

    lost = new_deal(factory)
    second = flows("start", "board", "deal", lost).id
    flows("complete", flows.task_of(second, "ann"), "reject", actor="ann")
    assert flows.describe(second)["status"] == "running"  # 2 of the other 2 could still approve
    flows("complete", flows.task_of(second, "bob"), "reject", actor="bob")
    described = flows.describe(second)
    assert (described["status"], described["outcome"]) == ("completed", "rejected")
    assert [t["status"] for t in described["tasks"] if t["assignee"] == "cy"] == ["cancelled"]
    assert stage_of(factory, lost) == "lost"


def test_a_condition_skips_a_step(flows, factory) -> None:  # type: ignore[no-untyped-def]
    route = {
        "steps": [
            step("manager", ["ann"]),
            step("board", ["bob", "cy"], "any", when="amount > 10000"),
        ],
        **OUTCOMES,
    }
    flows.flow("deal", route)
    small, big = new_deal(factory, 500), new_deal(factory, 20000)
    for deal in (small, big):
        instance = flows("start", "deal", "deal", deal).id
        flows("complete", flows.task_of(instance, "ann"), "approve", actor="ann")
    small_i, big_i = (flows("instances_of", "deal", d)[0].id for d in (small, big))
    assert flows.describe(small_i)["outcome"] == "approved"  # no board step
    assert flows.describe(big_i)["status"] == "running"
    assert {t["assignee"] for t in flows.open_tasks(big_i)} == {"bob", "cy"}
    flows("complete", flows.task_of(big_i, "cy"), "approve", actor="cy")
    assert flows.describe(big_i)["outcome"] == "approved"


def test_parallel_steps_both_decide(flows, factory) -> None:  # type: ignore[no-untyped-def]
    route = {
        "steps": [step("legal", ["ann"]), step("finance", ["bob"], parallel_with="legal")],
        **OUTCOMES,
    }
    flows.flow("par", route)
    instance = flows("start", "par", "deal", new_deal(factory)).id
    assert {t["assignee"] for t in flows.open_tasks(instance)} == {"ann", "bob"}
    flows("complete", flows.task_of(instance, "bob"), "approve", actor="bob")
    assert flows.describe(instance)["status"] == "running"
    flows("complete", flows.task_of(instance, "ann"), "reject", actor="ann")
    assert flows.describe(instance)["outcome"] == "rejected"


def test_role_approvers_and_who_may_decide(flows, factory) -> None:  # type: ignore[no-untyped-def]
    mgr = {"id": "mgr", "label": "Manager", "approvers": {"role": "manager"}, "mode": "any"}
    route = {"steps": [mgr]}
    flows.flow("mgr", route)
    instance = flows("start", "mgr", "deal", new_deal(factory)).id
    (task,) = flows.open_tasks(instance)
    assert task["assignee"] == "role:manager"
    with pytest.raises(PermissionDenied):
        flows("complete", task["id"], "approve", actor="bob")
    flows("complete", task["id"], "approve", actor="ann")  # ann has the role
    assert flows.describe(instance)["outcome"] == "approved"


def test_approvers_from_a_user_field_of_the_record(flows, factory) -> None:  # type: ignore[no-untyped-def]
    route = {"steps": [{"id": "own", "label": "Own manager", "approvers": {"field": "manager"}}]}
    flows.flow("own", route)
    first = factory.record("deal", name="A", manager="cy").id
    second = factory.record("deal", name="B", manager="dee").id
    one, two = (flows("start", "own", "deal", d).id for d in (first, second))
    assert [t["assignee"] for t in flows.open_tasks(one)] == ["cy"]
    assert [t["assignee"] for t in flows.open_tasks(two)] == ["dee"]
    with pytest.raises(PermissionDenied):
        flows("complete", flows.task_of(one, "cy"), "approve", actor="dee")
    flows("complete", flows.task_of(one, "cy"), "approve", actor="cy")
    assert flows.describe(one)["outcome"] == "approved"
    flows("create_flow", {"key": "bad_field", "label": "Bad", "entity": "deal"})
    with pytest.raises(ValidationFailed) as failure:
        flows(
            "add_version",
            "bad_field",
            route={"steps": [step("x", ["ann"]) | {"approvers": {"field": "name"}}]},
        )
    assert failure.value.errors == {
        "route.steps[0].approvers.field": ["Approvers come from a field of type user."]
    }


def test_a_route_is_checked_in_full(flows) -> None:  # type: ignore[no-untyped-def]
    flows("create_flow", {"key": "bad", "label": "Bad", "entity": "deal"})
    route = {
        "steps": [
            {"id": "Bad Id", "label": "", "approvers": {"users": ["nobody"]}, "mode": "most"},
            step("q", ["ann"], "quorum", quorum=3, deadline="two days"),
            step("w", ["ann"], when="amount >", parallel_with="zzz"),
        ],
        "on_approved": {"stage": "nowhere", "set": {"nofield": 1}},
        "extra": 1,
    }
    with pytest.raises(ValidationFailed) as failure:
        flows("add_version", "bad", route=route)
    errors = failure.value.errors
    assert {
        "route.steps[0].id",
        "route.steps[0].label",
        "route.steps[0].approvers.users[0]",
        "route.steps[0].mode",
        "route.steps[1].quorum",
        "route.steps[1].deadline",
        "route.steps[1].escalate_to",
        "route.steps[2].when",
        "route.steps[2].parallel_with",
        "route.on_approved.stage",
        "route.on_approved.set.nofield",
        "route.extra",
    } <= set(errors)


def test_a_rejection_in_one_parallel_branch_ends_the_route_at_once(flows, factory) -> None:  # type: ignore[no-untyped-def]
    route = {
        "steps": [
            step("legal", ["ann"]),
            step("finance", ["bob", "cy"], "all", parallel_with="legal"),
        ],
        **OUTCOMES,
    }
    flows.flow("par", route)
    deal = new_deal(factory)
    instance = flows("start", "par", "deal", deal).id
    assert {t["assignee"] for t in flows.open_tasks(instance)} == {"ann", "bob", "cy"}
    flows("complete", flows.task_of(instance, "bob"), "approve", actor="bob")
    # legal rejects while finance still waits for cy: the route ends rejected now
    flows("complete", flows.task_of(instance, "ann"), "reject", "no", actor="ann")
    described = flows.describe(instance)
    assert (described["status"], described["outcome"]) == ("completed", "rejected")
    assert flows.open_tasks(instance) == []
    assert {(t["assignee"], t["status"]) for t in described["tasks"]} == {
        ("ann", "completed"),
        ("bob", "completed"),
        ("cy", "cancelled"),
    }
    assert stage_of(factory, deal) == "lost"
    with pytest.raises(TrellisError):  # the cancelled task cannot be decided any more
        cy_task = next(t["id"] for t in described["tasks"] if t["assignee"] == "cy")
        flows("complete", cy_task, "approve", actor="cy")

    # both branches approving still approves
    other = new_deal(factory)
    second = flows("start", "par", "deal", other).id
    for name in ("cy", "ann", "bob"):
        flows("complete", flows.task_of(second, name), "approve", actor=name)
    assert flows.describe(second)["outcome"] == "approved"
    assert stage_of(factory, other) == "won"


def test_an_empty_user_field_fails_the_instance_with_the_reason(flows, factory) -> None:  # type: ignore[no-untyped-def]
    from trellis.flows.notifications import notifications_of

    route = {
        "steps": [{"id": "own", "label": "Own manager", "approvers": {"field": "manager"}}],
        **OUTCOMES,
    }
    with flows.runtime.transaction() as session:
        create_user(session, "root", "root-password-long", ["admin"])
    flows.flow("own", route)
    deal = factory.record("deal", name="Nobody's").id
    instance = flows("start", "own", "deal", deal).id
    described = flows.describe(instance)
    # never approved by nobody, never waiting for nobody
    assert described["status"] == "failed" and described["outcome"] is None
    assert described["tasks"] == []
    assert "Own manager" in described["error"] and "Manager is empty" in described["error"]
    assert stage_of(factory, deal) == "new"
    with flows.runtime.transaction() as session:
        from trellis.accounts import User

        admin_id = session.scalar(select(User.id).where(User.username == "root"))
        messages = [n.message for n in notifications_of(session, admin_id)]
    assert any("'own' failed on deal" in m and "Manager is empty" in m for m in messages)


def test_a_role_without_users_escalates_when_the_step_has_an_escalation(flows, factory) -> None:  # type: ignore[no-untyped-def]
    with flows.runtime.transaction() as session:
        create_role(session, SYSTEM, "auditor", "Auditor")
        model = flows.runtime.model(session)
        set_grant(session, SYSTEM, model, "auditor", "deal", {"read": "all"})
    route = {
        "steps": [
            {
                "id": "audit",
                "label": "Audit",
                "approvers": {"role": "auditor"},
                "deadline": "P1D",
                "escalate_to": {"user": "boss"},
            }
        ],
        **OUTCOMES,
    }
    flows.flow("audit", route)
    instance = flows("start", "audit", "deal", new_deal(factory)).id
    assert [(t["activity"], t["assignee"]) for t in flows.open_tasks(instance)] == [
        ("audit_escalation", "boss")
    ]
    flows("complete", flows.task_of(instance, "boss"), "approve", actor="boss")
    assert flows.describe(instance)["outcome"] == "approved"

    # without an escalation the instance fails, saying which role has nobody
    flows.flow(
        "audit2", {"steps": [{"id": "a", "label": "Audit", "approvers": {"role": "auditor"}}]}
    )
    failed = flows.describe(flows("start", "audit2", "deal", new_deal(factory)).id)
    assert failed["status"] == "failed"
    assert "no active user has the role auditor" in failed["error"]
    # once someone has the role, a new instance asks them
    with flows.runtime.transaction() as session:
        create_user(session, "aud", "aud-password-long", ["user", "auditor"])
    started = flows("start", "audit2", "deal", new_deal(factory)).id
    assert [t["assignee"] for t in flows.open_tasks(started)] == ["aud"]  # all: each member


def test_a_role_in_all_and_quorum_asks_each_member_fixed_at_the_start(flows, factory) -> None:  # type: ignore[no-untyped-def]
    with flows.runtime.transaction() as session:
        create_role(session, SYSTEM, "board", "Board")
        model = flows.runtime.model(session)
        set_grant(session, SYSTEM, model, "board", "deal", {"read": "all"})
        for name in ("hb", "ib", "jb"):
            user = create_user(session, name, f"{name}-password-long", ["user", "board"])
            flows.actors[name] = Actor.of(user)
    board = {"id": "board", "label": "Board", "approvers": {"role": "board"}}
    flows.flow("board_q", {"steps": [{**board, "mode": "quorum", "quorum": 2}], **OUTCOMES})
    flows.flow("board_all", {"steps": [{**board, "mode": "all"}], **OUTCOMES})
    flows.flow("board_any", {"steps": [{**board, "mode": "any"}], **OUTCOMES})
    deal = new_deal(factory)
    instance = flows("start", "board_q", "deal", deal).id
    assert sorted(t["assignee"] for t in flows.open_tasks(instance)) == ["hb", "ib", "jb"]
    # someone joining the role later is not asked: the members were fixed at the start
    with flows.runtime.transaction() as session:
        create_user(session, "kb", "kb-password-long", ["user", "board"])
    flows("complete", flows.task_of(instance, "hb"), "approve", actor="hb")
    with pytest.raises(PermissionDenied):  # a member decides only their own task
        flows("complete", flows.task_of(instance, "jb"), "approve", actor="ib")
    flows("complete", flows.task_of(instance, "jb"), "reject", actor="jb")
    assert flows.describe(instance)["status"] == "running"
    flows("complete", flows.task_of(instance, "ib"), "approve", actor="ib")
    assert flows.describe(instance)["outcome"] == "approved"
    assert stage_of(factory, deal) == "won"

    every = flows("start", "board_all", "deal", new_deal(factory)).id
    assert sorted(t["assignee"] for t in flows.open_tasks(every)) == ["hb", "ib", "jb", "kb"]
    one = flows("start", "board_any", "deal", new_deal(factory)).id
    assert [t["assignee"] for t in flows.open_tasks(one)] == ["role:board"]


def test_a_later_steps_role_asks_the_members_when_that_step_starts(flows, factory) -> None:  # type: ignore[no-untyped-def]
    with flows.runtime.transaction() as session:
        create_role(session, SYSTEM, "board", "Board")
        create_role(session, SYSTEM, "audit", "Audit")  # nobody yet
        model = flows.runtime.model(session)
        for role in ("board", "audit"):
            set_grant(session, SYSTEM, model, role, "deal", {"read": "all"})
        for name in ("hb", "ib"):
            user = create_user(session, name, f"{name}-password-long", ["user", "board"])
            flows.actors[name] = Actor.of(user)
    board = {"id": "board", "label": "Board", "approvers": {"role": "board"}}
    audit = {"id": "audit", "label": "Audit", "approvers": {"role": "audit"}, "mode": "all"}
    flows.flow(
        "later",
        {"steps": [step("mgr", ["ann"]), {**board, "mode": "quorum", "quorum": 3}, audit]},
    )
    instance = flows("start", "later", "deal", new_deal(factory)).id
    # between step 1 and step 2, kb joins the board (now three: the quorum of 3 is reachable)
    # and aud the audit role, vacant when the flow started
    with flows.runtime.transaction() as session:
        for name, role in (("kb", "board"), ("aud", "audit")):
            user = create_user(session, name, f"{name}-password-long", ["user", role])
            flows.actors[name] = Actor.of(user)
    flows("complete", flows.task_of(instance, "ann"), "approve", actor="ann")
    assert flows.describe(instance)["status"] == "running"
    assert sorted(t["assignee"] for t in flows.open_tasks(instance)) == ["hb", "ib", "kb"]
    for name in ("hb", "ib", "kb"):
        flows("complete", flows.task_of(instance, name), "approve", actor=name)
    assert [t["assignee"] for t in flows.open_tasks(instance)] == ["aud"]
    flows("complete", flows.task_of(instance, "aud"), "approve", actor="aud")
    assert flows.describe(instance)["outcome"] == "approved"


def test_a_quorum_above_the_roles_members_fails_the_instance_saying_why(flows, factory) -> None:  # type: ignore[no-untyped-def]
    with flows.runtime.transaction() as session:
        create_role(session, SYSTEM, "board", "Board")
        model = flows.runtime.model(session)
        set_grant(session, SYSTEM, model, "board", "deal", {"read": "all"})
        for name in ("hb", "ib"):
            create_user(session, name, f"{name}-password-long", ["user", "board"])
    board = {"id": "board", "label": "Board", "approvers": {"role": "board"}}
    flows.flow("board_q", {"steps": [{**board, "mode": "quorum", "quorum": 3}], **OUTCOMES})
    failed = flows.describe(flows("start", "board_q", "deal", new_deal(factory)).id)
    assert failed["status"] == "failed"
    assert "the role board has 2 active member(s), fewer than the quorum of 3" in failed["error"]
    assert not [t for t in failed["tasks"] if t["status"] == "open"]
    # with an escalation, the escalation decides instead
    escalating = {**board, "mode": "quorum", "quorum": 3, "deadline": "P1D", "escalate_to": "boss"}
    flows.flow("board_esc", {"steps": [escalating], **OUTCOMES})
    instance = flows("start", "board_esc", "deal", new_deal(factory)).id
    assert [(t["activity"], t["assignee"]) for t in flows.open_tasks(instance)] == [
        ("board_escalation", "boss")
    ]


def test_a_deadline_needs_an_escalation_or_an_automatic_decision(flows) -> None:  # type: ignore[no-untyped-def]
    flows("create_flow", {"key": "d", "label": "D", "entity": "deal"})
    route = {
        "steps": [
            step("a", ["ann"], deadline="P1D"),
            step("b", ["ann"], deadline="P1D", on_deadline="maybe"),
            step("c", ["ann"], on_deadline="approve"),
            step("e", ["ann"], deadline="P1D", on_deadline="reject", escalate_to="boss"),
        ]
    }
    with pytest.raises(ValidationFailed) as failure:
        flows("add_version", "d", route=route)
    assert failure.value.errors == {
        "route.steps[0].escalate_to": [
            "A deadline needs someone to escalate to, or an automatic decision (on_deadline)."
        ],
        "route.steps[1].on_deadline": ["Use approve or reject."],
        "route.steps[2].deadline": ["An automatic decision needs a deadline."],
        "route.steps[3].on_deadline": [
            "Choose either an escalation or an automatic decision at the deadline."
        ],
    }
