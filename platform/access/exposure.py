"""Rules that give hidden fields away: a rule that depends on a field a role hides and on a
field (or the stage) the same role may write answers, with every refused write, a question
about the hidden one. The admin UI warns about such rules."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.access.models import FieldPermission, RolePermission
from trellis.accounts import Role
from trellis.metamodel.compiled import CompiledEntity


def rule_warnings(session: Session, entity: CompiledEntity) -> dict[int, list[str]]:
    """Per rule id, one sentence per role for which the rule ties a field it hides to a field
    (or the stage) it may write."""
    grants = session.execute(
        select(Role.id, Role.label, RolePermission)
        .join(RolePermission, RolePermission.role_id == Role.id)
        .where(RolePermission.entity == entity.key)
        .order_by(Role.key)
    ).all()
    access: dict[int, dict[str, str]] = {}
    for fp in session.scalars(select(FieldPermission).where(FieldPermission.entity == entity.key)):
        access.setdefault(fp.role_id, {})[fp.field] = fp.access
    warnings: dict[int, list[str]] = {}
    for rule in entity.rules:
        names = rule.field_keys
        for role_id, label, grant in grants:
            if not (grant.can_create or grant.update != "none"):
                continue
            fields = access.get(role_id, {})
            hidden = sorted(k for k in names if fields.get(k) == "hidden")
            writable = sorted(k for k in names if k in entity.fields and k not in fields)
            if rule.from_stage is not None:
                writable.append("the stage")
            if hidden and writable:
                warnings.setdefault(rule.id, []).append(
                    f"Role {label!r} hides {', '.join(hidden)} but may change "
                    f"{', '.join(writable)}: each refused change tells them whether this rule "
                    "holds, i.e. something about the hidden value."
                )
    return warnings
