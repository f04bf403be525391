"""A diagram (BPMN DI) for a BPMN process that has none, so that an exported flow opens in
bpmn-js or the Camunda Modeler: every flow node gets a shape, every sequence flow an edge.

The layout is simple and deterministic: nodes in columns by their longest distance from the
start, in rows by the order they are reached; a boundary event sits on the lower edge of its
activity and its flows leave downwards.
"""

from __future__ import annotations

from collections import defaultdict
from xml.sax.saxutils import quoteattr

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NOT_NODES = {
    "sequenceFlow",
    "laneSet",
    "dataObject",
    "dataObjectReference",
    "dataStoreReference",
    "textAnnotation",
    "association",
    "property",
    "ioSpecification",
    "documentation",
    "extensionElements",
}
COLUMN, ROW = 170, 140
LEFT, TOP = 120, 120


def _size(kind: str) -> tuple[int, int]:
    if kind.endswith("Event"):
        return 36, 36
    if kind.endswith("Gateway"):
        return 50, 50
    return 100, 80


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def diagram(document: str) -> str:
    """``document`` (BPMN XML with one process) with a ``bpmndi:BPMNDiagram`` added."""
    root = etree.fromstring(
        document.encode(), etree.XMLParser(resolve_entities=False, no_network=True)
    )
    process = root.find(f"{{{BPMN}}}process")
    if process is None:
        return document
    kinds: dict[str, str] = {}
    attached: dict[str, str] = {}
    for child in process:
        if not isinstance(child.tag, str) or child.get("id") is None:
            continue
        kind = _local(child)
        if kind in NOT_NODES:
            continue
        kinds[child.get("id")] = kind
        if kind == "boundaryEvent" and child.get("attachedToRef"):
            attached[child.get("id")] = child.get("attachedToRef")
    flows = [
        (f.get("id"), f.get("sourceRef"), f.get("targetRef"))
        for f in process.iter(f"{{{BPMN}}}sequenceFlow")
        if f.get("sourceRef") in kinds and f.get("targetRef") in kinds
    ]
    columns, rows = _place(kinds, attached, flows)
    centres: dict[str, tuple[float, float]] = {}
    for node in kinds:
        if node in attached:
            continue
        centres[node] = (LEFT + columns[node] * COLUMN, TOP + rows[node] * ROW)
    for event, host in attached.items():
        hx, hy = centres.get(host, (LEFT, TOP))
        centres[event] = (hx + 30, hy + _size("task")[1] / 2)
    shapes = []
    for node, kind in kinds.items():
        (x, y), (w, h) = centres[node], _size(kind)
        marker = ' isMarkerVisible="true"' if kind == "exclusiveGateway" else ""
        shapes.append(
            f"<bpmndi:BPMNShape id={quoteattr(node + '_di')} bpmnElement={quoteattr(node)}"
            f'{marker}><dc:Bounds x="{x - w / 2:g}" y="{y - h / 2:g}" width="{w}" '
            f'height="{h}"/></bpmndi:BPMNShape>'
        )
    edges = []
    for flow_id, source, target in flows:
        points = _waypoints(centres, kinds, attached, source, target)
        edges.append(
            f"<bpmndi:BPMNEdge id={quoteattr(flow_id + '_di')} bpmnElement={quoteattr(flow_id)}>"
            + "".join(f'<di:waypoint x="{x:g}" y="{y:g}"/>' for x, y in points)
            + "</bpmndi:BPMNEdge>"
        )
    process_id = process.get("id")
    xml = (
        f"<bpmndi:BPMNDiagram id={quoteattr('diagram_' + process_id)} "
        'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
        'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI">'
        f"<bpmndi:BPMNPlane id={quoteattr('plane_' + process_id)} "
        f"bpmnElement={quoteattr(process_id)}>\n"
        + "\n".join(shapes + edges)
        + "\n</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>\n"
    )
    closing = document.rindex("</")
    return document[:closing] + xml + document[closing:]


def _place(
    kinds: dict[str, str], attached: dict[str, str], flows: list[tuple[str, str, str]]
) -> tuple[dict[str, int], dict[str, int]]:
    """Column (longest path from a source) and row (order reached within the column) of
    every node not attached to another; a boundary event's flows count as its host's."""

    def owner(node: str) -> str:
        return attached.get(node, node)

    successors: dict[str, list[str]] = defaultdict(list)
    incoming: dict[str, int] = {n: 0 for n in kinds if n not in attached}
    for _flow, source, target in flows:
        source, target = owner(source), owner(target)
        if source == target:
            continue
        successors[source].append(target)
        incoming[target] += 1
    columns = {n: 0 for n in incoming}
    ready = [n for n, count in incoming.items() if count == 0]
    order: list[str] = []
    remaining = dict(incoming)
    while ready or len(order) < len(incoming):
        if not ready:  # a cycle: take the first node not placed yet
            ready = [next(n for n in incoming if n not in order)]
            remaining[ready[0]] = 0
        node = ready.pop(0)
        if node in order:
            continue
        order.append(node)
        for target in successors[node]:
            if target in order:
                continue
            columns[target] = max(columns[target], columns[node] + 1)
            remaining[target] -= 1
            if remaining[target] == 0:
                ready.append(target)
    used: dict[int, int] = defaultdict(int)
    rows = {}
    for node in order:
        rows[node] = used[columns[node]]
        used[columns[node]] += 1
    return columns, rows


def _waypoints(
    centres: dict[str, tuple[float, float]],
    kinds: dict[str, str],
    attached: dict[str, str],
    source: str,
    target: str,
) -> list[tuple[float, float]]:
    (sx, sy), (tx, ty) = centres[source], centres[target]
    sw, sh = _size(kinds[source])
    tw, _th = _size(kinds[target])
    end = (tx - tw / 2, ty)
    if source in attached:  # leaves a boundary event downwards, then towards the target
        start = (sx, sy + sh / 2)
        return [start, (sx, ty), end] if ty != start[1] else [start, end]
    start = (sx + sw / 2, sy)
    if sy == ty:
        return [start, end]
    middle = (start[0] + end[0]) / 2
    return [start, (middle, sy), (middle, ty), end]
