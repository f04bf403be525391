"""Approvers see what they decide on, within the fields their roles show.

The rule (issue 13, "who decides"): an approver must be able to read records of the flow's
type at all. So

- publishing a route refuses approvers (users, roles, escalations) whose roles grant no read
  on the entity type, naming each by its JSON path (a role passes when it grants read, or
  when each of its active members reads through another role; a role nobody has yet passes);
- a user field's approvers who may not read are left out when an instance starts (a step left
  with nobody fails the instance with the reason: see :mod:`.routes`);
- a task is delegated or reassigned only to a user who may read such records;
- in a task view, an approver whose read scope does not cover this record (a role reading
  only its own records) reads it through the task, with the fields their roles hide on
  others' records hidden (:func:`record_for_task`). Nobody reads a record through a task
  they have nothing to do with, and no field a role hides ever shows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from trellis.access.policy import load_access
from trellis.accounts import SYSTEM, Actor, Role, User, user_roles
from trellis.clock import utcnow
from trellis.errors import NotFound, PermissionDenied, ValidationFailed
from trellis.flows.context import FlowContext
from trellis.flows.models import FlowInstance, FlowTask


def may_read(session: Session, actor: Actor, entity: str) -> bool:
    """Whether ``actor``'s roles let them read some records of ``entity``."""
    return load_access(session, actor).can("read", entity)


def role_may_read(session: Session, role: str, entity: str) -> bool:
    """Whether the role grants read on ``entity``, or each of its active members may read
    through another role of theirs (a role nobody has yet passes: a step finding it vacant
    escalates or fails its instance, see :mod:`.routes`)."""
    if may_read(session, Actor(None, f"role:{role}", frozenset({role})), entity):
        return True
    members = session.scalars(
        select(User)
        .join(user_roles, user_roles.c.user_id == User.id)
        .join(Role, Role.id == user_roles.c.role_id)
        .where(Role.key == role, User.is_active.is_(True))
    ).all()
    return all(may_read(session, Actor.of(u), entity) for u in members)


def user_may_read(session: Session, username: str, entity: str) -> bool:
    user = session.scalar(select(User).where(User.username == username))
    return user is not None and may_read(session, Actor.of(user), entity)


def check_route_readers(ctx: FlowContext, entity: str, route: dict[str, Any]) -> None:
    """ValidationFailed naming every approver of ``route`` who may not read ``entity``."""
    session = ctx.session
    label = ctx.model.entity(entity).label
    why = f"may not read {label} records; an approver must see the record they decide on"
    errors: dict[str, list[str]] = {}
    for index, step in enumerate(route.get("steps") or []):
        path = f"route.steps[{index}]"
        approvers = step.get("approvers") or {}
        for position, name in enumerate(approvers.get("users") or []):
            if not user_may_read(session, name, entity):
                errors[f"{path}.approvers.users[{position}]"] = [
                    f"{name} {why} (give their role read access first)."
                ]
        role = approvers.get("role")
        if role and not role_may_read(session, role, entity):
            errors[f"{path}.approvers.role"] = [
                f"The role {role} {why} (give it read access first)."
            ]
        escalate = step.get("escalate_to")
        if isinstance(escalate, str):
            escalate = {"user": escalate}
        if isinstance(escalate, dict) and escalate:
            kind, name = next(iter(escalate.items()))
            readable = (
                user_may_read(session, name, entity)
                if kind == "user"
                else role_may_read(session, name, entity)
            )
            if not readable:
                who = name if kind == "user" else f"The role {name}"
                errors[f"{path}.escalate_to"] = [f"{who} {why}."]
    if errors:
        raise ValidationFailed(errors)


def readers_among(session: Session, user_ids: list[int], entity: str) -> list[int]:
    """The users of ``user_ids`` who may read records of ``entity``."""
    users = session.scalars(select(User).where(User.id.in_(user_ids))).all()
    readable = {u.id for u in users if may_read(session, Actor.of(u), entity)}
    return [i for i in user_ids if i in readable]


def is_approver(ctx: FlowContext, instance_id: int) -> bool:
    """Whether the actor is (or substitutes today for) an assignee of a task of the instance."""
    from trellis.flows.tasks import substituted_by

    actor = ctx.actor
    users = [actor.user_id] if actor.user_id is not None else []
    if actor.user_id is not None:
        users += substituted_by(ctx, actor.user_id, utcnow().date())
    clauses: list[Any] = []
    if users:
        clauses.append(FlowTask.assignee_user_id.in_(users))
    if actor.roles:
        clauses.append(FlowTask.assignee_role.in_(sorted(actor.roles)))
    if not clauses:
        return False
    found = ctx.session.scalar(
        select(FlowTask.id).where(FlowTask.instance_id == instance_id, or_(*clauses)).limit(1)
    )
    return found is not None


def record_for_task(ctx: FlowContext, instance_id: int) -> tuple[Any, bool] | None:
    """The record of an instance as the actor may see it in a task view, and whether they
    read it through the task (their read scope does not cover it); None when they may not
    see it at all. Fields their roles hide are never in its values."""
    instance = ctx.session.get(FlowInstance, instance_id)
    if instance is None:
        return None
    records = ctx.records(ctx.actor)
    try:
        return records.get(instance.entity, instance.record_id), False
    except (NotFound, PermissionDenied):
        pass
    if not records.access.can("read", instance.entity) or not is_approver(ctx, instance_id):
        return None
    try:
        record = ctx.records(SYSTEM).get(instance.entity, instance.record_id)
    except NotFound:
        return None
    hidden = records.access.hidden_on(instance.entity, record.owner_id)
    record.values = {k: v for k, v in record.values.items() if k not in hidden}
    return record, True
