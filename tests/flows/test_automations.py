"""Automations (issue 13, deliverable 7): each trigger with and without a condition, each
action, the loop guard and the check on save, through the real record service."""

from __future__ import annotations

import pytest
from automation_world import add_automation, add_webhook
from sqlalchemy import select

from trellis.accounts import SYSTEM, get_user
from trellis.errors import ValidationFailed
from trellis.flows.automations import AutomationLoop, save_automation
from trellis.flows.notifications import Notification, unread_count
from trellis.flows.outbox import OutboxEntry


def note_of(factory, lead_id: int) -> str | None:  # type: ignore[no-untyped-def]
    return factory.records("get", "lead", lead_id).values["note"]


def test_on_create_without_condition_sets_fields(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    add_automation(
        runtime,
        "welcome",
        trigger={"on": "create"},
        actions=[{"type": "set_fields", "values": {"note": "new lead"}}],
    )
    lead = factory.record("lead", name="Ann")
    assert note_of(factory, lead.id) == "new lead"


def test_on_create_with_condition_runs_only_when_it_holds(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    add_automation(
        runtime,
        "big",
        trigger={"on": "create", "when": "amount > 1000"},
        actions=[{"type": "set_fields", "values": {"note": {"expr": "'big: ' + name"}}}],
    )
    small = factory.record("lead", name="Small", amount=10)
    big = factory.record("lead", name="Big", amount=5000)
    assert note_of(factory, small.id) is None
    assert note_of(factory, big.id) == "big: Big"


def test_a_batch_of_creates_runs_the_automation_of_each_record(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    """``create_many`` (an import's path) announces each record as ``create`` does: the
    automation runs for every record whose condition holds, and none for the others."""
    add_automation(
        runtime,
        "big",
        trigger={"on": "create", "when": "amount > 1000"},
        actions=[{"type": "set_fields", "values": {"note": {"expr": "'big: ' + name"}}}],
    )
    leads = factory.records(
        "create_many", "lead", [{"name": f"L{i}", "amount": 5000 * (i % 2)} for i in range(6)]
    )
    assert [note_of(factory, lead.id) for lead in leads] == [
        f"big: L{i}" if i % 2 else None for i in range(6)
    ]
    deals = factory.records("create_many", "deal", [{"subject": "D", "amount": 5000}] * 3)
    assert len(deals) == 3  # (no automation on deals: none asked about)


def test_on_entering_a_stage_with_and_without_condition(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    add_automation(
        runtime,
        "qualified_note",
        trigger={"on": "stage", "stage": "qualified"},
        actions=[{"type": "set_fields", "values": {"note": "qualified"}}],
    )
    add_automation(
        runtime,
        "big_to_junk_never",
        trigger={"on": "stage", "stage": "junk", "when": "amount > 1000"},
        actions=[{"type": "set_fields", "values": {"note": "big junk"}}],
    )
    lead = factory.record("lead", name="Ann", amount=10)
    assert note_of(factory, lead.id) is None  # created in "new": not the trigger's stage
    factory.records("move_stage", "lead", lead.id, "qualified")
    assert note_of(factory, lead.id) == "qualified"
    other = factory.record("lead", name="Bo", amount=10)
    factory.records("move_stage", "lead", other.id, "junk")
    assert note_of(factory, other.id) is None  # condition false
    third = factory.record("lead", name="Cy", amount=2000)
    factory.records("move_stage", "lead", third.id, "junk")
    assert note_of(factory, third.id) == "big junk"


def test_on_field_change_with_and_without_condition(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    add_automation(
        runtime,
        "amount_changed",
        trigger={"on": "field", "field": "amount"},
        actions=[{"type": "set_fields", "values": {"note": {"expr": "'now ' + str(amount)"}}}],
    )
    add_automation(
        runtime,
        "name_changed_big",
        trigger={"on": "field", "field": "name", "when": "amount >= 100"},
        actions=[{"type": "move_stage", "stage": "qualified"}],
    )
    lead = factory.record("lead", name="Ann", amount=10)
    assert note_of(factory, lead.id) is None  # creating is not a change
    factory.records("update", "lead", lead.id, {"amount": 50}, version=1)
    assert note_of(factory, lead.id) == "now 50"
    current = factory.records("get", "lead", lead.id)
    factory.records("update", "lead", lead.id, {"name": "Anna"}, version=current.version)
    assert factory.records("get", "lead", lead.id).stage == "new"  # 50 < 100
    current = factory.records("get", "lead", lead.id)
    factory.records("update", "lead", lead.id, {"amount": 500}, version=current.version)
    current = factory.records("get", "lead", lead.id)
    factory.records("update", "lead", lead.id, {"name": "Anne"}, version=current.version)
    moved = factory.records("get", "lead", lead.id)
    assert moved.stage == "qualified" and moved.values["note"] == "now 500"


def test_convert_action_creates_a_record_through_the_map(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    add_automation(
        runtime,
        "auto_convert",
        trigger={"on": "stage", "stage": "qualified", "when": "amount > 100"},
        actions=[{"type": "convert", "map": "lead_to_deal", "targets": ["deal"]}],
    )
    lead = factory.record("lead", name="Big Co", amount=900)
    factory.records("move_stage", "lead", lead.id, "qualified")
    deals = factory.records("list", "deal").items
    assert [(d.values["subject"], d.values["amount"]) for d in deals] == [("Big Co", 900)]
    assert factory.records("get", "lead", lead.id).stage == "converted"


def test_notify_action_writes_unread_notifications(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    add_automation(
        runtime,
        "tell",
        trigger={"on": "create"},
        actions=[
            {
                "type": "notify",
                "message": "New lead {title}",
                "users": ["alice"],
                "roles": ["admin"],
            }
        ],
    )
    lead = factory.record("lead", name="Ann")
    with runtime.transaction() as session:
        alice, bob = get_user(session, "alice"), get_user(session, "bob")
        rows = session.scalars(select(Notification).order_by(Notification.user_id)).all()
        assert {(r.user_id, r.message, r.record_id) for r in rows} == {
            (alice.id, "New lead Ann", lead.id),
            (bob.id, "New lead Ann", lead.id),
        }
        assert unread_count(session, alice.id) == 1


def test_notify_the_owner(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    add_automation(
        runtime,
        "tell_owner",
        trigger={"on": "stage", "stage": "qualified"},
        actions=[{"type": "notify", "message": "{title} is qualified", "owner": True}],
    )
    with runtime.transaction() as session:
        alice = get_user(session, "alice")
        lead = runtime.records(session).create("lead", {"name": "Ann"}, owner_id=alice.id)
    factory.records("move_stage", "lead", lead.id, "qualified")
    with runtime.transaction() as session:
        assert [n.message for n in session.scalars(select(Notification))] == ["Ann is qualified"]
        assert unread_count(session, alice.id) == 1


def test_webhook_action_writes_an_outbox_entry_with_the_record(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    add_webhook(runtime, "erp", "http://127.0.0.1:9/")
    add_automation(
        runtime, "to_erp", trigger={"on": "create"}, actions=[{"type": "webhook", "webhook": "erp"}]
    )
    lead = factory.record("lead", name="Ann", amount=7)
    with runtime.transaction() as session:
        entry = session.scalars(select(OutboxEntry)).one()
    assert entry.status == "pending" and entry.target == "erp" and entry.kind == "webhook"
    assert entry.payload["event"] == "created"
    record = entry.payload["record"]
    assert (record["id"], record["name"], record["amount"], record["stage"]) == (
        lead.id,
        "Ann",
        7,
        "new",
    )


def test_actions_run_in_order_and_fail_as_one(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    add_webhook(runtime, "erp", "http://127.0.0.1:9/")
    add_automation(
        runtime,
        "two_steps",
        trigger={"on": "create"},
        actions=[
            {"type": "webhook", "webhook": "erp"},
            {"type": "set_fields", "values": {"amount": {"expr": "len(name) * 'x'"}}},
        ],
    )
    with pytest.raises(ValidationFailed) as caught:
        factory.record("lead", name="Ann")
    message = caught.value.errors["_record"][0]
    assert "Automation 'Two steps' could not run action 2 (Set fields: amount)" in message
    with runtime.transaction() as session:  # the record, its outbox row: all rolled back
        assert session.scalars(select(OutboxEntry)).all() == []
    assert factory.records("list", "lead").total == 0


def test_an_automation_retriggering_itself_stops_with_a_clear_error(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    add_automation(
        runtime,
        "echo",
        trigger={"on": "field", "field": "note"},
        actions=[{"type": "set_fields", "values": {"note": {"expr": "note + '!'"}}}],
    )
    lead = factory.record("lead", name="Ann")
    with pytest.raises(AutomationLoop) as caught:
        factory.records("update", "lead", lead.id, {"note": "hi"}, version=1)
    message = caught.value.errors["_record"][0]
    assert "'echo' → 'echo'" in message and "nothing was saved" in message
    assert note_of(factory, lead.id) is None


def test_an_automation_that_comes_to_rest_is_not_a_loop(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    add_automation(
        runtime,
        "upper",
        trigger={"on": "field", "field": "note"},
        actions=[{"type": "set_fields", "values": {"note": {"expr": "upper(note)"}}}],
    )
    lead = factory.record("lead", name="Ann")
    factory.records("update", "lead", lead.id, {"note": "hi"}, version=1)
    assert note_of(factory, lead.id) == "HI"


def test_inactive_automations_do_not_run(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    add_automation(
        runtime,
        "off",
        trigger={"on": "create"},
        actions=[{"type": "set_fields", "values": {"note": "x"}}],
        active=False,
    )
    lead = factory.record("lead", name="Ann")
    assert note_of(factory, lead.id) is None


def test_saving_reports_every_problem_by_field(crm, runtime) -> None:  # type: ignore[no-untyped-def]
    data = {
        "entity": "lead",
        "trigger": {"on": "stage", "stage": "nowhere", "when": "amount >"},
        "actions": [
            {
                "type": "set_fields",
                "values": {"colour": "red", "amount": "many", "note": {"expr": "nme"}},
            },
            {"type": "move_stage", "stage": "heaven"},
            {"type": "convert", "map": "no_map"},
            {"type": "notify", "message": "hi", "users": ["zed"], "roles": ["wizard"]},
            {"type": "webhook", "webhook": "nope"},
            {"type": "teleport"},
            {"type": "notify", "message": "", "owner": True, "extra": 1},
        ],
    }
    with runtime.transaction() as session, pytest.raises(ValidationFailed) as caught:
        save_automation(session, runtime.model(session), "Bad Key", data, create=True)
    errors = caught.value.errors
    assert set(errors) == {
        "key",
        "trigger.stage",
        "trigger.when",
        "actions.0.values.colour",
        "actions.0.values.amount",
        "actions.0.values.note",
        "actions.1.stage",
        "actions.2.map",
        "actions.3.users",
        "actions.3.roles",
        "actions.4.webhook",
        "actions.5.type",
        "actions.6.message",
        "actions.6.extra",
    }
    assert "zed" in errors["actions.3.users"][0] and "wizard" in errors["actions.3.roles"][0]
    assert "nme" in errors["actions.0.values.note"][0]
    with runtime.transaction() as session, pytest.raises(ValidationFailed) as caught:
        save_automation(
            session,
            runtime.model(session),
            "x",
            {"entity": "ghost", "trigger": {"on": "sometimes"}, "actions": []},
            create=True,
        )
    assert set(caught.value.errors) == {"entity", "trigger.on", "actions"}


def test_automations_act_as_the_system_through_the_record_service(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    # a user who may create leads triggers an automation whose writes are the system's
    add_automation(
        runtime,
        "stamp",
        trigger={"on": "create"},
        actions=[{"type": "set_fields", "values": {"note": "stamped"}}],
    )
    from trellis.accounts import Actor

    with runtime.transaction() as session:
        bob = Actor.of(get_user(session, "bob"))
        lead = runtime.records(session, bob).create("lead", {"name": "Ann"})
    with runtime.transaction() as session:
        history = runtime.records(session, SYSTEM).get("lead", lead.id)
    assert history.values["note"] == "stamped"
    assert history.created_by == bob.user_id and history.updated_by is None


def test_a_stage_reserved_to_flows_is_refused_to_automations_but_not_to_a_flow(
    crm, runtime, factory
) -> None:  # type: ignore[no-untyped-def]
    from trellis.flows.actions import ActionContext, check_action, run_action

    factory.entity("request", {"reason": "text"})
    factory.meta(
        "create_pipeline",
        "request",
        "approval",
        "Approval",
        [
            {"key": "draft", "label": "Draft", "kind": "open"},
            {"key": "approved", "label": "Approved", "kind": "success", "flow_only": True},
        ],
    )
    move = {"type": "move_stage", "stage": "approved"}
    with runtime.transaction() as session, pytest.raises(ValidationFailed) as caught:
        save_automation(
            session,
            runtime.model(session),
            "self_approve",
            {"entity": "request", "trigger": {"on": "create"}, "actions": [move]},
            create=True,
        )
    assert caught.value.errors == {"actions.0.stage": ["Only a flow moves records to 'Approved'."]}
    request = factory.record("request", reason="holiday")
    with runtime.transaction() as session:  # a flow's service task runs the same action
        model = runtime.model(session)
        assert check_action(session, model, model.entity("request"), move, for_flow=True) == {}
        service = runtime.records(session)
        run_action(
            ActionContext(service, "request", request.id, "flow 'leave'", by_flow="leave"), move
        )
    assert factory.records("get", "request", request.id).stage == "approved"


def test_notify_the_users_in_a_user_field(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("task", {"subject": "text", "assigned": "user"}, title="{subject}")
    add_automation(
        runtime,
        "tell_assignee",
        entity="task",
        trigger={"on": "field", "field": "assigned"},
        actions=[{"type": "notify", "message": "{title} is yours", "fields": ["assigned"]}],
    )
    task = factory.record("task", subject="Call Ann")
    factory.records("update", "task", task.id, {"assigned": "alice"}, version=1)
    with runtime.transaction() as session:
        alice = get_user(session, "alice")
        rows = session.scalars(select(Notification)).all()
        assert [(r.user_id, r.message) for r in rows] == [(alice.id, "Call Ann is yours")]
    with runtime.transaction() as session, pytest.raises(ValidationFailed) as caught:
        save_automation(
            session,
            runtime.model(session),
            "bad_fields",
            {
                "entity": "task",
                "trigger": {"on": "create"},
                "actions": [{"type": "notify", "message": "x", "fields": ["subject", "boss"]}],
            },
            create=True,
        )
    assert caught.value.errors == {
        "actions.0.fields": ["Tasks have no user field 'subject', 'boss'."]
    }
