"""Due timers: deadlines live in our tables (``flow_instance.next_due_at``, ``flow_task.due_at``)
and a worker fires them with :func:`fire_due_timers`.

A step whose route decides automatically at its deadline (``on_deadline``) gets its decision
recorded here, in the same savepoint as the step: it exists exactly when the timer fired.

Several workers share the work: on PostgreSQL each picks due instances with ``FOR UPDATE SKIP
LOCKED``; on SQLite writers take turns (``BEGIN IMMEDIATE``) and the ``rev`` check guards the
save either way, so an escalation fires exactly once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from trellis.accounts import SYSTEM
from trellis.clock import as_utc, to_storage
from trellis.errors import Conflict
from trellis.flows.context import FlowContext
from trellis.flows.instance_rows import Loaded, load
from trellis.flows.instances import step
from trellis.flows.models import FlowDecision, FlowInstance, FlowTask
from trellis.flows.worker import skip_locked

BATCH = 100


def fire_due_timers(ctx: FlowContext, now: datetime, limit: int = BATCH) -> int:
    """Fire the timers due at ``now`` (the clock is passed in) in ``ctx``'s transaction;
    returns how many instances moved on."""
    session = ctx.session
    stored = to_storage(now)
    query = (
        select(FlowInstance.id)
        .where(FlowInstance.status == "running", FlowInstance.next_due_at <= stored)
        .order_by(FlowInstance.next_due_at)
        .limit(limit)
    )
    query = skip_locked(query, session)
    moved = 0
    for instance_id in list(session.scalars(query)):
        loaded = load(ctx, instance_id)
        if loaded is None or loaded.status != "running":
            continue
        expired: list[str] = []

        def act(process: Any, expired: list[str] = expired) -> None:
            at = as_utc(now)
            expired.extend(
                t.activity for t in process.timers() if t.activity and t.due and t.due <= at
            )
            process.fire_timers(at)

        try:
            with session.begin_nested():
                if step(ctx, loaded, act, stored):
                    moved += 1
                    _automatic_decisions(ctx, loaded, expired, stored)
        except Conflict:
            continue  # another worker saved it first: it fired there
    return moved


def _automatic_decisions(
    ctx: FlowContext, loaded: Loaded, activities: list[str], now: datetime
) -> None:
    """The decisions the route made at the deadlines of ``activities`` (steps with
    ``on_deadline``), each on the step's first task, by nobody."""
    steps = {s["id"]: s for s in (loaded.route or {}).get("steps", []) if s.get("on_deadline")}
    for activity in dict.fromkeys(activities):
        found = steps.get(activity)
        if found is None:
            continue
        task_id = ctx.session.scalar(
            select(func.min(FlowTask.id)).where(
                FlowTask.instance_id == loaded.id, FlowTask.activity == activity
            )
        )
        if task_id is None:
            continue
        verb = "approved" if found["on_deadline"] == "approve" else "rejected"
        ctx.session.add(
            FlowDecision(
                task_id=task_id,
                instance_id=loaded.id,
                user_id=None,
                decision=found["on_deadline"],
                comment=f"No decision within {found['deadline']}: {verb} automatically.",
                at=now,
            )
        )
    ctx.session.flush()


def any_due(session: Any, now: datetime) -> bool:
    """Whether a timer is due at ``now`` (a read: an idle worker takes no write lock)."""
    found = session.scalar(
        select(FlowInstance.id)
        .where(FlowInstance.status == "running", FlowInstance.next_due_at <= to_storage(now))
        .limit(1)
    )
    return found is not None


def run_due_timers(runtime: Any, now: datetime) -> int:
    """The worker's job (``flow_timers``): when a read finds a timer due at ``now``, fire
    what is due in a write transaction of its own."""
    with runtime.transaction(read_only=True) as session:
        if not any_due(session, now):
            return 0
    with runtime.transaction(read_only=False) as session:
        return fire_due_timers(runtime.flows(session, SYSTEM).context, now)


def _register() -> None:
    from trellis.flows.worker import register_job

    register_job("flow_timers", run_due_timers, in_transaction=False)


_register()
