"""``/api/meta/roles``: roles and what they may do (administrators only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from trellis.access.grants import create_role, grants_of, set_grant
from trellis.accounts import Role
from trellis.api.blueprint import api
from trellis.api.context import unit
from trellis.api.meta_schemas import GrantBody, RoleCreate, load_body
from trellis.errors import PermissionDenied


def _role_json(session, role: Role) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "key": role.key,
        "label": role.label,
        "builtin": role.builtin,
        "permissions": grants_of(session, role.key),
    }


@api.get("/meta/roles")
def list_roles() -> Any:
    with unit() as (_runtime, session, actor):
        if not actor.is_admin:
            raise PermissionDenied("Only administrators may read roles.")
        roles = session.scalars(select(Role).order_by(Role.id)).all()
        return {"items": [_role_json(session, r) for r in roles]}


@api.post("/meta/roles")
def create_role_view() -> Any:
    data = load_body(RoleCreate)
    with unit() as (_runtime, session, actor):
        role = create_role(session, actor, data["key"], data["label"])
        return _role_json(session, role), 201


@api.put("/meta/roles/<role>/permissions/<entity>")
def set_permissions(role: str, entity: str) -> Any:
    data = load_body(GrantBody)
    with unit() as (runtime, session, actor):
        return set_grant(session, actor, runtime.model(session), role, entity, data)
