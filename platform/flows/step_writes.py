"""What a step writes, in as few round trips as the database allows: the guarded save of the
process (``UPDATE ... WHERE rev = :old_rev``), closing the task rows no longer waiting, the
rows of the tasks that became ready, and the decision that moved it.

On PostgreSQL they go as one statement: the save is a data-modifying ``WITH`` whose
``RETURNING`` the other writes select from, so when the rev check fails (someone saved
first) nothing at all is written, exactly as when the save ran first and raised. The
statement is built once per shape (how many new tasks; closing or not; a decision or not).
On SQLite, in-process, they run one after the other, the save first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, DateTime, String, bindparam, func, insert, select
from sqlalchemy.engine import Connection

from trellis.accounts import User
from trellis.flows.models import FlowDecision, FlowInstance, FlowTask

INSTANCE = FlowInstance.__table__
TASK = FlowTask.__table__
DECISION = FlowDecision.__table__
USER = User.__table__

TASK_COLUMNS = (
    "instance_id",
    "spiff_id",
    "activity",
    "label",
    "assignee_role",
    "delegated_by",
    "due_at",
    "status",
    "created_at",
    "closed_at",
)
DECISION_COLUMNS = (
    "task_id",
    "instance_id",
    "user_id",
    "on_behalf_of",
    "decision",
    "comment",
    "at",
)
TYPES = {
    "instance_id": BigInteger(),
    "task_id": BigInteger(),
    "user_id": BigInteger(),
    "on_behalf_of": BigInteger(),
    "delegated_by": BigInteger(),
    "due_at": DateTime(),
    "created_at": DateTime(),
    "closed_at": DateTime(),
    "at": DateTime(),
}


@dataclass
class StepWrites:
    """The writes of one step: ``save`` (the SAVE statement's parameters), ``close`` (the
    CLOSE_TASKS parameters, or None), ``new_tasks`` (INSERT_TASKS rows) and ``decision``
    (a flow_decision row, or None)."""

    save: dict[str, Any]
    close: dict[str, Any] | None = None
    new_tasks: list[dict[str, Any]] = field(default_factory=list)
    decision: dict[str, Any] | None = None


_COMBINED: dict[tuple[int, bool, bool], Any] = {}


def _typed(name: str, column: str) -> Any:
    return bindparam(name, type_=TYPES.get(column, String()))


def combined(save: Any, close: Any, shape: tuple[int, bool, bool]) -> Any:
    """The one PostgreSQL statement of a step of ``shape``; selects 1 when the save held."""
    found = _COMBINED.get(shape)
    if found is not None:
        return found
    new_count, closing, deciding = shape
    saved = save.returning(INSTANCE.c.id).cte("saved")
    held = select(saved.c.id).exists()
    ctes = []
    if closing:
        ctes.append(close.where(held).cte("closed"))
    for n in range(new_count):
        values = [_typed(f"t{n}_{c}", c) for c in TASK_COLUMNS]
        assignee = (
            select(USER.c.id)
            .where(USER.c.username == bindparam(f"t{n}_username", type_=String()))
            .scalar_subquery()
        )
        rows = select(*values, assignee).select_from(saved)
        ctes.append(
            insert(TASK).from_select([*TASK_COLUMNS, "assignee_user_id"], rows).cte(f"task{n}")
        )
    if deciding:
        rows = select(*[_typed(f"d_{c}", c) for c in DECISION_COLUMNS]).select_from(saved)
        ctes.append(insert(DECISION).from_select(list(DECISION_COLUMNS), rows).cte("decided"))
    statement = select(func.count()).select_from(saved).add_cte(*ctes)
    _COMBINED[shape] = statement
    return statement


def write(conn: Connection, writes: StepWrites, save: Any, close: Any, insert_tasks: Any) -> bool:
    """Run the step's writes; False (and nothing written) when the rev check failed."""
    if conn.dialect.name == "postgresql":
        shape = (len(writes.new_tasks), writes.close is not None, writes.decision is not None)
        params = dict(writes.save)
        if writes.close is not None:
            params.update(writes.close)
        for n, row in enumerate(writes.new_tasks):
            params.update({f"t{n}_{k}": v for k, v in row.items()})
        if writes.decision is not None:
            params.update({f"d_{k}": v for k, v in writes.decision.items()})
        statement = combined(save, close, shape)
        return bool(conn.execute(statement, params).scalar())
    if conn.execute(save, writes.save).rowcount != 1:
        return False
    if writes.close is not None:
        conn.execute(close, {"b_instance": writes.save["b_instance"], **writes.close})
    if writes.new_tasks:
        conn.execute(insert_tasks, writes.new_tasks)
    if writes.decision is not None:
        conn.execute(insert(DECISION), writes.decision)
    return True
