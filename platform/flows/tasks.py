"""User tasks: who may decide (the assignee, a member of the assigned role, or the
assignee's substitute for today, recorded as "X for Y"), deciding, delegating and
reassigning, and substitutes for a date range."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select

from trellis.accounts import Actor, get_user
from trellis.clock import utcnow
from trellis.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trellis.flows.context import FlowContext
from trellis.flows.instance_rows import INSTANCE, LOADED_COLUMNS, TASK, Loaded, loaded_query
from trellis.flows.instances import step
from trellis.flows.models import DECISIONS, FlowTask, Substitute
from trellis.flows.readers import may_read

#: the task with its instance (a :class:`Loaded` row and the task's columns), built once
TASK_WITH_INSTANCE = (
    loaded_query()
    .add_columns(
        TASK.c.status.label("task_status"),
        TASK.c.spiff_id,
        TASK.c.assignee_user_id,
        TASK.c.assignee_role,
    )
    .join(TASK, TASK.c.instance_id == INSTANCE.c.id)
    .where(TASK.c.id == bindparam("task_id"))
)

MAX_COMMENT = 2000
MAX_SUBSTITUTION_DAYS = 366


def get_task(ctx: FlowContext, task_id: int) -> FlowTask:
    task = ctx.session.get(FlowTask, task_id)
    if task is None:
        raise NotFound(f"No task {task_id}.")
    return task


def substituted_by(ctx: FlowContext, substitute_id: int, today: date) -> list[int]:
    """The users whose tasks ``substitute_id`` decides today."""
    return list(
        ctx.session.scalars(
            select(Substitute.user_id).where(
                Substitute.substitute_id == substitute_id,
                Substitute.starts_on <= today,
                Substitute.ends_on >= today,
            )
        )
    )


def deciding_for(
    ctx: FlowContext, user_id: int | None, role: str | None, today: date
) -> int | None:
    """None when the actor decides a task assigned to ``user_id`` / ``role`` as its
    assignee; the assignee's id when the actor is their substitute today; PermissionDenied
    otherwise."""
    actor = ctx.actor
    if actor.user_id is not None and user_id == actor.user_id:
        return None
    if role is not None and role in actor.roles:
        return None
    if (
        actor.user_id is not None
        and user_id is not None
        and user_id in substituted_by(ctx, actor.user_id, today)
    ):
        return user_id
    raise PermissionDenied("This task is not yours to decide.")


def complete(
    ctx: FlowContext, task_id: int, decision: str, comment: str = "", *, today: date | None = None
) -> int:
    """Approve or reject a task and advance its flow; returns the instance id. A task decided
    or closed meanwhile, or a flow that moved on under the decider, is a Conflict (reload
    and retry). The hot path: one read of the task with its instance, one guarded save."""
    errors: dict[str, list[str]] = {}
    if decision not in DECISIONS:
        errors["decision"] = ["Use approve or reject."]
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        errors["comment"] = [f"At most {MAX_COMMENT} characters."]
    if errors:
        raise ValidationFailed(errors)
    row = ctx.session.connection().execute(TASK_WITH_INSTANCE, {"task_id": task_id}).one_or_none()
    if row is None:
        raise NotFound(f"No task {task_id}.")
    loaded = Loaded(*row[: len(LOADED_COLUMNS)])
    now = utcnow()
    on_behalf_of = deciding_for(ctx, row.assignee_user_id, row.assignee_role, today or now.date())
    if row.task_status != "open":
        raise Conflict("This task is already decided or closed.")
    if loaded.status != "running":
        raise Conflict(f"This flow is {loaded.status}.")
    spiff_id = row.spiff_id

    def act(process: Any) -> None:
        process.decide(spiff_id, decision)

    row = {
        "task_id": task_id,
        "instance_id": loaded.id,
        "user_id": ctx.actor.user_id,
        "on_behalf_of": on_behalf_of,
        "decision": decision,
        "comment": comment or "",
        "at": now,
    }
    step(ctx, loaded, act, now, decided=(task_id, spiff_id), decision=row)
    return loaded.id


def reassign(ctx: FlowContext, task_id: int, to: str) -> FlowTask:
    """Give an open task to the user named ``to``: its assignee delegates, an administrator
    reassigns any task."""
    task = get_task(ctx, task_id)
    actor = ctx.actor
    own = actor.user_id is not None and task.assignee_user_id == actor.user_id
    in_role = task.assignee_role is not None and task.assignee_role in actor.roles
    if not (actor.is_admin or own or in_role):
        raise PermissionDenied("Only the assignee or an administrator passes a task on.")
    if task.status != "open":
        raise Conflict("This task is already decided or closed.")
    target = get_user(ctx.session, to)
    if not target.is_active:
        raise ValidationFailed({"to": [f"{to} is disabled."]})
    entity = ctx.session.scalar(select(INSTANCE.c.entity).where(INSTANCE.c.id == task.instance_id))
    if not may_read(ctx.session, Actor.of(target), entity):
        label = ctx.model.entity(entity).label
        raise ValidationFailed(
            {"to": [f"{to} may not read {label} records, so cannot decide on this one."]}
        )
    task.assignee_user_id, task.assignee_role = target.id, None
    task.delegated_by = actor.user_id
    ctx.session.flush()
    return task


def add_substitute(
    ctx: FlowContext, to: str, starts_on: date, ends_on: date, *, user: str | None = None
) -> Substitute:
    """``to`` decides the tasks of the actor (or, for an administrator, of ``user``) from
    ``starts_on`` to ``ends_on`` (both included)."""
    if user is not None and not ctx.actor.is_admin:
        raise PermissionDenied("Only administrators set substitutes for others.")
    owner_id = get_user(ctx.session, user).id if user is not None else ctx.actor.user_id
    if owner_id is None:
        raise PermissionDenied("Only a user has substitutes.")
    errors: dict[str, list[str]] = {}
    if not isinstance(starts_on, date) or not isinstance(ends_on, date):
        errors["from"] = ["Give dates."]
    elif ends_on < starts_on:
        errors["until"] = ["The end is before the start."]
    elif (ends_on - starts_on).days > MAX_SUBSTITUTION_DAYS:
        errors["until"] = [f"At most {MAX_SUBSTITUTION_DAYS} days."]
    substitute = get_user(ctx.session, to)
    if substitute.id == owner_id:
        errors["to"] = ["Choose someone else."]
    if errors:
        raise ValidationFailed(errors)
    row = Substitute(
        user_id=owner_id, substitute_id=substitute.id, starts_on=starts_on, ends_on=ends_on
    )
    ctx.session.add(row)
    ctx.session.flush()
    return row


def _mine(actor: Actor, today: date | None) -> Any:
    """Which open tasks are ``actor``'s: assigned to them, to one of their roles, or to
    someone they substitute today (a subquery: one statement in all); None for none."""
    clauses: list[Any] = []
    if actor.user_id is not None:
        standing_in = select(Substitute.user_id).where(
            Substitute.substitute_id == actor.user_id,
            Substitute.starts_on <= (today or utcnow().date()),
            Substitute.ends_on >= (today or utcnow().date()),
        )
        clauses.append(FlowTask.assignee_user_id == actor.user_id)
        clauses.append(FlowTask.assignee_user_id.in_(standing_in))
    if actor.roles:
        clauses.append(FlowTask.assignee_role.in_(sorted(actor.roles)))
    if not clauses:
        return None
    return (FlowTask.status == "open") & or_(*clauses)


def my_tasks(ctx: FlowContext, today: date | None = None) -> list[FlowTask]:
    """Open tasks of the actor: assigned to them, to one of their roles, or to someone they
    substitute today."""
    mine = _mine(ctx.actor, today)
    if mine is None:
        return []
    return list(ctx.session.scalars(select(FlowTask).where(mine).order_by(FlowTask.id)))


def tasks_of(ctx: FlowContext, username: str, today: date | None = None) -> list[FlowTask]:
    """The open tasks :func:`my_tasks` lists for the user ``username`` (their inbox); only an
    administrator may read another user's."""
    if username != ctx.actor.username and not ctx.actor.is_admin:
        raise PermissionDenied("Only administrators list another user's tasks.")
    mine = _mine(Actor.of(get_user(ctx.session, username)), today)
    if mine is None:
        return []
    return list(ctx.session.scalars(select(FlowTask).where(mine).order_by(FlowTask.id)))


def count_my_tasks(ctx: FlowContext, today: date | None = None) -> int:
    """How many open tasks :func:`my_tasks` lists, in one ``COUNT`` (the menu shows it on
    every page)."""
    mine = _mine(ctx.actor, today)
    if mine is None:
        return 0
    return ctx.session.scalar(select(func.count()).select_from(FlowTask).where(mine)) or 0


def substitutes_of(ctx: FlowContext, today: date | None = None) -> list[Substitute]:
    """The actor's substitutions not yet over: whom they named, and whom they stand in for."""
    user_id = ctx.actor.user_id
    if user_id is None:
        return []
    return list(
        ctx.session.scalars(
            select(Substitute)
            .where(
                or_(Substitute.user_id == user_id, Substitute.substitute_id == user_id),
                Substitute.ends_on >= (today or utcnow().date()),
            )
            .order_by(Substitute.starts_on, Substitute.id)
        )
    )


def end_substitute(ctx: FlowContext, substitute_id: int, today: date | None = None) -> None:
    """End a substitution the actor named (an administrator: any): one not yet begun goes
    away, a running one ends yesterday (the substitute no longer decides from today)."""
    row = ctx.session.get(Substitute, substitute_id)
    actor = ctx.actor
    involved = row is not None and actor.user_id in (row.user_id, row.substitute_id)
    if row is None or not (involved or actor.is_admin):  # others' are not even there
        raise NotFound(f"No substitute {substitute_id}.")
    if row.user_id != actor.user_id and not actor.is_admin:
        raise PermissionDenied("Only who named a substitute ends it.")
    today = today or utcnow().date()
    if row.starts_on >= today:
        ctx.session.delete(row)
    else:
        row.ends_on = min(row.ends_on, today - timedelta(days=1))
    ctx.session.flush()
