"""Approval steps per second through the flows service against SpiffWorkflow driven by hand,
in the same run, alternating.

    python benchmarks/bench_flows.py --n 300          # quick check
    python benchmarks/bench_flows.py --n 3000         # full

Both sides run the same approval route (five sequential single-approver steps, compiled to
BPMN by ``trellis.flows.routes``) on ``--n`` / 5 instances each, in the same database. One
step is one transaction:

- **flows service**: ``FlowService.complete(task, "approve")`` as the approver: the task row
  and who may decide, the process loaded from its JSON (spec shared per version), the
  decision, the save with ``UPDATE ... WHERE rev``, the task rows and the decision row.
- **by hand**: what a careful engineer writes with Spiff alone: ``SELECT`` the instance's
  JSON, restore it with a spec kept in memory (the JSON holds no spec, as flows.md advises),
  complete the ready user task, run the engine steps, dump and ``UPDATE`` the JSON. Spiff's
  own (``eval``) script engine, no task rows, no decision rows, no permission check.

Goal (issue 13): the service within 1.5x the time of the hand-driven steps.
"""

from __future__ import annotations

import json
import time
from typing import Any
from uuid import UUID

from common import backend, database, hand_engine, platform_settings, rotated, verdict
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Column, Integer, MetaData, Table, Text, bindparam, insert, select, update

from trellis.access.grants import create_role, set_grant
from trellis.accounts import SYSTEM, Actor, create_user
from trellis.flows.models import FlowTask
from trellis.flows.routes import compile_route
from trellis.runtime import Runtime

GOAL = 1.5
STEPS = 5
ROUTE = {
    "steps": [
        {"id": f"s{i}", "label": f"Step {i}", "approvers": {"users": ["ann"]}}
        for i in range(1, STEPS + 1)
    ]
}
DATA = {f"s{i}_approvers": ["user:ann"] for i in range(1, STEPS + 1)}


# -- by hand -----------------------------------------------------------------------------


class SpecByReference(BpmnWorkflowConverter):
    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = {}
        dct["bpmn_events"] = []
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None) -> Any:
        workflow = self.target_class(spec, {}, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        return workflow


class HandEngine(PythonScriptEngine):
    """Spiff's own eval engine, with the completion condition of a multi-instance task seen
    on the aggregated data (flows.md, trap 2) and a ``count`` helper."""

    def __init__(self) -> None:
        count = lambda items, value: sum(1 for i in items or () if i == value)  # noqa: E731
        super().__init__(environment=TaskDataEnvironment({"count": count}))

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        parent = task.parent
        if (
            isinstance(parent.task_spec, MultiInstanceTask)
            and expression == parent.task_spec.condition
        ):
            children = [
                c for c in parent.children if c.task_spec.name == parent.task_spec.task_spec
            ]
            context = {**parent.data, "nrOfInstances": len(children)}
            return self.environment.evaluate(expression, context, external_context)
        return super().evaluate(task, expression, external_context)


class ByHand:
    def __init__(self, url: str, xml: str, count: int) -> None:
        self.engine = hand_engine(url)
        meta = MetaData()
        self.table = Table(
            "hand_instance", meta, Column("id", Integer, primary_key=True), Column("state", Text)
        )
        meta.create_all(self.engine)
        parser = BpmnParser()
        parser.add_bpmn_str(xml.encode())
        self.spec = parser.get_spec(parser.get_process_ids()[0])
        registry = BpmnWorkflowSerializer.configure()
        SpecByReference(BpmnWorkflow, registry)
        self.serializer = BpmnWorkflowSerializer(registry)
        with self.engine.begin() as conn:
            self.ids = [
                conn.execute(insert(self.table).values(state=self.start())).inserted_primary_key[0]
                for _ in range(count)
            ]

    def start(self) -> str:
        workflow = BpmnWorkflow(self.spec, script_engine=HandEngine())
        workflow.get_tasks(state=TaskState.READY)[0].data.update(DATA)
        workflow.do_engine_steps()
        return self.dump(workflow)

    def dump(self, workflow: Any) -> str:
        registry = self.serializer.registry
        registry._encoder_mode = True
        try:
            return json.dumps(registry.convert(workflow), cls=self.serializer._encoder_cls)
        finally:
            registry._encoder_mode = False

    def step(self, instance_id: int) -> None:
        with self.engine.begin() as conn:
            state = conn.scalar(select(self.table.c.state).where(self.table.c.id == instance_id))
            workflow = self.serializer.registry.restore(json.loads(state), spec=self.spec)
            workflow.script_engine = HandEngine()
            task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
            task.data[f"{task.task_spec.bpmn_id}_decision"] = "approve"
            task.run()
            workflow.do_engine_steps()
            conn.execute(
                update(self.table)
                .where(self.table.c.id == instance_id)
                .values(state=self.dump(workflow))
            )


# -- the service ---------------------------------------------------------------------------


TASKS = FlowTask.__table__
OPEN_TASK = select(TASKS.c.id).where(
    TASKS.c.instance_id == bindparam("i"), TASKS.c.status == "open"
)


class Service:
    def __init__(self, runtime: Runtime, count: int) -> None:
        self.runtime = runtime
        with runtime.transaction() as session:
            self.ann = Actor.of(session.scalar(select_user("ann")))
        with runtime.transaction() as session:
            flows = runtime.flows(session, SYSTEM)
            self.ids = []
            records = runtime.records(session)
            for i in range(count):
                deal = records.create("deal", {"name": f"Deal {i}", "amount": 1000 + i})
                self.ids.append(flows.start("bench", "deal", deal.id).id)

    def step(self, instance_id: int) -> None:
        # the open task of the instance (as the inbox lists it), then the decision
        with self.runtime.transaction() as session:
            task = session.connection().execute(OPEN_TASK, {"i": instance_id}).scalar()
            self.runtime.flows(session, self.ann).complete(task, "approve")


def select_user(name: str):  # type: ignore[no-untyped-def]
    from trellis.accounts import User

    return select(User).where(User.username == name)


def setup_platform(url: str) -> Runtime:
    runtime = Runtime.from_settings(platform_settings(url))
    runtime.initialise()
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        meta.create_entity("deal", "Deal")
        meta.add_field("deal", "name", "Name", "text")
        meta.add_field("deal", "amount", "Amount", "decimal")
    with runtime.transaction() as session:
        create_role(session, SYSTEM, "manager", "Manager")
        # an approver must read what they decide on (publishing checks it)
        set_grant(session, SYSTEM, runtime.model(session), "manager", "deal", {"read": "all"})
        create_user(session, "ann", "ann-password-long", ["user", "manager"])
    with runtime.transaction() as session:
        flows = runtime.flows(session, SYSTEM)
        flows.create_flow({"key": "bench", "label": "Bench", "entity": "deal"})
        flows.add_version("bench", route=ROUTE)
        flows.publish("bench", 1)
    return runtime


def main() -> None:
    from common import parser

    p = parser(__doc__, 1000, "approval steps per side")
    p.add_argument("--batch", type=int, default=25, help="steps per side per turn")
    args = p.parse_args()
    instances = max(1, args.n // STEPS)
    xml = compile_route(ROUTE, "bench", "Bench")
    with database(args.database_url) as url:
        runtime = setup_platform(url)
        service = Service(runtime, instances + 2)
        hand = ByHand(url, xml, instances + 2)
        # warm-up (not timed): two instances each, through all their steps
        for _ in range(STEPS):
            for side in (service, hand):
                for instance_id in side.ids[:2]:
                    side.step(instance_id)
        queues = {
            "flows service": [i for _ in range(STEPS) for i in service.ids[2:]],
            "SpiffWorkflow by hand": [i for _ in range(STEPS) for i in hand.ids[2:]],
        }
        steps = {"flows service": service.step, "SpiffWorkflow by hand": hand.step}
        took = dict.fromkeys(steps, 0.0)
        done = dict.fromkeys(steps, 0)
        turn = 0
        while any(queues.values()):
            for side in rotated(list(steps), turn):
                batch, queues[side] = queues[side][: args.batch], queues[side][args.batch :]
                began = time.perf_counter()
                for instance_id in batch:
                    steps[side](instance_id)
                took[side] += time.perf_counter() - began
                done[side] += len(batch)
            turn += 1
        with runtime.transaction() as session:
            flows = runtime.flows(session)
            counts = flows.version("bench", 1)["instances"]
        runtime.dispose()
        hand.engine.dispose()
    if counts["finished"] != instances + 2:
        raise SystemExit(f"The service did not finish every instance: {counts}")
    print(f"approval steps ({backend(args.database_url)}), {done['flows service']} steps per side")
    for side, seconds in took.items():
        per_step = seconds * 1000 / done[side]
        print(f"  {side:24s} {done[side] / seconds:8.0f} steps/s  ({per_step:.2f} ms a step)")
    ratio = took["flows service"] / took["SpiffWorkflow by hand"]
    print(f"  service time / by hand   {ratio:6.2f}x   goal <= {GOAL}x: {verdict(ratio <= GOAL)}")


if __name__ == "__main__":
    main()
