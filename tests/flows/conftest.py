"""Flows fixtures: a deal entity with a pipeline, approvers and a manager role; the small CRM
of the automation, outbox, worker and notification tests."""

from __future__ import annotations

from typing import Any

import pytest
from automation_world import build_crm
from configured_fixtures import configured

from trellis.access.grants import create_role, set_grant
from trellis.accounts import SYSTEM, Actor, create_user

USERS = {
    "ann": ["user", "manager"],
    "bob": ["user"],
    "cy": ["user"],
    "dee": ["user"],
    "boss": ["user"],
    "sub": ["user"],
}


class Flows:
    """Each call runs in its own transaction (a fresh load of every instance)."""

    def __init__(self, runtime, actors: dict[str, Actor]) -> None:  # type: ignore[no-untyped-def]
        self.runtime = runtime
        self.actors = actors

    def __call__(self, method: str, *args: Any, actor: str | Actor = "admin", **kwargs: Any) -> Any:
        who = (
            actor
            if isinstance(actor, Actor)
            else (SYSTEM if actor == "admin" else self.actors[actor])
        )
        with self.runtime.transaction() as session:
            result = getattr(self.runtime.flows(session, who), method)(*args, **kwargs)
            if hasattr(result, "id"):
                session.flush()
                session.refresh(result)
            return result

    def describe(self, instance_id: int) -> dict[str, Any]:
        with self.runtime.transaction() as session:
            return self.runtime.flows(session).describe(instance_id)

    def open_tasks(self, instance_id: int) -> list[dict[str, Any]]:
        return [t for t in self.describe(instance_id)["tasks"] if t["status"] == "open"]

    def task_of(self, instance_id: int, username: str) -> int:
        return next(t["id"] for t in self.open_tasks(instance_id) if t["assignee"] == username)

    def flow(self, key: str, route: dict[str, Any], trigger: dict[str, Any] | None = None) -> None:
        self(
            "create_flow",
            {
                "key": key,
                "label": key.title(),
                "entity": "deal",
                "trigger": trigger or {"on": "manual"},
            },
        )
        self("add_version", key, route=route)
        self("publish", key, 1)


@configured
def actors(runtime, factory) -> dict[str, Actor]:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text", "amount": "decimal", "manager": "user"})
    stages = [
        {"key": "new", "label": "New", "kind": "open"},
        {"key": "review", "label": "Review", "kind": "open"},
        # only a flow's outcome moves a deal to won
        {"key": "won", "label": "Won", "kind": "success", "flow_only": True},
        {"key": "lost", "label": "Lost", "kind": "failure"},
    ]
    factory.meta("create_pipeline", "deal", "sales", "Sales", stages)
    found = {}
    with runtime.transaction() as session:
        create_role(session, SYSTEM, "manager", "Manager")
        # approvers must read what they decide on (publishing a route checks it)
        set_grant(session, SYSTEM, runtime.model(session), "user", "deal", {"read": "all"})
        for name, roles in USERS.items():
            found[name] = Actor.of(create_user(session, name, f"{name}-password-long", roles))
    return found


@pytest.fixture
def flows(runtime, actors) -> Flows:  # type: ignore[no-untyped-def]
    return Flows(runtime, actors)


@configured
def crm(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    """The small CRM of automation_world (leads in a pipeline, deals, a lead -> deal
    conversion map, users alice and bob), built once into a template."""
    build_crm(factory, runtime)
