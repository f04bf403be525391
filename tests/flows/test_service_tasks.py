"""BPMN service tasks run actions of the one action registry (issue 13, deliverable 7): by
name, with settings from the operator's parameters evaluated as expressions, as the flow
(``by_flow``: a stage reserved to flows opens to it); a webhook goes through the outbox."""

from __future__ import annotations

from itertools import pairwise

import pytest
from sqlalchemy import select

from trellis.errors import ValidationFailed
from trellis.flows.outbox import OutboxEntry
from trellis.flows.webhooks import save_webhook


def service(task_id: str, name: str, action: str, **params: str) -> str:
    values = "".join(
        f'<spiffworkflow:parameter id="{key}" type="any" value="{value}"/>'
        for key, value in params.items()
    )
    return (
        f'<bpmn:serviceTask id="{task_id}" name="{name}"><bpmn:extensionElements>'
        f'<spiffworkflow:serviceTaskOperator id="{action}"><spiffworkflow:parameters>{values}'
        "</spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>"
        "</bpmn:extensionElements></bpmn:serviceTask>"
    )


def process(*nodes: str) -> str:
    """A straight line start -> nodes... -> end."""
    ids = ["start", *(n.split('id="', 1)[1].split('"', 1)[0] for n in nodes), "end"]
    flows = "".join(
        f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>'
        for i, (a, b) in enumerate(pairwise(ids))
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
        'id="d" targetNamespace="t"><bpmn:process id="p" isExecutable="true">'
        '<bpmn:startEvent id="start"/>' + "".join(nodes) + '<bpmn:endEvent id="end"/>'
        f"{flows}</bpmn:process></bpmn:definitions>"
    )


CHECK = service(
    "check",
    "Mark as checked",
    "set_fields",
    **{"values.name": "name + &quot; (checked)&quot;", "values.amount": "amount * 2"},
)
WHO = (
    '<bpmn:scriptTask id="who"><bpmn:script>confirm_assignee = "user:ann"</bpmn:script>'
    "</bpmn:scriptTask>"
)
CONFIRM = '<bpmn:userTask id="confirm" name="Confirm"/>'
NOTIFY_ERP = service("erp", "Tell the ERP", "webhook", webhook="&quot;erp&quot;")
WIN = service("win", "Win", "move_stage", stage="&quot;won&quot;")


def flow_with(flows, key: str, *nodes: str) -> None:  # type: ignore[no-untyped-def]
    flows("create_flow", {"key": key, "label": key.title(), "entity": "deal"})
    flows("add_version", key, bpmn=process(*nodes))
    flows("publish", key, 1)


def test_service_tasks_set_fields_enqueue_a_webhook_and_enter_a_flow_stage(  # type: ignore[no-untyped-def]
    flows, factory, runtime
) -> None:
    with runtime.transaction() as session:
        save_webhook(
            session, runtime.settings["SECRET_KEY"], "erp", "http://127.0.0.1:9/", create=True
        )
    flow_with(flows, "close", CHECK, WHO, CONFIRM, NOTIFY_ERP, WIN)
    deal = factory.record("deal", name="Apollo", amount=700).id
    instance = flows("start", "close", "deal", deal).id
    # the first service task ran when the flow started, as the flow
    record = factory.records("get", "deal", deal)
    assert record.values["name"] == "Apollo (checked)" and record.values["amount"] == 1400
    assert record.stage == "new"
    with runtime.transaction() as session:
        assert session.scalars(select(OutboxEntry)).all() == []
    # after the decision (a fresh load of the process), the webhook and the move
    flows("complete", flows.task_of(instance, "ann"), "approve", actor="ann")
    described = flows.describe(instance)
    assert described["status"] == "completed", described["error"]
    assert factory.records("get", "deal", deal).stage == "won"  # reserved to flows
    with runtime.transaction() as session:
        entry = session.scalars(select(OutboxEntry)).one()
    assert (entry.kind, entry.target, entry.status) == ("webhook", "erp", "pending")
    assert entry.payload["record"]["name"] == "Apollo (checked)"
    assert entry.payload["source"] == "flow 'close'"
    assert entry.payload["event"] == "service_task"


def test_a_refused_action_fails_the_instance_with_the_reason_and_changes_nothing(  # type: ignore[no-untyped-def]
    flows, factory, runtime
) -> None:
    bad = service("bad", "Bad amount", "set_fields", **{"values.amount": "&quot;many&quot;"})
    flow_with(flows, "broken", CHECK, bad)
    deal = factory.record("deal", name="Gemini", amount=5).id
    instance = flows("start", "broken", "deal", deal).id
    described = flows.describe(instance)
    assert described["status"] == "failed"
    assert described["error"] == "Set fields: amount cannot run: values.amount: Not a valid number."
    # the first action's change went with the failed step: nothing half done
    record = factory.records("get", "deal", deal)
    assert (record.values["name"], record.values["amount"]) == ("Gemini", 5)


def test_a_service_task_must_name_a_known_action_and_its_settings(flows) -> None:  # type: ignore[no-untyped-def]
    flows("create_flow", {"key": "odd", "label": "Odd", "entity": "deal"})
    with pytest.raises(ValidationFailed) as refused:
        flows("add_version", "odd", bpmn=process(service("x", "X", "launch", target="1")))
    assert "no action 'launch'" in refused.value.errors["bpmn"][0]
    with pytest.raises(ValidationFailed) as refused:
        flows("add_version", "odd", bpmn=process(service("x", "X", "move_stage", colour="1")))
    assert "move_stage has no setting 'colour'" in refused.value.errors["bpmn"][0]
    with pytest.raises(ValidationFailed) as refused:
        flows("add_version", "odd", bpmn=process(service("x", "X", "move_stage", stage="nope")))
    assert "unknown name 'nope'" in refused.value.errors["bpmn"][0]
    with pytest.raises(ValidationFailed) as refused:  # no operator at all
        flows("add_version", "odd", bpmn=process('<bpmn:serviceTask id="x" name="X"/>'))
    assert "must name one action" in refused.value.errors["bpmn"][0]
