"""Process instances: start one on a record, step it, save it with the ``rev`` check, keep
its user tasks in our table and apply a route's outcome through the record service.

A step loads the process from the database (a fresh script engine each time), acts, and
saves with ``UPDATE ... WHERE rev = :rev`` before anything else is written, so two deciders
never both advance an instance: the loser gets a Conflict and retries on fresh state. An
exception inside a step throws the process away; the stored state stays as it was and the
instance is marked failed with the error (flows.md, trap 6).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from trellis.accounts import SYSTEM, Role, User
from trellis.clock import to_storage, utcnow
from trellis.errors import BadRequest, Conflict, TrellisError
from trellis.flows.context import FlowContext, flow_actor
from trellis.flows.definitions import get_flow, get_version
from trellis.flows.engine import SPECS, NotWaiting, Process, error_text
from trellis.flows.models import Flow, FlowDecision, FlowInstance, FlowTask, FlowVersion
from trellis.flows.routes import assignee_ref

log = logging.getLogger(__name__)
MAX_ERROR = 2000


def load_process(instance: FlowInstance, version: FlowVersion) -> Process:
    return Process.load(SPECS.get(version.hash, version.bpmn), instance.state)


def start(
    ctx: FlowContext, key: str, entity: str, record_id: int, *, version: int | None = None
) -> FlowInstance:
    """Start flow ``key`` on a record the actor may read: on the live version, or (for an
    administrator trying a draft) on ``version``."""
    flow = get_flow(ctx.session, key)
    if flow.entity != entity:
        raise BadRequest(f"Flow {key!r} is about {flow.entity}, not {entity}.")
    if version is not None:
        if not ctx.actor.is_admin:
            raise BadRequest("Only administrators start a flow on a chosen version.")
        pinned = get_version(ctx.session, flow, version)
    else:
        if flow.live_version_id is None:
            raise BadRequest(f"Flow {key!r} has no published version.")
        pinned = ctx.session.get(FlowVersion, flow.live_version_id)
    ctx.records(ctx.actor).get(entity, record_id)  # the starter must see the record
    return start_version(ctx, flow, pinned, entity, record_id)


def start_version(
    ctx: FlowContext, flow: Flow, version: FlowVersion, entity: str, record_id: int
) -> FlowInstance:
    record = ctx.records(SYSTEM).get(entity, record_id)
    data: dict[str, Any] = {k: _plain(v) for k, v in record.values.items()}
    data["record_id"] = record_id
    if version.route is not None:
        data.update(route_data(ctx, version.route, record.values))
    now = utcnow()
    instance = FlowInstance(
        flow_id=flow.id,
        version_id=version.id,
        entity=entity,
        record_id=record_id,
        status="running",
        state="{}",
        rev=1,
        started_at=now,
        started_by=ctx.actor.user_id,
    )
    ctx.session.add(instance)
    ctx.session.flush()
    try:
        process = Process.start(SPECS.get(version.hash, version.bpmn), data)
        instance.state = process.dump()
    except Exception as exc:  # a bad process fails its instance, not the record's write
        log.warning("flow %s failed to start on %s %s: %s", flow.key, entity, record_id, exc)
        instance.status, instance.error = "failed", error_text(exc)[:MAX_ERROR]
        ctx.session.flush()
        return instance
    ctx.session.flush()
    _after_step(ctx, flow, version, instance, process, now)
    return instance


def route_data(ctx: FlowContext, route: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The approvers of every step (``<step>_approvers``) and escalation assignees."""
    data: dict[str, Any] = {}
    for step in route["steps"]:
        sid, approvers = step["id"], step["approvers"]
        if "users" in approvers:
            refs = [f"user:{u}" for u in approvers["users"]]
        elif "role" in approvers:
            refs = [f"role:{approvers['role']}"]
        else:
            refs = _field_users(ctx, values.get(approvers["field"]))
        data[f"{sid}_approvers"] = refs
        if step.get("escalate_to") is not None:
            data[f"{sid}_escalation_assignee"] = assignee_ref(step["escalate_to"])
    return data


def _field_users(ctx: FlowContext, value: Any) -> list[str]:
    """``user:<name>`` for the user(s) a user field holds (an id, or ``{"id", ...}``)."""
    items = value if isinstance(value, list | tuple) else [value]
    ids = [v.get("id") if isinstance(v, dict) else v for v in items if v is not None]
    ids = [i for i in ids if isinstance(i, int)]
    if not ids:
        return []
    names = dict(ctx.session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())
    return [f"user:{names[i]}" for i in ids if i in names]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# -- after every step --------------------------------------------------------------------


def save(ctx: FlowContext, instance: FlowInstance, process: Process, **values: Any) -> None:
    """Store ``process`` with the rev check: a Conflict when someone else saved first."""
    rev = instance.rev
    result = ctx.session.execute(
        update(FlowInstance)
        .where(FlowInstance.id == instance.id, FlowInstance.rev == rev)
        .values(state=process.dump(), rev=rev + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        ctx.session.expire(instance)
        raise Conflict(
            "The flow moved on meanwhile (another decision or a timer); reload and retry."
        )
    for name, value in {**values, "rev": rev + 1}.items():
        set_committed_value(instance, name, value)


def _after_step(
    ctx: FlowContext,
    flow: Flow,
    version: FlowVersion,
    instance: FlowInstance,
    process: Process,
    now: datetime,
) -> None:
    """Save (rev check first), then sync the user tasks, then apply a finished route's
    outcome."""
    finished = process.completed
    outcome = process.data.get("outcome") if finished else None
    due = process.next_due()
    save(
        ctx,
        instance,
        process,
        status="completed" if finished else "running",
        outcome=outcome if isinstance(outcome, str) else None,
        next_due_at=to_storage(due) if due is not None and not finished else None,
        finished_at=now if finished else None,
    )
    sync_tasks(ctx, instance, process, now)
    if finished and version.route is not None and outcome in ("approved", "rejected"):
        _apply_outcome(ctx, flow, instance, version.route.get(f"on_{outcome}") or {})


def sync_tasks(ctx: FlowContext, instance: FlowInstance, process: Process, now: datetime) -> None:
    """Open a row per new ready user task; close the rows of tasks no longer waiting."""
    steps = process.user_steps()
    ready = {s.id for s in steps}
    open_rows = {
        t.spiff_id: t
        for t in ctx.session.scalars(
            select(FlowTask).where(FlowTask.instance_id == instance.id, FlowTask.status == "open")
        )
    }
    for spiff_id, row in open_rows.items():
        if spiff_id not in ready:
            row.status, row.closed_at = "cancelled", now
    dues = {t.activity: t.due for t in process.timers() if t.activity and t.due}
    new = [s for s in steps if s.id not in open_rows]
    users = _user_ids(ctx, [s.assignee[5:] for s in new if (s.assignee or "").startswith("user:")])
    for step in new:
        user_id = role = None
        if (step.assignee or "").startswith("user:"):
            user_id = users.get(step.assignee[5:])
        elif (step.assignee or "").startswith("role:"):
            role = step.assignee[5:]
        due = dues.get(step.activity)
        ctx.session.add(
            FlowTask(
                instance_id=instance.id,
                spiff_id=step.id,
                activity=step.activity[:100],
                label=step.label[:200],
                assignee_user_id=user_id,
                assignee_role=role,
                due_at=to_storage(due) if due is not None else None,
                status="open",
                created_at=now,
            )
        )
    ctx.session.flush()


def _user_ids(ctx: FlowContext, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    rows = ctx.session.execute(select(User.username, User.id).where(User.username.in_(names)))
    return dict(rows.all())


def _apply_outcome(
    ctx: FlowContext, flow: Flow, instance: FlowInstance, action: dict[str, Any]
) -> None:
    """Move the record / set its fields through the record service (as the flow: a stage
    reserved to flows opens to it); a refusal (a stage needing a field, say) fails the
    instance with the reason instead of losing it."""
    stage, values = action.get("stage"), action.get("set") or {}
    if not stage and not values:
        return
    records = ctx.records(flow_actor(flow.key))
    try:
        with ctx.session.begin_nested():
            if stage:
                records.move_stage(
                    instance.entity, instance.record_id, stage, values=values, by_flow=flow.key
                )
            else:
                current = records.get(instance.entity, instance.record_id)
                records.update(instance.entity, instance.record_id, values, version=current.version)
    except TrellisError as exc:
        detail = getattr(exc, "errors", None) or exc.detail
        ctx.session.execute(
            update(FlowInstance)
            .where(FlowInstance.id == instance.id)
            .values(
                status="failed", error=f"The outcome could not be applied: {detail}"[:MAX_ERROR]
            )
            .execution_options(synchronize_session=False)
        )
        ctx.session.expire(instance)


def fail(ctx: FlowContext, instance: FlowInstance, error: Exception) -> None:
    """Mark ``instance`` failed, its stored state untouched (the step is thrown away)."""
    log.warning("flow instance %s failed: %s", instance.id, error)
    result = ctx.session.execute(
        update(FlowInstance)
        .where(FlowInstance.id == instance.id, FlowInstance.rev == instance.rev)
        .values(status="failed", error=error_text(error)[:MAX_ERROR], rev=instance.rev + 1)
        .execution_options(synchronize_session=False)
    )
    ctx.session.expire(instance)
    if result.rowcount != 1:
        raise Conflict("The flow moved on meanwhile; reload and retry.")


def step(ctx: FlowContext, instance: FlowInstance, act: Any, now: datetime) -> bool:
    """Load ``instance``, run ``act(process)``, and save; False when the step failed (the
    instance is then marked failed)."""
    version = ctx.session.get(FlowVersion, instance.version_id)
    flow = ctx.session.get(Flow, instance.flow_id)
    try:
        process = load_process(instance, version)
        act(process)
    except NotWaiting:
        raise Conflict("This task is no longer waiting for a decision; reload.") from None
    except Exception as exc:  # the in-memory process is half-updated: throw it away
        fail(ctx, instance, exc)
        return False
    _after_step(ctx, flow, version, instance, process, now)
    return True


# -- reading -----------------------------------------------------------------------------


def instances_of(ctx: FlowContext, entity: str, record_id: int) -> list[FlowInstance]:
    ctx.records(ctx.actor).get(entity, record_id)  # the caller must see the record
    return list(
        ctx.session.scalars(
            select(FlowInstance)
            .where(FlowInstance.entity == entity, FlowInstance.record_id == record_id)
            .order_by(FlowInstance.id)
        )
    )


def describe(ctx: FlowContext, instance: FlowInstance) -> dict[str, Any]:
    flow = ctx.session.get(Flow, instance.flow_id)
    version = ctx.session.get(FlowVersion, instance.version_id)
    tasks = list(
        ctx.session.scalars(
            select(FlowTask).where(FlowTask.instance_id == instance.id).order_by(FlowTask.id)
        )
    )
    decisions = list(
        ctx.session.scalars(
            select(FlowDecision)
            .where(FlowDecision.instance_id == instance.id)
            .order_by(FlowDecision.id)
        )
    )
    ids = {t.assignee_user_id for t in tasks} | {d.user_id for d in decisions}
    ids |= {d.on_behalf_of for d in decisions}
    names = _usernames(ctx, ids)
    return {
        "id": instance.id,
        "flow": flow.key,
        "version": version.number,
        "status": instance.status,
        "outcome": instance.outcome,
        "error": instance.error,
        "record": {"entity": instance.entity, "id": instance.record_id},
        "next_due_at": instance.next_due_at,
        "tasks": [
            {
                "id": t.id,
                "label": t.label,
                "activity": t.activity,
                "assignee": names.get(t.assignee_user_id)
                if t.assignee_user_id
                else (f"role:{t.assignee_role}" if t.assignee_role else None),
                "due_at": t.due_at,
                "status": t.status,
            }
            for t in tasks
        ],
        "decisions": [
            {
                "task": d.task_id,
                "user": names.get(d.user_id),
                "on_behalf_of": names.get(d.on_behalf_of),
                "by": decided_by(names.get(d.user_id), names.get(d.on_behalf_of)),
                "decision": d.decision,
                "comment": d.comment,
                "at": d.at,
            }
            for d in decisions
        ],
    }


def decided_by(user: str | None, on_behalf_of: str | None) -> str:
    """``ann`` or ``ann for bob`` (a substitute deciding for the assignee)."""
    return f"{user} for {on_behalf_of}" if on_behalf_of else (user or "system")


def _usernames(ctx: FlowContext, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(
        ctx.session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all()
    )


def cancel_for_record(ctx: FlowContext, entity: str, record_id: int) -> None:
    """A deleted record's running instances are cancelled with their open tasks."""
    now = utcnow()
    running = list(
        ctx.session.scalars(
            select(FlowInstance).where(
                FlowInstance.entity == entity,
                FlowInstance.record_id == record_id,
                FlowInstance.status == "running",
            )
        )
    )
    for instance in running:
        ctx.session.execute(
            update(FlowInstance)
            .where(FlowInstance.id == instance.id)
            .values(status="cancelled", finished_at=now, next_due_at=None, rev=FlowInstance.rev + 1)
            .execution_options(synchronize_session=False)
        )
        ctx.session.execute(
            update(FlowTask)
            .where(FlowTask.instance_id == instance.id, FlowTask.status == "open")
            .values(status="cancelled", closed_at=now)
            .execution_options(synchronize_session=False)
        )


def role_members(ctx: FlowContext, role: str) -> list[int]:
    from trellis.accounts import user_roles

    return list(
        ctx.session.scalars(
            select(user_roles.c.user_id)
            .join(Role, Role.id == user_roles.c.role_id)
            .where(Role.key == role)
        )
    )
