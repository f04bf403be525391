"""A route's exported BPMN stands on its own: SpiffWorkflow's own parser reads it, it carries
the approvers (no route JSON needed to run it) and a diagram (BPMN DI) with a shape for every
flow node and an edge for every sequence flow, so it opens in bpmn-js or the Camunda Modeler."""

from __future__ import annotations

from lxml import etree
from SpiffWorkflow.bpmn.parser import BpmnParser, BpmnValidator

from trellis.flows.engine import Process, parse_bpmn

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "trellis": "https://trellis.example/flows",
}
ROUTE = {
    "steps": [
        {
            "id": "legal",
            "label": "Legal",
            "approvers": {"users": ["ann", "bob"]},
            "mode": "any",
            "deadline": "P2D",
            "on_deadline": "reject",
        },
        {
            "id": "finance",
            "label": "Finance",
            "approvers": {"field": "manager"},
            "parallel_with": "legal",
        },
        {
            "id": "board",
            "label": "Board",
            "approvers": {"role": "manager"},
            "mode": "any",  # one task for the role (all and quorum: the platform's members)
            "when": "amount > 10000",
            "deadline": "P1D",
            "escalate_to": {"user": "boss"},
        },
    ],
    "on_approved": {"stage": "won"},
}
NOT_NODES = {"sequenceFlow", "documentation", "extensionElements"}


def test_the_exported_bpmn_parses_alone_and_has_a_diagram(flows) -> None:  # type: ignore[no-untyped-def]
    flows.flow("deal_ok", ROUTE)
    xml = flows("bpmn", "deal_ok", 1)

    # SpiffWorkflow's own parser and schema check, without anything of ours
    parser = BpmnParser(validator=BpmnValidator())
    parser.add_bpmn_str(xml.encode(), filename="deal_ok.bpmn")
    (process_id,) = parser.get_process_ids()
    spec = parser.get_spec(process_id)
    assert {"legal", "finance", "board", "board_escalation"} <= set(spec.task_specs)

    root = etree.fromstring(xml.encode())
    (process,) = root.findall("bpmn:process", NS)
    nodes = {
        el.get("id")
        for el in process
        if isinstance(el.tag, str) and etree.QName(el).localname not in NOT_NODES
    }
    flows_ = {el.get("id") for el in process.findall("bpmn:sequenceFlow", NS)}
    (plane,) = root.findall("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    assert plane.get("bpmnElement") == process_id
    shapes = {s.get("bpmnElement"): s for s in plane.findall("bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in plane.findall("bpmndi:BPMNEdge", NS)}
    assert set(shapes) == nodes and len(nodes) > 20
    assert set(edges) == flows_
    for shape in shapes.values():
        bounds = shape.find("dc:Bounds", NS)
        assert float(bounds.get("width")) > 0 and float(bounds.get("height")) > 0
    for edge in edges.values():
        assert len(edge.findall("di:waypoint", NS)) >= 2
    # distinct places for the nodes that are not attached to another
    free = [
        (s.find("dc:Bounds", NS).get("x"), s.find("dc:Bounds", NS).get("y"))
        for node, s in shapes.items()
        if not node.endswith("_deadline")
    ]
    assert len(set(free)) == len(free)

    # the approvers are in the document, not only in the route JSON
    legal = process.find("bpmn:userTask[@id='legal']", NS)
    names = [u.get("name") for u in legal.findall(".//trellis:approvers/trellis:user", NS)]
    assert names == ["ann", "bob"]
    assert legal.find(".//trellis:approvers", NS).get("mode") == "any"
    finance = process.find("bpmn:userTask[@id='finance']", NS)
    assert finance.find(".//trellis:field", NS).get("key") == "manager"


def test_the_exported_bpmn_runs_without_the_route(flows) -> None:  # type: ignore[no-untyped-def]
    """Started with nothing but the record's values, the process asks the right people."""
    flows.flow("deal_ok", ROUTE)
    xml = flows("bpmn", "deal_ok", 1)
    process = Process.start(parse_bpmn(xml), {"amount": 20000, "finance_approvers": ["user:cy"]})
    asked = {(s.activity, s.assignee) for s in process.user_steps()}
    assert asked == {("legal", "user:ann"), ("legal", "user:bob"), ("finance", "user:cy")}
    for activity in ("legal", "finance"):  # legal: any one of the two
        first = next(s for s in process.user_steps() if s.activity == activity)
        process.decide(first.id, "approve")
    assert {(s.activity, s.assignee) for s in process.user_steps()} == {("board", "role:manager")}
    (board,) = process.user_steps()
    process.decide(board.id, "approve")
    assert process.completed and process.data["outcome"] == "approved"
