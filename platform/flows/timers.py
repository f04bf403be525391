"""Due timers: deadlines live in our tables (``flow_instance.next_due_at``, ``flow_task.due_at``)
and a worker fires them with :func:`fire_due_timers`.

Several workers share the work: on PostgreSQL each picks due instances with ``FOR UPDATE SKIP
LOCKED``; on SQLite writers take turns (``BEGIN IMMEDIATE``) and the ``rev`` check guards the
save either way, so an escalation fires exactly once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from trellis.accounts import SYSTEM
from trellis.clock import as_utc, to_storage
from trellis.errors import Conflict
from trellis.flows.context import FlowContext
from trellis.flows.instances import load, step
from trellis.flows.models import FlowInstance
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
        try:
            with session.begin_nested():
                if step(ctx, loaded, lambda process: process.fire_timers(as_utc(now)), stored):
                    moved += 1
        except Conflict:
            continue  # another worker saved it first: it fired there
    return moved


def run_due_timers(runtime: Any, now: datetime) -> int:
    """The worker's job (``flow_timers``): fire what is due at ``now`` in a transaction of
    its own."""
    with runtime.transaction() as session:
        return fire_due_timers(runtime.flows(session, SYSTEM).context, now)


def _register() -> None:
    from trellis.flows.worker import register_job

    register_job("flow_timers", run_due_timers, in_transaction=False)


_register()
