"""The flows service: one object per transaction and actor, in front of the small modules
that do the work (:mod:`.definitions`, :mod:`.instances`, :mod:`.tasks`, :mod:`.timers`).
Like every service it takes a session and never commits."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from trellis.flows import definitions, instance_reading, instances, readers, tasks, timers
from trellis.flows.context import FlowContext
from trellis.flows.models import Flow, FlowInstance, FlowTask, FlowVersion, Substitute


class FlowService:
    def __init__(self, context: FlowContext) -> None:
        self.context = context

    # -- definitions -----------------------------------------------------------------------

    def create_flow(self, data: dict[str, Any]) -> Flow:
        return definitions.create_flow(self.context, data)

    def update_flow(self, key: str, data: dict[str, Any]) -> Flow:
        return definitions.update_flow(self.context, key, data)

    def flow(self, key: str) -> Flow:
        return definitions.get_flow(self.context.session, key)

    def add_version(self, key: str, *, route: Any = None, bpmn: Any = None) -> FlowVersion:
        return definitions.add_version(self.context, key, route=route, bpmn=bpmn)

    def update_draft(
        self, key: str, number: int, *, route: Any = None, bpmn: Any = None
    ) -> FlowVersion:
        return definitions.update_draft(self.context, key, number, route=route, bpmn=bpmn)

    def publish(self, key: str, number: int, *, check_readers: bool = True) -> FlowVersion:
        """Publish a draft; a route whose approvers may not read the records is refused
        (``check_readers=False``: installing a pack, before users have their roles)."""
        return definitions.publish(self.context, key, number, check_readers=check_readers)

    def version(self, key: str, number: int) -> dict[str, Any]:
        """The version with its hash, route and instance counts (running / finished)."""
        session = self.context.session
        flow = definitions.get_flow(session, key)
        return definitions.describe_version(
            session, flow, definitions.get_version(session, flow, number)
        )

    def versions(self, key: str) -> list[dict[str, Any]]:
        """Every version of the flow, oldest first, as :meth:`version` describes it."""
        session = self.context.session
        flow = definitions.get_flow(session, key)
        return [
            definitions.describe_version(session, flow, v)
            for v in definitions.versions_of(session, flow)
        ]

    def bpmn(self, key: str, number: int) -> str:
        """The version's BPMN XML, for export."""
        session = self.context.session
        return definitions.get_version(session, definitions.get_flow(session, key), number).bpmn

    # -- instances -------------------------------------------------------------------------

    def start(
        self, key: str, entity: str, record_id: int, *, version: int | None = None
    ) -> FlowInstance:
        return instances.start(self.context, key, entity, record_id, version=version)

    def instances_of(self, entity: str, record_id: int) -> list[FlowInstance]:
        return instance_reading.instances_of(self.context, entity, record_id)

    def describe(self, instance: FlowInstance | int) -> dict[str, Any]:
        if isinstance(instance, int):
            found = self.context.session.get(FlowInstance, instance)
            if found is None:
                from trellis.errors import NotFound

                raise NotFound(f"No flow instance {instance}.")
            instance = found
        return instance_reading.describe(self.context, instance)

    # -- tasks -----------------------------------------------------------------------------

    def complete(
        self, task_id: int, decision: str, comment: str = "", *, today: date | None = None
    ) -> int:
        """Approve or reject; returns the instance id (:meth:`describe` tells where it is)."""
        return tasks.complete(self.context, task_id, decision, comment, today=today)

    def delegate(self, task_id: int, to: str) -> FlowTask:
        """The assignee passes a task on (an administrator may pass on any: reassign)."""
        return tasks.reassign(self.context, task_id, to)

    reassign = delegate

    def add_substitute(
        self, to: str, starts_on: date, ends_on: date, *, user: str | None = None
    ) -> Substitute:
        return tasks.add_substitute(self.context, to, starts_on, ends_on, user=user)

    def substitutes(self, today: date | None = None) -> list[Substitute]:
        """The actor's substitutions not yet over (named by them, or naming them)."""
        return tasks.substitutes_of(self.context, today)

    def end_substitute(self, substitute_id: int, today: date | None = None) -> None:
        tasks.end_substitute(self.context, substitute_id, today)

    def record_for_task(self, instance_id: int) -> tuple[Any, bool] | None:
        """The instance's record as the actor may see it in a task view (hidden fields left
        out), and whether they read it through the task; None: not theirs to see."""
        return readers.record_for_task(self.context, instance_id)

    def my_tasks(self, today: date | None = None) -> list[FlowTask]:
        return tasks.my_tasks(self.context, today)

    def tasks_of(self, username: str, today: date | None = None) -> list[FlowTask]:
        """The open tasks of ``username`` as their inbox lists them (administrators only,
        unless it is the actor)."""
        return tasks.tasks_of(self.context, username, today)

    def open_task_count(self, today: date | None = None) -> int:
        """How many tasks :meth:`my_tasks` lists (one ``COUNT``: the menu's number)."""
        return tasks.count_my_tasks(self.context, today)

    # -- timers ----------------------------------------------------------------------------

    def fire_due_timers(self, now: datetime, limit: int = timers.BATCH) -> int:
        return timers.fire_due_timers(self.context, now, limit)
