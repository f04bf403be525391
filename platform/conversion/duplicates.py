"""Duplicate rules as data, and finding candidates with normalised comparisons.

Normalising happens on both sides in SQL (lower case, spaces and phone punctuation removed),
so ``+372 555-0101`` matches ``3725550101`` and ``ACME  Ltd`` matches ``acme ltd``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from trellis.accounts import Actor
from trellis.conversion.models import DuplicateRule
from trellis.errors import NotFound, PermissionDenied, ValidationFailed
from trellis.metamodel.compiled import CompiledEntity, CompiledModel
from trellis.metamodel.models import ConfigChange
from trellis.records.service import RecordService

COMPARABLE = ("text", "email", "phone", "url", "integer", "list", "reference", "date")
PHONE_PUNCTUATION = (" ", "-", "(", ")", ".", "/", "+")


def normalise(type_name: str, value: Any) -> Any:
    """The comparable form of a value: what the SQL side computes, in Python."""
    if value is None:
        return None
    if type_name == "phone":
        return re.sub(r"\D", "", str(value))
    if type_name in ("text", "email", "url"):
        return re.sub(r"\s+", "", str(value)).lower()
    return value


def _column(entity: CompiledEntity, key: str) -> ColumnElement[Any]:
    f = entity.fields[key]
    column = entity.table.c[f.type.columns(f)[0].name]
    if f.type.name == "phone":
        for mark in PHONE_PUNCTUATION:
            column = func.replace(column, mark, "")
        return column
    if f.type.name in ("text", "email", "url"):
        for space in (" ", "\t"):
            column = func.replace(column, space, "")
        return func.lower(column)
    return column


def add_rule(
    session: Session, actor: Actor, model: CompiledModel, entity: str, fields: Any
) -> DuplicateRule:
    """A rule: records of ``entity`` with all of ``fields`` equal are duplicates."""
    if not actor.is_admin:
        raise PermissionDenied("Only administrators may change duplicate rules.")
    if entity not in model.entities:
        raise NotFound(f"No entity type {entity!r}.")
    known = model.entities[entity].fields
    errors = []
    if not isinstance(fields, list) or not fields:
        errors.append("Name one or more fields.")
    else:
        for key in fields:
            if key not in known:
                errors.append(f"Unknown field {key!r}.")
            elif known[key].type.name not in COMPARABLE:
                errors.append(f"{known[key].label} ({known[key].type.name}) cannot be compared.")
    if errors:
        raise ValidationFailed({"fields": errors})
    rule = DuplicateRule(entity=entity, fields=list(fields))
    session.add(rule)
    session.add(
        ConfigChange(
            by=actor.user_id, action="duplicates.add", target=entity, detail={"fields": fields}
        )
    )
    session.flush()
    return rule


def delete_rule(session: Session, actor: Actor, entity: str, rule_id: int) -> None:
    if not actor.is_admin:
        raise PermissionDenied("Only administrators may change duplicate rules.")
    rule = session.get(DuplicateRule, rule_id)
    if rule is None or rule.entity != entity:
        raise NotFound(f"{entity!r} has no duplicate rule {rule_id}.")
    session.delete(rule)
    session.add(
        ConfigChange(
            by=actor.user_id, action="duplicates.delete", target=entity, detail={"id": rule_id}
        )
    )


def rules_of(session: Session, entity: str) -> list[DuplicateRule]:
    return list(
        session.scalars(
            select(DuplicateRule).where(DuplicateRule.entity == entity).order_by(DuplicateRule.id)
        )
    )


def find_candidates(
    service: RecordService, entity: str, values: Mapping[str, Any], limit: int = 10
) -> list[dict[str, Any]]:
    """Records the caller may read that match ``values`` by any duplicate rule of
    ``entity``: ``[{"id", "title", "matched": [field, ...]}]``."""
    ent = service.model.entities[entity]
    hidden = service.access.hidden_fields(entity)
    conditions = []
    reasons: list[tuple[list[str], ColumnElement[bool]]] = []
    for rule in rules_of(service.session, entity):
        keys = [k for k in rule.fields if k in ent.fields and k not in hidden]
        if len(keys) != len(rule.fields):
            continue
        parts = []
        for key in keys:
            f = ent.fields[key]
            wanted = normalise(f.type.name, values.get(key))
            if wanted in (None, ""):
                break
            parts.append(_column(ent, key) == wanted)
        else:
            clause = and_(*parts)
            conditions.append(clause)
            reasons.append((keys, clause))
    if not conditions or not service.access.can("read", entity):
        return []
    query = select(ent.table.c.id).where(or_(*conditions))
    scope = service.access.scope_clause("read", entity, ent.table)
    if scope is not None:
        query = query.where(scope)
    ids = list(service.session.scalars(query.order_by(ent.table.c.id).limit(limit)))
    if not ids:
        return []
    titles = service.titles(entity, ids)
    matched: dict[int, list[str]] = {i: [] for i in ids}
    for keys, clause in reasons:
        for record_id in service.session.scalars(
            select(ent.table.c.id).where(clause, ent.table.c.id.in_(ids))
        ):
            matched[record_id].extend(k for k in keys if k not in matched[record_id])
    return [{"id": i, "title": titles.get(i), "matched": matched[i]} for i in ids]
