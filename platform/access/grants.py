"""Changing what roles may do: entity grants and field access, validated, with history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from trellis.access.models import FIELD_ACCESS, SCOPES, FieldPermission, RolePermission
from trellis.accounts import Actor, Role
from trellis.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trellis.metamodel.changes import label_errors
from trellis.metamodel.compiled import CompiledModel
from trellis.metamodel.models import ConfigChange
from trellis.patterns import fixed

ROLE_KEY = fixed(r"^[a-z][a-z0-9_]{0,39}$")  # RE2: "$" is the very end


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise PermissionDenied("Only administrators may change roles.")


def role_row(session: Session, key: str) -> Role:
    role = session.scalar(select(Role).where(Role.key == key))
    if role is None:
        raise NotFound(f"No role {key!r}.")
    return role


def create_role(session: Session, actor: Actor, key: str, label: str) -> Role:
    """A new (empty) role."""
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    if not isinstance(key, str) or not ROLE_KEY.match(key):
        errors["key"] = ["Use 1-40 lower-case letters, digits or underscores."]
    problems = label_errors(label)
    if problems:
        errors["label"] = problems
    if errors:
        raise ValidationFailed(errors)
    if session.scalar(select(Role.id).where(Role.key == key)) is not None:
        raise Conflict(f"A role {key!r} exists already.")
    role = Role(key=key, label=label.strip(), builtin=False)
    session.add(role)
    session.add(ConfigChange(by=actor.user_id, action="role.create", target=key, detail={}))
    session.flush()
    return role


def set_grant(
    session: Session,
    actor: Actor,
    model: CompiledModel,
    role: str,
    entity: str,
    grant: dict[str, Any],
) -> dict[str, Any]:
    """Set what ``role`` may do with ``entity``: ``create`` (bool), ``read``/``update``/
    ``delete`` (none/own/all) and ``fields`` ({field: hidden|read_only}); replaces the old."""
    _require_admin(actor)
    row_role = role_row(session, role)
    if role == "admin":
        raise ValidationFailed({"role": ["The admin role may always do everything."]})
    if entity not in model.entities:
        raise NotFound(f"No entity type {entity!r}.")
    errors: dict[str, list[str]] = {}
    for name in grant:
        if name not in ("create", "read", "update", "delete", "fields"):
            errors[name] = ["Unknown property."]
    if not isinstance(grant.get("create", False), bool):
        errors["create"] = ["Use true or false."]
    for action in ("read", "update", "delete"):
        if grant.get(action, "none") not in SCOPES:
            errors[action] = [f"Use one of: {', '.join(SCOPES)}."]
    fields = grant.get("fields") or {}
    if not isinstance(fields, dict):
        errors["fields"] = ["Expected {field: 'hidden' | 'read_only'}."]
        fields = {}
    known = model.entities[entity].fields
    for key, access in fields.items():
        if key not in known:
            errors.setdefault("fields", []).append(f"Unknown field {key!r}.")
        elif access not in FIELD_ACCESS:
            errors.setdefault("fields", []).append(f"{key}: use hidden or read_only.")
    if errors:
        raise ValidationFailed(errors)
    session.execute(
        delete(RolePermission).where(
            RolePermission.role_id == row_role.id, RolePermission.entity == entity
        )
    )
    session.execute(
        delete(FieldPermission).where(
            FieldPermission.role_id == row_role.id, FieldPermission.entity == entity
        )
    )
    session.add(
        RolePermission(
            role_id=row_role.id,
            entity=entity,
            can_create=grant.get("create", False),
            read=grant.get("read", "none"),
            update=grant.get("update", "none"),
            delete=grant.get("delete", "none"),
        )
    )
    for key, access in fields.items():
        session.add(FieldPermission(role_id=row_role.id, entity=entity, field=key, access=access))
    result = {
        "role": role,
        "entity": entity,
        "create": grant.get("create", False),
        "read": grant.get("read", "none"),
        "update": grant.get("update", "none"),
        "delete": grant.get("delete", "none"),
        "fields": dict(fields),
    }
    session.add(
        ConfigChange(
            by=actor.user_id, action="role.grant", target=f"{role}.{entity}", detail=result
        )
    )
    session.flush()
    return result


def grants_of(session: Session, role: str) -> list[dict[str, Any]]:
    """Every grant of ``role``, with its field access."""
    row_role = role_row(session, role)
    fields: dict[str, dict[str, str]] = {}
    for fp in session.scalars(
        select(FieldPermission).where(FieldPermission.role_id == row_role.id)
    ):
        fields.setdefault(fp.entity, {})[fp.field] = fp.access
    return [
        {
            "role": role,
            "entity": rp.entity,
            "create": rp.can_create,
            "read": rp.read,
            "update": rp.update,
            "delete": rp.delete,
            "fields": fields.get(rp.entity, {}),
        }
        for rp in session.scalars(
            select(RolePermission)
            .where(RolePermission.role_id == row_role.id)
            .order_by(RolePermission.entity)
        )
    ]
