"""Every condition and script of a running process is the platform's expression language:
Python's import, dunder access and huge values are refused inside a running process."""

from __future__ import annotations

import pytest

from trellis.expressions import ExpressionError
from trellis.flows.engine import parse_script

PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
<bpmn:process id="p" isExecutable="true">
<bpmn:startEvent id="start"/>
<bpmn:scriptTask id="work" name="Work"><bpmn:script>SCRIPT</bpmn:script></bpmn:scriptTask>
<bpmn:exclusiveGateway id="gw" default="f4"/>
<bpmn:userTask id="wait" name="Wait"/>
<bpmn:endEvent id="end"/><bpmn:endEvent id="end2"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
<bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="gw"/>
<bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="wait">
<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">CONDITION</bpmn:conditionExpression>
</bpmn:sequenceFlow>
<bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="end2"/>
<bpmn:sequenceFlow id="f5" sourceRef="wait" targetRef="end"/>
</bpmn:process></bpmn:definitions>
"""


def run(flows, factory, script: str, condition: str = "True"):  # type: ignore[no-untyped-def]
    """Start a process whose script and condition are given, bypassing the checks made when
    a version is added (as a stored document from elsewhere would)."""
    from trellis.flows.models import Flow, FlowVersion

    xml = PROCESS.replace("SCRIPT", script).replace("CONDITION", condition)
    with flows.runtime.transaction() as session:
        flow = Flow(key="sandbox", label="Sandbox", entity="deal", trigger="manual")
        session.add(flow)
        session.flush()
        import hashlib

        version = FlowVersion(
            flow_id=flow.id, number=1, bpmn=xml, hash=hashlib.sha256(xml.encode()).hexdigest()
        )
        session.add(version)
        session.flush()
        flow.live_version_id = version.id
    deal = factory.record("deal", name="A", amount=5).id
    instance = flows("start", "sandbox", "deal", deal)
    return flows.describe(instance.id)


@pytest.mark.parametrize(
    ("script", "condition", "message"),
    [
        ("x = __import__('os').getpid()", "True", "can be called"),
        ("x = 1", "__import__('os').system('touch PWNED') == 0", "can be called"),
        ("x = __import__", "True", "'__import__'"),
        ("x = name.__class__", "True", "__class__"),
        ("x = 'a' * 10000000", "True", "longer than"),
        ("x = 10 ** 10 ** 10", "True", "Exponent"),
        ("import os", "True", "name = expression"),
        ("x = 1", "[1] * 100000 == 1", "longer than"),
    ],
)
def test_python_is_refused_inside_a_running_process(  # type: ignore[no-untyped-def]
    flows, factory, script, condition, message, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    described = run(flows, factory, script, condition)
    assert not (tmp_path / "PWNED").exists()
    assert described["status"] == "failed"
    assert message in described["error"]
    assert described["tasks"] == []


def test_a_plain_script_and_condition_run(flows, factory) -> None:  # type: ignore[no-untyped-def]
    described = run(
        flows, factory, "bigger = amount * 2\nlabel = upper(name)", "bigger == 10 and label == 'A'"
    )
    assert described["status"] == "running"
    assert [t["label"] for t in described["tasks"]] == ["Wait"]


def test_scripts_are_assignment_lines_only() -> None:
    assert [name for name, _ in parse_script("a = 1\n\nb = a + 1")] == ["a", "b"]
    for bad in ("a == 1", "_a = 1", "a, b = 1, 2", "def f(): pass", "a = 1; import os"):
        with pytest.raises(ExpressionError):
            parse_script(bad)
