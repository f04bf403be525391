"""Duplicate rules as data, and finding candidates with normalised comparisons.

Values are compared in their comparable form (:mod:`trellis.metamodel.normalised`: lower
case, spaces and phone punctuation removed), so ``+372 555-0101`` matches ``3725550101`` and
``ACME  Ltd`` matches ``acme ltd``. Every field a rule compares has an index on that form, kept
by the schema planner (:data:`trellis.metamodel.changes.COMPARED_FIELDS`): creating a rule
builds it, deleting the last rule of a field drops it, so a check is an indexed equality.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, or_, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from trellis.accounts import Actor
from trellis.conversion.configuration import RuleSpec, changed, conversion_setup
from trellis.conversion.models import DuplicateRule
from trellis.errors import NotFound, PermissionDenied, ValidationFailed
from trellis.metamodel.changes import COMPARED_FIELDS, sync_schema
from trellis.metamodel.compiled import CompiledEntity, CompiledModel
from trellis.metamodel.models import ConfigChange, EntityType
from trellis.metamodel.normalised import COMPARABLE, normalise
from trellis.records.direct import DirectSelect
from trellis.records.service import RecordService


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
            if not isinstance(key, str) or key not in known:
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
    changed(session)
    _index_compared_fields(session, entity)
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
    session.flush()
    changed(session)
    _index_compared_fields(session, entity)


def rules_of(session: Session, entity: str) -> list[DuplicateRule]:
    return list(
        session.scalars(
            select(DuplicateRule).where(DuplicateRule.entity == entity).order_by(DuplicateRule.id)
        )
    )


def find_candidates(
    service: RecordService,
    entity: str,
    values: Mapping[str, Any],
    limit: int = 10,
    *,
    rules: Sequence[DuplicateRule | RuleSpec] | None = None,
) -> list[dict[str, Any]]:
    """Records the caller may read that match ``values`` by any duplicate rule of
    ``entity`` (``rules``: those to use, else all of them): ``[{"id", "title", "matched":
    [field, ...]}]``."""
    ent = service.model.entities[entity]
    hidden = service.access.hidden_fields(entity)
    if rules is None:
        rules = conversion_setup(service.session, service.model).rules_of(entity)
    shape: list[tuple[str, ...]] = []
    params: dict[str, Any] = {}
    for rule in rules:
        keys = [k for k in rule.fields if k in ent.fields and k not in hidden]
        if len(keys) != len(rule.fields):
            continue
        wanted = [normalise(ent.fields[k].type.name, values.get(k)) for k in keys]
        if any(w in (None, "") for w in wanted):
            continue
        params.update({f"v{len(shape)}_{i}": w for i, w in enumerate(wanted)})
        shape.append(tuple(keys))
    if not shape or not service.access.can("read", entity):
        return []
    query, clauses, direct = _candidates_query(service.model, ent, tuple(shape), limit)
    scope = service.access.scope_clause("read", entity, ent.table)
    # Core, on the transaction's connection: record tables have no ORM objects to flush
    connection = service.session.connection()
    if scope is not None:
        ids = list(connection.execute(query.where(scope), params).scalars())
    else:  # compiled once, run on the driver's cursor (no execution context or result)
        ids = [row["id"] for row in direct(connection.dialect).rows(connection, params)]
    if not ids:
        return []
    titles = service.titles(entity, ids)
    matched: dict[int, list[str]] = {i: [] for i in ids}
    for keys, clause in zip(shape, clauses, strict=True):
        for record_id in connection.execute(
            select(ent.table.c.id).where(clause, ent.table.c.id.in_(ids)), params
        ).scalars():
            matched[record_id].extend(k for k in keys if k not in matched[record_id])
    return [{"id": i, "title": titles.get(i), "matched": matched[i]} for i in ids]


def _candidates_query(
    model: CompiledModel, ent: CompiledEntity, shape: tuple[tuple[str, ...], ...], limit: int
) -> tuple[Select[Any], list[ColumnElement[bool]], Callable[[Dialect], DirectSelect]]:
    """The query of candidates by rules comparing the fields of ``shape`` (each rule's
    values as parameters ``v<rule>_<field>``), each rule's condition, and the query compiled
    for a dialect (when no read scope narrows it): built once per compiled model, so it is
    compiled once too."""
    key = (ent.key, shape, limit)
    built = model.memo.setdefault("duplicate_queries", {})
    if key not in built:
        compared = ent.comparable_columns
        clauses = [
            and_(*(compared[k] == bindparam(f"v{r}_{i}") for i, k in enumerate(keys)))
            for r, keys in enumerate(shape)
        ]
        query = select(ent.table.c.id).where(or_(*clauses)).order_by(ent.table.c.id).limit(limit)
        compiled: dict[Dialect, DirectSelect] = {}

        def direct(dialect: Dialect) -> DirectSelect:
            found = compiled.get(dialect)
            if found is None:
                found = compiled[dialect] = DirectSelect(query, dialect)
            return found

        built[key] = (query, clauses, direct)
    return built[key]  # type: ignore[no-any-return]


def compared_fields(session: Session, entity: str) -> set[str]:
    """The fields of ``entity`` that a duplicate rule compares."""
    return {key for rule in rules_of(session, entity) for key in rule.fields}


def _index_compared_fields(session: Session, entity: str) -> None:
    """Create (or drop) the indexes on the compared fields' normalised values."""
    row = session.scalar(select(EntityType).where(EntityType.key == entity))
    if row is not None:
        sync_schema(session, row)


def index_all_compared_fields(session: Session) -> None:
    """Make sure every field a rule compares has its index (for rules from older versions)."""
    for entity in sorted(set(session.scalars(select(DuplicateRule.entity)))):
        _index_compared_fields(session, entity)


COMPARED_FIELDS.append(compared_fields)
