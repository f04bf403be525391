"""Reading process instances: the instances of a record (for whoever may read it) and one
instance described with its tasks and decisions, by username."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from trellis.accounts import User
from trellis.flows.context import FlowContext
from trellis.flows.models import Flow, FlowDecision, FlowInstance, FlowTask, FlowVersion


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
