"""BPMN service tasks: each names an action of the flows' action registry and its settings.

A service task carries the operator as the SpiffWorkflow modeler writes it::

    <bpmn:serviceTask id="mark" name="Mark as checked">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="set_fields">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="values.note" type="str" value="&quot;checked&quot;"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
    </bpmn:serviceTask>

The operator's ``id`` is the action's name; each parameter's ``id`` is a setting (a dotted
path nests it: ``values.note``) and its ``value`` an expression of the platform's language,
evaluated on the process data when the task runs. What an action does is not the engine's
business: the script engine hands the name and the evaluated settings to the ``services``
function its process was given (see :mod:`trellis.flows.instances`).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NSMAP = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "spiffworkflow": SPIFF_NS}


class ActionTask(ServiceTask):
    """A service task running one action with settings evaluated from expressions."""

    def __init__(
        self,
        wf_spec: Any,
        bpmn_id: str,
        operation_name: str,
        operation_params: dict[str, str],
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.operation_name = operation_name
        self.operation_params = operation_params

    def _execute(self, task: Any) -> bool:
        engine = task.workflow.script_engine
        params = {
            name: engine.evaluate(task, source) for name, source in self.operation_params.items()
        }
        engine.call_service(task, operation_name=self.operation_name, operation_params=params)
        return True


class ActionTaskParser(TaskParser):
    def create_task(self) -> ActionTask:
        operators = self.node.xpath(
            "./bpmn:extensionElements/spiffworkflow:serviceTaskOperator", namespaces=NSMAP
        )
        name = operators[0].get("id") if len(operators) == 1 else None
        if not name:
            raise ValidationException(
                f"Service task {self.node.get('name') or self.bpmn_id!r} must name one action "
                "(spiffworkflow:serviceTaskOperator with an id).",
                node=self.node,
                file_name=self.filename,
            )
        params: dict[str, str] = {}
        for node in operators[0].xpath(".//spiffworkflow:parameter", namespaces=NSMAP):
            key, value = node.get("id"), node.get("value")
            if not key or value is None:
                raise ValidationException(
                    f"Service task {self.node.get('name') or self.bpmn_id!r}: every parameter "
                    "needs an id and a value.",
                    node=self.node,
                    file_name=self.filename,
                )
            params[key] = value
        return ActionTask(
            self.spec,
            self.bpmn_id,
            operation_name=name,
            operation_params=params,
            **self.bpmn_attributes,
        )


#: the parser classes our BPMN parser overrides
PARSERS = {full_tag("serviceTask"): (ActionTaskParser, ActionTask)}


def nest(params: dict[str, Any]) -> dict[str, Any]:
    """``{"values.note": 1, "stage": "x"}`` -> ``{"values": {"note": 1}, "stage": "x"}``."""
    out: dict[str, Any] = {}
    for path, value in params.items():
        *parents, last = path.split(".")
        target = out
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ValueError(f"The parameter {path!r} clashes with another one.")
        target[last] = value
    return out
