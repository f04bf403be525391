"""A process instance's stored state as a step reads and writes it: the :class:`Loaded` row
and the statements of a step (:mod:`trellis.flows.instances`), built once and run with Core
(a step is the hot path)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, insert, or_, select, update

from trellis.accounts import User
from trellis.flows.context import FlowContext
from trellis.flows.models import FlowInstance, FlowTask, FlowVersion

INSTANCE = FlowInstance.__table__
TASK = FlowTask.__table__
VERSION = FlowVersion.__table__


@dataclass
class Loaded:
    """An instance row as a step needs it (read with Core: a step is the hot path)."""

    id: int
    rev: int
    status: str
    state: str
    version_id: int
    flow_id: int
    entity: str
    record_id: int
    hash: str
    route: dict[str, Any] | None


LOADED_COLUMNS = (
    INSTANCE.c.id,
    INSTANCE.c.rev,
    INSTANCE.c.status,
    INSTANCE.c.state,
    INSTANCE.c.version_id,
    INSTANCE.c.flow_id,
    INSTANCE.c.entity,
    INSTANCE.c.record_id,
    VERSION.c.hash,
    VERSION.c.route,
)


def loaded_query() -> Any:
    """``SELECT`` of :class:`Loaded` rows (add the ``WHERE``)."""
    return select(*LOADED_COLUMNS).join_from(
        INSTANCE, VERSION, VERSION.c.id == INSTANCE.c.version_id
    )


# the statements of a step, built once (values go in as parameters)
LOAD = loaded_query().where(INSTANCE.c.id == bindparam("instance_id"))
SAVE = (
    update(INSTANCE)
    .where(INSTANCE.c.id == bindparam("b_instance"), INSTANCE.c.rev == bindparam("old_rev"))
    .values(
        state=bindparam("state"),
        rev=bindparam("new_rev"),
        status=bindparam("new_status"),
        outcome=bindparam("new_outcome"),
        next_due_at=bindparam("due"),
        finished_at=bindparam("finished"),
    )
)
#: the decided task becomes completed, the tasks no longer waiting cancelled
CLOSE_TASKS = (
    update(TASK)
    .where(
        TASK.c.instance_id == bindparam("b_instance"),
        TASK.c.status == "open",
        or_(
            TASK.c.id == bindparam("decided"),
            TASK.c.spiff_id.in_(bindparam("gone", expanding=True)),
        ),
    )
    .values(
        status=case((TASK.c.id == bindparam("decided"), "completed"), else_="cancelled"),
        closed_at=bindparam("now"),
    )
)
USER = User.__table__
#: new task rows, the assignee's user id looked up by username in the same statement
INSERT_TASKS = insert(TASK).values(
    assignee_user_id=select(USER.c.id)
    .where(USER.c.username == bindparam("username"))
    .scalar_subquery()
)


def load(ctx: FlowContext, instance_id: int) -> Loaded | None:
    row = ctx.session.connection().execute(LOAD, {"instance_id": instance_id}).one_or_none()
    return Loaded(*row) if row is not None else None
