"""Process instances: start one on a record, step it, save it with the ``rev`` check, keep
its user tasks in our table and apply a route's outcome through the record service.

A step loads the process from the database (a fresh script engine each time), acts, and
saves with ``UPDATE ... WHERE rev = :rev`` before anything else is written, so two deciders
never both advance an instance: the loser gets a Conflict and retries on fresh state. An
exception inside a step throws the process away; the stored state stays as it was and the
instance is marked failed with the error (flows.md, trap 6).

The instance row and the statements of a step are in :mod:`trellis.flows.instance_rows`;
reading instances (a record's, one described) in :mod:`trellis.flows.instance_reading`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from trellis.accounts import SYSTEM, Role, User, user_roles
from trellis.clock import to_storage, utcnow
from trellis.errors import BadRequest, Conflict, PermissionDenied, TrellisError
from trellis.flows.context import FlowContext, flow_actor
from trellis.flows.definitions import get_flow, get_version
from trellis.flows.engine import SPECS, NotWaiting, Process, Services, error_text, nest
from trellis.flows.instance_rows import (
    CLOSE_TASKS,
    INSERT_TASKS,
    INSTANCE,
    SAVE,
    VERSION,
    Loaded,
)
from trellis.flows.models import Flow, FlowInstance, FlowTask, FlowVersion
from trellis.flows.routes import assignee_ref
from trellis.flows.step_writes import StepWrites
from trellis.flows.step_writes import write as write_step

log = logging.getLogger(__name__)
MAX_ERROR = 2000


def load_process(ctx: FlowContext, loaded: Loaded) -> Process:
    """The process of ``loaded`` with its version's shared spec (read only when not cached)."""

    def bpmn() -> str:
        return ctx.session.scalar(select(VERSION.c.bpmn).where(VERSION.c.id == loaded.version_id))

    def key() -> str:
        return ctx.session.scalar(select(Flow.key).where(Flow.id == loaded.flow_id))

    services = action_runner(ctx, key, loaded.entity, loaded.record_id)
    refresh = step_members(ctx, loaded.route) if loaded.route is not None else None
    return Process.load(SPECS.get(loaded.hash, bpmn), loaded.state, services, refresh)


def step_members(ctx: FlowContext, route: dict[str, Any]) -> Any:
    """What supplies a role's active members (modes all and quorum) when its step starts:
    just before the step's "approvers assigned" gateway runs, ``<step>_approvers`` and
    ``vacant_roles`` are set from the members now (someone who joined the role after the
    flow started is asked in a later step). None when the route has no such step."""
    gateways = {
        f"{s['id']}_assigned": (s["id"], s["approvers"]["role"])
        for s in route.get("steps", [])
        if "role" in s["approvers"] and s.get("mode", "all") != "any"
    }
    if not gateways:
        return None

    def refresh(activity: str, data: dict[str, Any]) -> dict[str, Any] | None:
        found = gateways.get(activity)
        if found is None:
            return None
        sid, role = found
        members = _role_members(ctx, role)
        vacant = [r for r in data.get("vacant_roles") or [] if r != role]
        return {
            f"{sid}_approvers": [f"user:{name}" for name in members],
            "vacant_roles": vacant if members else [*vacant, role],
        }

    return refresh


def action_runner(
    ctx: FlowContext, flow_key: Callable[[], str], entity: str, record_id: int
) -> Services:
    """What runs a service task's action: the registry's action (one home for automations
    and flows) on the instance's record, as the flow (``by_flow``: it may enter stages
    reserved to flows). It is checked like a saved automation's first; a refusal fails the
    step with the reason (the step's savepoint takes back what its actions did)."""

    def run(name: str, params: dict[str, Any]) -> None:
        from trellis.flows.actions import ActionContext, check_action, describe, run_action

        key = flow_key()
        spec = {"type": name, **nest(params)}
        model = ctx.model
        problems = check_action(ctx.session, model, model.entity(entity), spec, for_flow=True)
        if problems:
            raise ServiceFailed(f"{describe(spec)} cannot run: {_in_words(problems)}")
        action = ActionContext(
            records=ctx.records(flow_actor(key)),
            entity=entity,
            record_id=record_id,
            source=f"flow {key!r}",
            event="service_task",
            by_flow=key,
        )
        try:
            run_action(action, spec)
        except TrellisError as exc:
            detail = getattr(exc, "errors", None)
            reason = _in_words(detail) if detail else exc.detail
            raise ServiceFailed(f"{describe(spec)} failed: {reason}") from None

    return run


class ServiceFailed(Exception):
    """A service task's action was refused; the message says why."""


def _in_words(problems: dict[str, list[str]]) -> str:
    return "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in problems.items())


def start(
    ctx: FlowContext, key: str, entity: str, record_id: int, *, version: int | None = None
) -> FlowInstance:
    """Start flow ``key`` on a record the actor may read and change (a read-only user is
    refused: the flow acts on the record): on the live version, or (for an administrator
    trying a draft) on ``version``."""
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
    records = ctx.records(ctx.actor)
    record = records.get(entity, record_id)  # the starter must see the record
    if not records.access.allows("update", entity, record.owner_id):
        raise PermissionDenied("A flow changes its record: only who may edit it starts one.")
    return start_version(ctx, flow, pinned, entity, record_id)


def start_version(
    ctx: FlowContext, flow: Flow, version: FlowVersion, entity: str, record_id: int
) -> FlowInstance:
    record = ctx.records(SYSTEM).get(entity, record_id)
    ent = ctx.model.entity(entity)
    # values as expressions see them (a money field is its amount), never our own types
    data: dict[str, Any] = {
        k: _plain(ent.fields[k].type.to_plain(ent.fields[k], v)) if k in ent.fields else _plain(v)
        for k, v in record.values.items()
    }
    data["record_id"] = record_id
    if version.route is not None:
        data.update(route_data(ctx, version.route, record.values, entity))
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
    parsed = SPECS.get(version.hash, version.bpmn)
    # the actions of its service tasks go with a failed start
    savepoint = ctx.session.begin_nested() if parsed.runs_actions else None
    try:
        services = action_runner(ctx, lambda: flow.key, entity, record_id)
        process = Process.start(parsed, data, services)
        if savepoint is not None:
            savepoint.commit()
        instance.state = process.dump()
    except Exception as exc:  # a bad process fails its instance, not the record's write
        if savepoint is not None and savepoint.is_active:
            savepoint.rollback()
        log.warning("flow %s failed to start on %s %s: %s", flow.key, entity, record_id, exc)
        instance.status, instance.error = "failed", error_text(exc)[:MAX_ERROR]
        ctx.session.flush()
        return instance
    ctx.session.flush()
    loaded = Loaded(
        instance.id,
        1,
        "running",
        "{}",
        version.id,
        flow.id,
        entity,
        record_id,
        version.hash,
        version.route,
    )
    ctx.session.expire(instance)
    _after_step(ctx, loaded, process, set(), now)
    return instance


def route_data(
    ctx: FlowContext, route: dict[str, Any], values: dict[str, Any], entity: str
) -> dict[str, Any]:
    """The approvers of every step (``<step>_approvers``: a user field's users, a role's active
    members in the modes all and quorum, set again when their step starts by
    :func:`step_members`; the fixed ones too, for versions compiled before their
    BPMN assigned them), escalation assignees, and ``vacant_roles``: the route's roles without
    an active user (such a step escalates or fails the instance instead of waiting for
    nobody)."""
    data: dict[str, Any] = {"vacant_roles": _vacant_roles(ctx, route)}
    for step in route["steps"]:
        sid, approvers = step["id"], step["approvers"]
        if "users" in approvers:
            refs = [f"user:{u}" for u in approvers["users"]]
        elif "role" in approvers and step.get("mode", "all") == "any":
            refs = [f"role:{approvers['role']}"]  # one task, any member decides
        elif "role" in approvers:  # a task per member, fixed now
            refs = [f"user:{name}" for name in _role_members(ctx, approvers["role"])]
        else:
            refs = _field_users(ctx, values.get(approvers["field"]), entity)
        data[f"{sid}_approvers"] = refs
        if step.get("escalate_to") is not None:
            data[f"{sid}_escalation_assignee"] = assignee_ref(step["escalate_to"])
    return data


def _vacant_roles(ctx: FlowContext, route: dict[str, Any]) -> list[str]:
    roles = {s["approvers"]["role"] for s in route["steps"] if "role" in s["approvers"]}
    if not roles:
        return []
    staffed = set(
        ctx.session.scalars(
            select(Role.key)
            .join(user_roles, user_roles.c.role_id == Role.id)
            .join(User, User.id == user_roles.c.user_id)
            .where(Role.key.in_(sorted(roles)), User.is_active.is_(True))
        )
    )
    return sorted(roles - staffed)


def _role_members(ctx: FlowContext, role: str) -> list[str]:
    """The usernames of the active users with ``role``, in name order."""
    return list(
        ctx.session.scalars(
            select(User.username)
            .join(user_roles, user_roles.c.user_id == User.id)
            .join(Role, Role.id == user_roles.c.role_id)
            .where(Role.key == role, User.is_active.is_(True))
            .order_by(User.username)
        )
    )


def _field_users(ctx: FlowContext, value: Any, entity: str) -> list[str]:
    """``user:<name>`` for the active user(s) a user field holds (an id, or ``{"id", ...}``)
    who may read records of ``entity`` (an approver sees what they decide on)."""
    from trellis.flows.readers import readers_among

    items = value if isinstance(value, list | tuple) else [value]
    ids = [v.get("id") if isinstance(v, dict) else v for v in items if v is not None]
    ids = [i for i in ids if isinstance(i, int)]
    if not ids:
        return []
    names = dict(
        ctx.session.execute(
            select(User.id, User.username).where(User.id.in_(ids), User.is_active.is_(True))
        ).all()
    )
    return [f"user:{names[i]}" for i in readers_among(ctx.session, ids, entity) if i in names]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# -- after every step --------------------------------------------------------------------


def save(ctx: FlowContext, loaded: Loaded, process: Process, **values: Any) -> None:
    """Store ``process`` alone with the rev check: a Conflict when someone else saved first.
    ``values``: status, outcome, due, finished."""
    writes = StepWrites(
        save={
            "b_instance": loaded.id,
            "old_rev": loaded.rev,
            "new_rev": loaded.rev + 1,
            "state": process.dump(),
            "new_status": values.get("status", "running"),
            "new_outcome": values.get("outcome"),
            "due": values.get("due"),
            "finished": values.get("finished"),
        }
    )
    _write(ctx, loaded, writes)


def _write(ctx: FlowContext, loaded: Loaded, writes: StepWrites) -> None:
    if not write_step(ctx.session.connection(), writes, SAVE, CLOSE_TASKS, INSERT_TASKS):
        raise Conflict(
            "The flow moved on meanwhile (another decision or a timer); reload and retry."
        )
    loaded.rev += 1


def _after_step(
    ctx: FlowContext,
    loaded: Loaded,
    process: Process,
    before: set[str],
    now: datetime,
    decided: int | None = None,
    decision: dict[str, Any] | None = None,
) -> None:
    """Save (rev check first: a Conflict when someone else saved first, and nothing else is
    written), with the user task rows and the ``decision`` row (:mod:`.step_writes`: one
    statement on PostgreSQL); then a finished route's outcome."""
    unstaffed = _unstaffed_escalation(ctx, loaded, process, before)
    if unstaffed is not None:  # never an escalated task waiting for nobody
        process.cancel()
    finished = process.completed
    outcome = process.data.get("outcome") if finished and unstaffed is None else None
    failed_step = process.data.get("failed_step") if finished else None
    due = process.next_due()
    writes = StepWrites(
        save={
            "b_instance": loaded.id,
            "old_rev": loaded.rev,
            "new_rev": loaded.rev + 1,
            "state": process.dump(),
            "new_status": "failed"
            if failed_step or unstaffed
            else ("completed" if finished else "running"),
            "new_outcome": outcome if isinstance(outcome, str) else None,
            "due": to_storage(due) if due is not None and not finished else None,
            "finished": now if finished else None,
        },
        decision=decision,
    )
    task_changes(writes, process, before, now, decided)
    _write(ctx, loaded, writes)
    if unstaffed is not None:
        _report_failure(ctx, loaded, unstaffed)
        return
    if failed_step:
        _no_approver(ctx, loaded, str(failed_step), process.data)
        return
    if finished and loaded.route is not None and outcome in ("approved", "rejected"):
        key = ctx.session.scalar(select(Flow.key).where(Flow.id == loaded.flow_id))
        _apply_outcome(ctx, key, loaded, loaded.route.get(f"on_{outcome}") or {})


def task_changes(
    writes: StepWrites,
    process: Process,
    before: set[str],
    now: datetime,
    decided: int | None = None,
) -> None:
    """Rows for the user tasks that became ready; the rows of tasks no longer waiting are
    closed (``decided``, our task id, as completed; the others as cancelled)."""
    instance_id = writes.save["b_instance"]
    steps = process.user_steps()
    gone = before - {s.id for s in steps}
    if decided is not None or gone:  # one statement closes them all (one round trip)
        writes.close = {"decided": decided or 0, "gone": sorted(gone), "now": now}
    new = [s for s in steps if s.id not in before]
    if not new:
        return
    dues = {t.activity: t.due for t in process.timers() if t.activity and t.due}
    for step in new:
        username = role = None
        if (step.assignee or "").startswith("user:"):
            username = step.assignee[5:]
        elif (step.assignee or "").startswith("role:"):
            role = step.assignee[5:]
        due = dues.get(step.activity)
        writes.new_tasks.append(
            {
                "instance_id": instance_id,
                "spiff_id": step.id,
                "activity": step.activity[:100],
                "label": step.label[:200],
                "username": username,
                "assignee_role": role,
                "delegated_by": None,
                "due_at": to_storage(due) if due is not None else None,
                "status": "open",
                "created_at": now,
                "closed_at": None,
            }
        )


def _apply_outcome(ctx: FlowContext, key: str, loaded: Loaded, action: dict[str, Any]) -> None:
    """Move the record / set its fields through the record service (as the flow: a stage
    reserved to flows opens to it); a refusal (a stage needing a field, say) fails the
    instance with the reason instead of losing it."""
    stage, values = action.get("stage"), action.get("set") or {}
    if not stage and not values:
        return
    records = ctx.records(flow_actor(key))
    try:
        with ctx.session.begin_nested():
            if stage:
                records.move_stage(
                    loaded.entity, loaded.record_id, stage, values=values, by_flow=key
                )
            else:
                current = records.get(loaded.entity, loaded.record_id)
                records.update(loaded.entity, loaded.record_id, values, version=current.version)
    except TrellisError as exc:
        detail = getattr(exc, "errors", None) or exc.detail
        ctx.session.execute(
            update(INSTANCE)
            .where(INSTANCE.c.id == loaded.id)
            .values(
                status="failed", error=f"The outcome could not be applied: {detail}"[:MAX_ERROR]
            )
        )


def _no_approver(ctx: FlowContext, loaded: Loaded, step_id: str, data: dict[str, Any]) -> None:
    """A step found nobody to ask: the instance failed (its error says why, on the card) and
    every active administrator is notified."""
    step = next((s for s in (loaded.route or {}).get("steps", []) if s["id"] == step_id), None)
    label = step["label"] if step else step_id
    kind, value = next(iter(step["approvers"].items())) if step else ("", "")
    if kind == "field":
        field = ctx.model.entity(loaded.entity).fields.get(value)
        name = field.label if field is not None else value
        why = f"the field {name} is empty on the record (or names no active user who may read it)"
    elif kind == "role" and step.get("mode") == "quorum":
        members = len(data.get(f"{step_id}_approvers") or [])
        why = (
            f"the role {value} has {members} active member(s), fewer than the quorum "
            f"of {step['quorum']}"
        )
    elif kind == "role":
        why = f"no active user has the role {value}"
    else:
        why = "no approver was given"
    message = f"Step {label!r} has no approver: {why}. Fill it in and start the flow again."
    _report_failure(ctx, loaded, message)


def _unstaffed_escalation(
    ctx: FlowContext, loaded: Loaded, process: Process, before: set[str]
) -> str | None:
    """Why a route's escalation task that just became ready can reach nobody (its role has
    no active user, or its user is inactive or gone), else None. Checked when the task is
    created (the deadline may pass days after the start), like a vacant approver step."""
    steps = {
        f"{s['id']}_escalation": s
        for s in (loaded.route or {}).get("steps", [])
        if s.get("escalate_to") is not None
    }
    if not steps:
        return None
    for ready in process.user_steps():
        found = steps.get(ready.activity)
        if ready.id in before or found is None:
            continue
        ref = ready.assignee or ""
        if ref.startswith("role:"):
            if not _role_members(ctx, ref[5:]):
                why = f"no active user has the role {ref[5:]}"
            else:
                continue
        elif ref.startswith("user:"):
            active = ctx.session.scalar(select(User.is_active).where(User.username == ref[5:]))
            if active:
                continue
            why = f"the user {ref[5:]} is {'inactive' if active is False else 'unknown'}"
        else:
            why = "it names no user or role"
        return (
            f"Step {found['label']!r} escalated to nobody: {why}. "
            "Fix the escalation and start the flow again."
        )
    return None


def _report_failure(ctx: FlowContext, loaded: Loaded, message: str) -> None:
    """The failed instance's error says ``message`` (on the card) and every active
    administrator is notified."""
    from trellis.flows.notifications import notify

    ctx.session.execute(
        update(INSTANCE).where(INSTANCE.c.id == loaded.id).values(error=message[:MAX_ERROR])
    )
    key = ctx.session.scalar(select(Flow.key).where(Flow.id == loaded.flow_id))
    admins = ctx.session.scalars(
        select(User.id)
        .join(user_roles, user_roles.c.user_id == User.id)
        .join(Role, Role.id == user_roles.c.role_id)
        .where(Role.key == "admin", User.is_active.is_(True))
    )
    notify(
        ctx.session,
        list(admins),
        f"Flow {key!r} failed on {loaded.entity} {loaded.record_id}: {message}",
        entity=loaded.entity,
        record_id=loaded.record_id,
        source=f"flow {key!r}",
    )


def fail(ctx: FlowContext, loaded: Loaded, error: Exception) -> None:
    """Mark the instance failed, its stored state untouched (the step is thrown away)."""
    log.warning("flow instance %s failed: %s", loaded.id, error)
    result = ctx.session.execute(
        update(INSTANCE)
        .where(INSTANCE.c.id == loaded.id, INSTANCE.c.rev == loaded.rev)
        .values(status="failed", error=error_text(error)[:MAX_ERROR], rev=loaded.rev + 1)
    )
    if result.rowcount != 1:
        raise Conflict("The flow moved on meanwhile; reload and retry.")
    loaded.rev += 1


def step(
    ctx: FlowContext,
    loaded: Loaded,
    act: Any,
    now: datetime,
    decided: tuple[int, str] | None = None,
    decision: dict[str, Any] | None = None,
) -> bool:
    """Load the process, run ``act(process)``, and save; False when the step failed (the
    instance is then marked failed, and ``decision`` not written). ``decided`` is (our task
    id, Spiff's task id) of the task ``act`` completes, ``decision`` the flow_decision row
    that goes with it (saved with the step). The actions of service tasks run in a
    savepoint: a failed step takes their effects with it."""
    savepoint = None
    try:
        process = load_process(ctx, loaded)
        before = {s.id for s in process.user_steps()}
        if decided is not None and decided[1] not in before:
            raise NotWaiting()
        if process.runs_actions:
            savepoint = ctx.session.begin_nested()
        act(process)
        if savepoint is not None:
            savepoint.commit()
    except NotWaiting:
        raise Conflict("This task is no longer waiting for a decision; reload.") from None
    except Exception as exc:  # the in-memory process is half-updated: throw it away
        if savepoint is not None and savepoint.is_active:
            savepoint.rollback()
        fail(ctx, loaded, exc)
        return False
    _after_step(ctx, loaded, process, before, now, decided[0] if decided else None, decision)
    return True


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
