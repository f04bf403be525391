"""Shared setup of the tests of what record writes start (the triggers' cache and its stamp):
a one-step flow, a flow published in the caller's transaction, deals made and the flows they
started, and the SQL a runtime runs meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.orm import Session

from trellis.accounts import SYSTEM
from trellis.runtime import Runtime

ONE = {"steps": [{"id": "s", "label": "Approve", "approvers": {"users": ["ann"]}}]}


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """The SQL ``runtime`` runs meanwhile, lower-cased, on one line each."""
    seen: list[str] = []

    def note(_conn, _cursor, sql, *_args):  # type: ignore[no-untyped-def]
        seen.append(" ".join(sql.lower().split()))

    event.listen(runtime.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(runtime.engine, "before_cursor_execute", note)


def publish_on_create(runtime: Runtime, session: Session, key: str) -> None:
    """Make and publish, in ``session``'s transaction, a flow ``key`` on deals that starts
    when a deal is created (the route :data:`ONE`)."""
    service = runtime.flows(session, SYSTEM)
    service.create_flow(
        {"key": key, "label": key.title(), "entity": "deal", "trigger": {"on": "create"}}
    )
    service.add_version(key, route=ONE)
    service.publish(key, 1)


def new_deals(runtime: Runtime, *names: str) -> list[int]:
    """Deals created in one transaction of ``runtime``."""
    with runtime.transaction() as session:
        records = runtime.records(session)
        return [records.create("deal", {"name": n, "amount": 5}).id for n in names]


def started(runtime: Runtime, deal: int) -> list[str]:
    """The keys of the flows started on ``deal``."""
    with runtime.transaction() as session:
        flows = runtime.flows(session)
        return [flows.describe(i)["flow"] for i in flows.instances_of("deal", deal)]
