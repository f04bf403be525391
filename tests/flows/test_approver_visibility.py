"""An approver sees the record they decide on, within the fields their roles show; an
approver who may not read such records at all is refused when the route is published, when a
task is passed to them, and left out when a user field names them."""

from __future__ import annotations

import pytest

from trellis.access.grants import create_role, set_grant
from trellis.accounts import SYSTEM, Actor, create_user
from trellis.errors import ValidationFailed


@pytest.fixture
def roles(flows, factory):  # type: ignore[no-untyped-def]
    """outsider: no grant on deals; clerk: reads only own deals, amount hidden; auditor:
    reads every deal, amount hidden."""
    runtime = flows.runtime
    found = {}
    with runtime.transaction() as session:
        model = runtime.model(session)
        for key in ("outsider", "clerk", "auditor"):
            create_role(session, SYSTEM, key, key.title())
        hidden = {"fields": {"amount": "hidden"}}
        set_grant(session, SYSTEM, model, "clerk", "deal", {"read": "own", **hidden})
        set_grant(session, SYSTEM, model, "auditor", "deal", {"read": "all", **hidden})
        for name, role in (
            ("out", "outsider"),
            ("cl", "clerk"),
            ("cl2", "clerk"),
            ("au", "auditor"),
        ):
            found[name] = Actor.of(create_user(session, name, f"{name}-password-long", [role]))
    flows.actors.update(found)
    return found


def route(users: list[str], **extra):  # type: ignore[no-untyped-def]
    return {"steps": [{"id": "ok", "label": "OK", "approvers": {"users": users}, **extra}]}


def test_publishing_refuses_approvers_who_may_not_read(flows, roles) -> None:  # type: ignore[no-untyped-def]
    flows("create_flow", {"key": "f", "label": "F", "entity": "deal"})
    flows(
        "add_version",
        "f",
        route={
            "steps": [
                {"id": "a", "label": "A", "approvers": {"users": ["ann", "out"]}},
                {"id": "b", "label": "B", "approvers": {"role": "outsider"}},
                {
                    "id": "c",
                    "label": "C",
                    "approvers": {"role": "manager"},
                    "deadline": "P1D",
                    "escalate_to": {"user": "out"},
                },
            ]
        },
    )  # a draft may be saved and tried
    with pytest.raises(ValidationFailed) as failure:
        flows("publish", "f", 1)
    assert failure.value.errors == {
        "route.steps[0].approvers.users[1]": [
            "out may not read Deal records; an approver must see the record they decide on "
            "(give their role read access first)."
        ],
        "route.steps[1].approvers.role": [
            "The role outsider may not read Deal records; an approver must see the record "
            "they decide on (give it read access first)."
        ],
        "route.steps[2].escalate_to": [
            "out may not read Deal records; an approver must see the record they decide on."
        ],
    }
    assert flows("version", "f", 1)["published"] is False
    # an own-scope reader is an approver who may read: published
    flows("add_version", "f", route=route(["cl"]))
    flows("publish", "f", 2)


def test_a_task_is_passed_only_to_someone_who_may_read(flows, factory, roles) -> None:  # type: ignore[no-untyped-def]
    flows.flow("f", route(["ann"]))
    instance = flows("start", "f", "deal", factory.record("deal", name="D").id).id
    task = flows.task_of(instance, "ann")
    with pytest.raises(ValidationFailed) as failure:
        flows("delegate", task, "out", actor="ann")
    assert failure.value.errors == {
        "to": ["out may not read Deal records, so cannot decide on this one."]
    }
    flows("delegate", task, "cl", actor="ann")
    assert flows.open_tasks(instance)[0]["assignee"] == "cl"


def test_a_user_field_naming_a_non_reader_asks_nobody(flows, factory, roles) -> None:  # type: ignore[no-untyped-def]
    flows.flow("own", {"steps": [{"id": "m", "label": "Mgr", "approvers": {"field": "manager"}}]})
    deal = factory.record("deal", name="D", manager="out").id
    described = flows.describe(flows("start", "own", "deal", deal).id)
    assert described["status"] == "failed" and described["tasks"] == []
    assert "who may read it" in described["error"]


def test_the_task_shows_the_record_within_the_fields_the_role_shows(flows, factory, roles) -> None:  # type: ignore[no-untyped-def]
    flows.flow("f", route(["cl", "au"]))
    deal = factory.record("deal", name="Big one", amount=99999).id  # owned by the system
    instance = flows("start", "f", "deal", deal).id

    def seen(actor: str):  # type: ignore[no-untyped-def]
        with flows.runtime.transaction() as session:
            found = flows.runtime.flows(session, flows.actors[actor]).record_for_task(instance)
            return None if found is None else (found[0].values, found[1])

    # cl reads only own deals: through the task, without the amount their role hides
    values, through_task = seen("cl")
    assert through_task and values["name"] == "Big one" and "amount" not in values
    # au reads every deal, amount hidden: a plain read
    values, through_task = seen("au")
    assert not through_task and values["name"] == "Big one" and "amount" not in values
    # a clerk with no task on it, and an outsider, see nothing
    assert seen("cl2") is None
    flows("delegate", flows.task_of(instance, "cl"), "cl2", actor="cl")
    assert seen("cl2") is not None and seen("cl") is None
    assert seen("ann")[0]["amount"] == 99999  # the user role shows everything
