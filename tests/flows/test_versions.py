"""Versions: drafts editable, published ones immutable; publishing is live for new
instances at once while running ones finish on their own version; counts per version."""

from __future__ import annotations

import pytest

from trellis.errors import Conflict, PermissionDenied
from trellis.flows.engine import SPECS
from trellis.runtime import Runtime


def one_step(users: list[str]) -> dict:  # type: ignore[type-arg]
    return {"steps": [{"id": "s", "label": "Approve", "approvers": {"users": users}}]}


def test_running_instances_finish_on_their_version(flows, factory, settings) -> None:  # type: ignore[no-untyped-def]
    flows("create_flow", {"key": "ok", "label": "OK", "entity": "deal"})
    v1 = flows("add_version", "ok", route=one_step(["ann"]))
    flows("update_draft", "ok", 1, route=one_step(["bob"]))  # a draft can change
    flows("update_draft", "ok", 1, route=one_step(["ann"]))
    flows("publish", "ok", 1)
    with pytest.raises(Conflict):
        flows("update_draft", "ok", 1, route=one_step(["cy"]))
    deal = factory.record("deal", name="A").id
    old = flows("start", "ok", "deal", deal).id

    flows("add_version", "ok", route=one_step(["bob", "cy"]))
    flows("publish", "ok", 2)
    new = flows("start", "ok", "deal", deal).id
    assert [t["assignee"] for t in flows.open_tasks(old)] == ["ann"]
    assert {t["assignee"] for t in flows.open_tasks(new)} == {"bob", "cy"}
    assert flows.describe(old)["version"] == 1 and flows.describe(new)["version"] == 2

    # the old instance finishes on v1, from a fresh process with no cached spec
    SPECS._items.clear()
    task = flows.task_of(old, "ann")
    other = Runtime.from_settings(settings)
    try:
        with other.transaction() as session:
            other.flows(session, flows.actors["ann"]).complete(task, "approve")
    finally:
        other.dispose()
    assert flows.describe(old)["outcome"] == "approved"
    assert flows("version", "ok", 1)["instances"] == {"running": 0, "finished": 1}
    assert flows("version", "ok", 2)["instances"] == {"running": 1, "finished": 0}
    described = flows("version", "ok", 2)
    assert described["published"] and described["live"] and len(described["hash"]) == 64
    assert described["route"] == one_step(["bob", "cy"])
    assert "<bpmn:userTask" in flows("bpmn", "ok", 2)
    assert v1.hash != described["hash"]


def test_a_draft_can_be_tried_and_only_admins_change_flows(flows, factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        flows("create_flow", {"key": "x", "label": "X", "entity": "deal"}, actor="ann")
    flows("create_flow", {"key": "x", "label": "X", "entity": "deal"})
    flows("add_version", "x", route=one_step(["ann"]))
    deal = factory.record("deal", name="A").id
    tried = flows("start", "x", "deal", deal, version=1)
    assert flows.describe(tried.id)["version"] == 1


def test_a_bpmn_version_is_checked_element_by_element(flows) -> None:  # type: ignore[no-untyped-def]
    from trellis.errors import ValidationFailed

    flows("create_flow", {"key": "b", "label": "B", "entity": "deal"})
    with pytest.raises(ValidationFailed) as failure:
        flows("add_version", "b", bpmn="<not-bpmn")
    assert "bpmn" in failure.value.errors
    xml = BPMN.replace("CONDITION", "unknown_name > 1")
    with pytest.raises(ValidationFailed) as failure:
        flows("add_version", "b", bpmn=xml)
    assert "unknown name 'unknown_name'" in " ".join(failure.value.errors["bpmn"])
    version = flows("add_version", "b", bpmn=BPMN.replace("CONDITION", "amount &gt; 10"))
    assert version.number == 1 and version.route is None


BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
<bpmn:process id="p" isExecutable="true">
<bpmn:startEvent id="start"/>
<bpmn:exclusiveGateway id="gw" default="f3"/>
<bpmn:scriptTask id="big"><bpmn:script>size = "big"</bpmn:script></bpmn:scriptTask>
<bpmn:endEvent id="end1"/><bpmn:endEvent id="end2"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw"/>
<bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="big">
<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">CONDITION</bpmn:conditionExpression>
</bpmn:sequenceFlow>
<bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="end2"/>
<bpmn:sequenceFlow id="f4" sourceRef="big" targetRef="end1"/>
</bpmn:process></bpmn:definitions>
"""
