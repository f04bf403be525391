"""``/api/meta/roles``: roles and what they may do (administrators only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from trellis.access.grants import create_role, grants_of, set_grant
from trellis.accounts import Role
from trellis.api import schemas
from trellis.api.blueprint import api
from trellis.api.context import require_administrator, unit
from trellis.api.meta_schemas import GrantBody, RoleCreate


def _role_json(session, role: Role) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "key": role.key,
        "label": role.label,
        "builtin": role.builtin,
        "permissions": grants_of(session, role.key),
    }


@api.get("/meta/roles")
@api.problems(403)
@api.alt_response(200, schema=schemas.RoleListSchema, success=True)
def list_roles() -> Any:
    """Roles and their permissions"""
    with unit() as (_runtime, session, actor):
        require_administrator(actor, "may read roles")
        roles = session.scalars(select(Role).order_by(Role.id)).all()
        return {"items": [_role_json(session, r) for r in roles]}


@api.post("/meta/roles")
@api.arguments(RoleCreate)
@api.problems(400, 403, 409, 422)
@api.alt_response(201, schema=schemas.RoleSchema, success=True)
def create_role_view(data: dict[str, Any]) -> Any:
    """Create a role"""
    with unit() as (_runtime, session, actor):
        role = create_role(session, actor, data["key"], data["label"])
        return _role_json(session, role), 201


@api.put("/meta/roles/<role>/permissions/<entity>")
@api.arguments(GrantBody)
@api.problems(400, 403, 404, 422)
@api.alt_response(200, schema=schemas.GrantSchema, success=True)
def set_permissions(data: dict[str, Any], role: str, entity: str) -> Any:
    """Set what a role may do with an entity type"""
    with unit() as (runtime, session, actor):
        return set_grant(session, actor, runtime.model(session), role, entity, data)
