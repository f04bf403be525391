"""What a plan's changes do to stored data, in counts (read only; nothing is changed).

Per object (``kind:key``), sentences such as "12 deal records hold values a whole number
field refuses", "40 existing deal records lack Close date, now required", "3 records keep
their Notes values (the field is archived)", "5 records wait in stage lost, which goes".
The type change's check is the metamodel service's own (the one that refuses the change),
so the plan and the apply agree.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from trellis.metamodel.fieldtypes import UnknownFieldType, registry
from trellis.metamodel.physical import FieldLayout, record_table_name
from trellis.packs.plan import ObjectPlan, Plan


def impact_of(runtime: Any, session: Session, plan: Plan) -> dict[str, list[str]]:
    meta = runtime.metamodel(session)
    out: dict[str, list[str]] = {}
    for obj in plan.objects:
        notes: list[str] = []
        if obj.kind == "entity" and obj.live is not None:
            if obj.action == "change":
                notes = _entity(meta, session, obj)
            elif obj.action == "archive":
                count = _count(session, obj.key, None)
                if count:
                    notes = [f"{count} {obj.key} records are kept (the entity type is archived)"]
        elif obj.kind == "pipeline" and obj.live is not None:
            notes = _pipeline(meta, obj)
        if notes:
            out[obj.name] = notes
    return out


def _entity(meta: Any, session: Session, obj: ObjectPlan) -> list[str]:
    entity = obj.key
    row = meta.entity_row(entity, archived=None)
    before = {f["key"]: f for f in (obj.live or {}).get("fields") or []}
    after = {f["key"]: f for f in (obj.document or {}).get("fields") or []}
    notes = []
    for key, new in after.items():
        old = before.get(key)
        field = next((f for f in row.fields if f.key == key), None)
        if old is not None and field is not None and new.get("type") != old.get("type"):
            try:
                new_type = registry.get(new.get("type"))
            except UnknownFieldType:
                continue
            settings = new.get("settings") or {}
            unfit = meta._unfit_values(row, field, new_type, settings)
            notes += unfit or [f"{key}: every stored value fits a {new_type.name} field"]
        newly_required = new.get("required") and not (old or {}).get("required")
        if newly_required:
            missing = _count(session, entity, field if old is not None else None)
            if missing:
                notes.append(
                    f"{key}: {missing} existing {entity} records lack it, and it is now required"
                )
    for key in before:
        if key not in after:
            field = next((f for f in row.fields if f.key == key), None)
            held = _count(session, entity, field, present=True) if field is not None else 0
            if held:
                notes.append(f"{key}: {held} records keep their values (the field is archived)")
    return notes


def _pipeline(meta: Any, obj: ObjectPlan) -> list[str]:
    entity, _, key = obj.key.partition(".")
    before = {s["key"] for s in (obj.live or {}).get("stages") or []}
    after = {s["key"] for s in (obj.document or {}).get("stages") or []}
    notes = []
    gone = sorted(before - after) if obj.action == "change" else sorted(before)
    for stage in gone:
        waiting = meta.records_in_stage(entity, key, stage)
        if waiting:
            notes.append(f"{waiting} records are in stage {stage}, which the pack removes")
    return notes


def _count(session: Session, entity: str, field: Any, present: bool = False) -> int:
    """Records of ``entity`` (lacking ``field``'s value, or holding one with ``present``;
    every record when ``field`` is None)."""
    table = sa.table(record_table_name(entity))
    query = sa.select(sa.func.count()).select_from(table)
    if field is not None:
        try:
            field_type = registry.get(field.type)
        except UnknownFieldType:
            return 0
        columns = field_type.columns(FieldLayout(field.key, field_type, field.settings or {}))
        if not columns:
            return 0
        column = sa.column(columns[0].name)
        table = sa.table(record_table_name(entity), column)
        query = sa.select(sa.func.count()).select_from(table)
        query = query.where(column.is_not(None) if present else column.is_(None))
    return session.scalar(query) or 0
