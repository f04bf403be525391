"""A running process: SpiffWorkflow's workflow behind a small interface of our own types.

A process is loaded from its stored JSON and its version's shared spec, stepped, and dumped
again; the script engine is attached after every load (flows.md, trap 6), and the spec is
never part of the stored JSON (trap 4).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.util.task import TaskState

from trellis.flows.engine.sandbox import ExpressionScriptEngine, Services
from trellis.flows.engine.specs import ParsedSpec


class NotWaiting(LookupError):
    """The task is not waiting for a decision (decided, cancelled or unknown)."""


class _ByReference(BpmnWorkflowConverter):
    """The workflow without its spec: the spec lives once per version (trap 4)."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], parsed: ParsedSpec | None = None) -> Any:
        assert parsed is not None, "a process loads with its version's spec"
        workflow = self.target_class(parsed.spec, parsed.subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _serializer() -> BpmnWorkflowSerializer:
    registry = BpmnWorkflowSerializer.configure()
    _ByReference(BpmnWorkflow, registry)
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
    registry.register(
        date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"])
    )
    return BpmnWorkflowSerializer(registry)


SERIALIZER = _serializer()


#: ``refresh(task id, task data)``: values to set on an engine task before it runs, or None
Refresh = Callable[[str, dict[str, Any]], dict[str, Any] | None]


@dataclass(frozen=True)
class UserStep:
    """A user task waiting for a decision."""

    id: str
    activity: str
    label: str
    assignee: str | None
    """``user:<username>``, ``role:<key>`` or None: the multi-instance input item, else the
    variable ``<activity>_assignee``, else the task's lane"""


@dataclass(frozen=True)
class Timer:
    """A timer the process waits for."""

    task_id: str
    due: datetime | None
    activity: str | None
    """the activity a boundary timer is attached to"""


class Process:
    """One process instance in memory. Never keep it past a failed step: reload instead."""

    def __init__(
        self, workflow: Any, runs_actions: bool = False, refresh: Refresh | None = None
    ) -> None:
        self._workflow = workflow
        #: whether its service tasks run actions (their effects go with a failed step)
        self.runs_actions = runs_actions
        #: data the platform supplies to an engine task just before it runs (``refresh(its
        #: id, its data)``: the values to set, or None), e.g. a role's members at its step
        self.refresh = refresh

    # -- life cycle ------------------------------------------------------------------------

    @classmethod
    def start(
        cls, parsed: ParsedSpec, data: dict[str, Any], services: Services | None = None
    ) -> Process:
        """A new process with ``data`` on its start task (trap 5), run up to its first wait;
        ``services`` runs its service tasks' actions."""
        workflow = BpmnWorkflow(
            parsed.spec, parsed.subprocess_specs, script_engine=ExpressionScriptEngine(services)
        )
        start = workflow.get_tasks(state=TaskState.READY)[0]
        start.data.update(data)
        process = cls(workflow, parsed.runs_actions)
        process.advance()
        return process

    @classmethod
    def load(
        cls,
        parsed: ParsedSpec,
        state: str,
        services: Services | None = None,
        refresh: Refresh | None = None,
    ) -> Process:
        workflow = SERIALIZER.registry.restore(json.loads(state), parsed=parsed)
        workflow.script_engine = ExpressionScriptEngine(services)
        return cls(workflow, parsed.runs_actions, refresh)

    def dump(self) -> str:
        registry = SERIALIZER.registry
        registry._encoder_mode = True
        try:
            dct = registry.convert(self._workflow)
            return json.dumps(dct, cls=SERIALIZER._encoder_cls, separators=(",", ":"))
        finally:
            registry._encoder_mode = False

    def advance(self) -> None:
        refresh = self.refresh
        if refresh is None:
            self._workflow.do_engine_steps()
            return

        def before(task: Any) -> None:
            values = refresh(task.task_spec.bpmn_id, task.data)
            if values:
                task.data.update(values)

        self._workflow.do_engine_steps(will_complete_task=before)

    # -- reading ---------------------------------------------------------------------------

    @property
    def completed(self) -> bool:
        return bool(self._workflow.completed)

    @property
    def data(self) -> dict[str, Any]:
        """The data of the finished process (its last task's), or of the workflow."""
        workflow = self._workflow
        if workflow.last_task is not None:
            return {**workflow.data, **workflow.last_task.data}
        return dict(workflow.data)

    def user_steps(self) -> list[UserStep]:
        steps = []
        for task in self._workflow.get_tasks(state=TaskState.READY, manual=True):
            spec = task.task_spec
            if not isinstance(spec, UserTask):
                continue
            assignee = None
            parent = task.parent
            if (
                parent is not None
                and isinstance(parent.task_spec, MultiInstanceTask)
                and parent.task_spec.input_item is not None
            ):
                assignee = task.data.get(parent.task_spec.input_item.bpmn_id)
            if not isinstance(assignee, str):
                assignee = task.data.get(f"{spec.bpmn_id}_assignee")
            if not isinstance(assignee, str):
                assignee = spec.lane
            steps.append(
                UserStep(str(task.id), spec.bpmn_id, spec.bpmn_name or spec.bpmn_id, assignee)
            )
        return steps

    def timers(self) -> list[Timer]:
        timers = []
        for task in self._workflow.event_manager.tasks.values():
            definition = task.task_spec.event_definition
            if not isinstance(definition, TimerEventDefinition):
                continue
            value = task.internal_data.get("event_value")
            if isinstance(value, dict):  # a cycle: its next time
                value = value.get("next")
            activity = None
            if task.parent is not None:  # a boundary event: the activity is its sibling
                for sibling in task.parent.children:
                    spec = sibling.task_spec
                    if (
                        sibling is not task
                        and spec.bpmn_id is not None
                        and getattr(spec, "event_definition", None) is None
                    ):
                        activity = spec.bpmn_id
            timers.append(Timer(str(task.id), _instant(value), activity))
        return timers

    def next_due(self) -> datetime | None:
        dues = [t.due for t in self.timers() if t.due is not None]
        return min(dues) if dues else None

    # -- acting ----------------------------------------------------------------------------

    def decide(self, task_id: str, decision: str, values: dict[str, Any] | None = None) -> None:
        """Complete a ready user task with ``decision`` (the multi-instance output item, and
        ``<activity>_decision``) and run the process up to its next wait."""
        task = self._workflow.tasks.get(UUID(task_id))
        if (
            task is None
            or task.state != TaskState.READY
            or not isinstance(task.task_spec, UserTask)
        ):
            raise NotWaiting("This task is not waiting for a decision.")
        task.data.update(values or {})
        parent = task.parent
        if (
            parent is not None
            and isinstance(parent.task_spec, MultiInstanceTask)
            and parent.task_spec.output_item is not None
        ):
            task.data[parent.task_spec.output_item.bpmn_id] = decision
        task.data[f"{task.task_spec.bpmn_id}_decision"] = decision
        task.run()
        self.advance()

    def fire_timers(self, now: datetime) -> int:
        """Fire every timer due at ``now`` (the clock is passed in); returns how many fired."""
        fired = 0
        for task in list(self._workflow.event_manager.tasks.values()):
            definition = task.task_spec.event_definition
            if not isinstance(definition, TimerEventDefinition):
                continue
            value = task.internal_data.get("event_value")
            if isinstance(value, dict):
                continue  # cycles follow the wall clock
            due = _instant(value)
            if due is not None and due <= now and not task.internal_data.get("event_fired"):
                task.internal_data["event_fired"] = True
                fired += 1
        if fired:
            self._workflow.refresh_timers()
            self.advance()
        return fired

    def cancel(self) -> None:
        self._workflow.cancel()


def _instant(value: Any) -> datetime | None:
    """A timer's stored value as aware UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
