"""Entity type operations: create, change, archive, restore, purge."""

from __future__ import annotations

import string
from typing import Any

from sqlalchemy import inspect, select

from trellis.errors import Conflict, ValidationFailed
from trellis.metamodel.changes import (
    USAGE_CHECKS,
    Errors,
    MetamodelChanges,
    key_errors,
    label_errors,
)
from trellis.metamodel.compiler import title_keys
from trellis.metamodel.fieldtypes import registry
from trellis.metamodel.migrator import apply_actions
from trellis.metamodel.models import EntityType, Field
from trellis.metamodel.physical import LIST_SYSTEM_COLUMNS, FieldLayout, record_table_name
from trellis.metamodel.planner import DropTable
from trellis.words import plural_of

#: the title_template column's length
MAX_TITLE_TEMPLATE = 300
ENTITY_EDITABLE = (
    "label",
    "label_plural",
    "description",
    "title_template",
    "card_fields",
    "list_indexes",
)
#: fields a kanban card shows at most (it is a card, not a form)
MAX_CARD_FIELDS = 4
#: list indexes an entity type may declare, and fields one index may name
MAX_LIST_INDEXES = 8
MAX_LIST_INDEX_FIELDS = 6


class EntityOperations(MetamodelChanges):
    """Entity types: their rows and their record tables."""

    def create_entity(
        self,
        key: str,
        label: str,
        label_plural: str | None = None,
        description: str = "",
        title_template: str = "",
    ) -> EntityType:
        """Create an entity type and its (empty) record table."""
        errors = Errors()
        for message in key_errors(key):
            errors.add("key", message)
        for message in label_errors(label):
            errors.add("label", message)
        if label_plural is not None:
            for message in label_errors(label_plural):
                errors.add("label_plural", message)
        if not isinstance(description or "", str):
            errors.add("description", "Use text.")
        if title_template:
            problems = template_errors(title_template, set())
            if problems and problems[0].startswith("Unknown field"):
                problems = ["Add the fields first, then a title that uses them."]
            for message in problems:
                errors.add("title_template", message)
        errors.raise_if_any()
        if self.session.scalar(select(EntityType.id).where(EntityType.key == key)) is not None:
            raise Conflict(f"An entity type with key {key!r} exists already (maybe archived).")
        entity = EntityType(
            key=key,
            label=label.strip(),
            label_plural=(label_plural or plural_of(label.strip())).strip(),
            description=description or "",
            title_template=title_template or "",
        )
        self.session.add(entity)
        self.sync_schema(entity)
        self.bump("entity.create", key, {"label": label})
        return entity

    def update_entity(self, key: str, **changes: Any) -> EntityType:
        """Change labels, description or title template; the key never changes."""
        entity = self.entity_row(key)
        errors = Errors()
        for name in changes:
            if name not in ENTITY_EDITABLE:
                errors.add(name, "Cannot be changed." if name == "key" else "Unknown property.")
        for name in ("label", "label_plural"):
            if name in changes:
                for message in label_errors(changes[name]):
                    errors.add(name, message)
        if "title_template" in changes:
            for message in self.title_template_errors(entity, changes["title_template"] or ""):
                errors.add("title_template", message)
        if not isinstance(changes.get("description") or "", str):
            errors.add("description", "Use text.")
        if "card_fields" in changes:
            for message in self.card_fields_errors(entity, changes["card_fields"]):
                errors.add("card_fields", message)
        if "list_indexes" in changes:
            for message in list_indexes_errors(entity, changes["list_indexes"]):
                errors.add("list_indexes", message)
        errors.raise_if_any()
        before = {name: getattr(entity, name) for name in changes}
        for name, value in changes.items():
            if name == "card_fields":
                entity.card_fields = list(dict.fromkeys(value or []))
                continue
            if name == "list_indexes":
                entity.list_indexes = [normal_list_index(item) for item in value or []]
                continue
            setattr(entity, name, value.strip() if name.startswith("label") else value or "")
        if "list_indexes" in changes:
            self.sync_schema(entity)  # the planner creates and drops the indexes
        self.bump("entity.update", key, {"before": before, "after": changes})
        return entity

    def card_fields_errors(self, entity: EntityType, keys: Any) -> list[str]:
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            return ["Expected a list of field keys."]
        labels = {f.key: f.label for f in entity.fields if not f.archived}
        unknown = [k for k in keys if k not in labels]
        if unknown:
            return [f"Unknown field: {', '.join(unknown)}."]
        if len(set(keys)) > MAX_CARD_FIELDS:
            return [f"A card shows at most {MAX_CARD_FIELDS} fields."]
        return []

    def title_template_errors(self, entity: EntityType, template: str) -> list[str]:
        return template_errors(template, {f.key for f in entity.fields if not f.archived})

    def archive_entity(self, key: str) -> EntityType:
        """Hide an entity type; its table and records stay until a purge."""
        entity = self.entity_row(key)
        blockers = self.usages(key)
        if blockers:
            raise ValidationFailed({"_entity": blockers}, f"{entity.label} is still in use.")
        entity.archived = True
        self.bump("entity.archive", key)
        return entity

    def restore_entity(self, key: str) -> EntityType:
        """Bring back an archived entity type with all its records."""
        entity = self.entity_row(key, archived=True)
        entity.archived = False
        self.bump("entity.restore", key)
        return entity

    def purge_entity(self, key: str) -> None:
        """Delete an archived entity type, its table and its records for good."""
        entity = self.entity_row(key, archived=True)
        blockers = self.usages(key)
        if blockers:
            raise ValidationFailed({"_entity": blockers}, f"{entity.label} is still in use.")
        table = record_table_name(key)
        drop = {table} | {f"{table}__{f.key}" for f in entity.fields}
        self.session.delete(entity)
        self.session.flush()
        self.records.forget_entity(self.session, key)
        self.sync_schema_drop_tables(frozenset(drop))
        self.bump("entity.purge", key)

    def sync_schema_drop_tables(self, tables: frozenset[str]) -> None:
        connection = self.session.connection()
        existing = set(inspect(connection).get_table_names())
        actions = [DropTable(name) for name in sorted(tables, reverse=True) if name in existing]
        apply_actions(connection, actions)


def _references_to(session, entity: str, field: str | None) -> list[str]:  # type: ignore[no-untyped-def]
    """Reference fields of other entity types that point at ``entity``."""
    if field is not None:
        return []
    rows = session.execute(
        select(EntityType.key, EntityType.label_plural, Field.label, Field.settings)
        .join(Field.entity)
        .where(Field.type == "reference", Field.archived.is_(False))
    ).all()
    return [
        f"The field “{label}” of {plural} refers to it."
        for owner, plural, label, settings in rows
        if (settings or {}).get("target") == entity and owner != entity
    ]


USAGE_CHECKS.append(_references_to)


def normal_list_index(item: dict[str, Any]) -> dict[str, Any]:
    """A declared list index as stored: every property present, no field named twice."""
    return {
        "key": item["key"],
        "filters": list(dict.fromkeys(item.get("filters") or [])),
        "sort": item.get("sort") or None,
        "include": list(dict.fromkeys(item.get("include") or [])),
    }


def list_indexes_errors(entity: EntityType, items: Any) -> list[str]:
    """What is wrong with the list indexes declared for ``entity`` (nothing: ``[]``). Each
    names active fields (or the system keys a list filters and sorts on) by key: ``filters``
    compared for equality, then ``sort``, then ``include`` (read only, such as a range).
    A declaration stored before whose field was archived since may stay as it is (its index
    waits for the field to come back)."""
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return ["Expected a list of objects {key, filters, sort, include}."]
    if len(items) > MAX_LIST_INDEXES:
        return [f"At most {MAX_LIST_INDEXES} list indexes per entity type."]
    stored = [normal_list_index(i) for i in entity.list_indexes or ()]
    active = {f.key: f for f in entity.fields if not f.archived}
    problems: list[str] = []
    keys: set[str] = set()
    for number, item in enumerate(items, start=1):
        name = item.get("key")
        label = f"List index {name!r}" if isinstance(name, str) else f"List index {number}"
        unknown = sorted(set(item) - {"key", "filters", "sort", "include"})
        if unknown:
            problems.append(f"{label}: unknown property {', '.join(unknown)}.")
            continue
        problems.extend(f"{label}: {m}" for m in key_errors(name))
        if isinstance(name, str) and name in keys:
            problems.append(f"{label}: the key is used twice.")
        keys.add(name if isinstance(name, str) else "")
        filters, sort, include = item.get("filters") or [], item.get("sort"), item.get("include")
        lists = (filters, include or [])
        if not all(isinstance(v, list) and all(isinstance(k, str) for k in v) for v in lists):
            problems.append(f"{label}: filters and include are lists of field keys.")
            continue
        if sort is not None and not isinstance(sort, str):
            problems.append(f"{label}: sort is one field key.")
            continue
        if not filters and not sort:
            problems.append(f"{label}: name the fields a list filters on, or its sort.")
        named = [*filters, *([sort] if sort else []), *(include or [])]
        if len(set(named)) > MAX_LIST_INDEX_FIELDS:
            problems.append(f"{label}: at most {MAX_LIST_INDEX_FIELDS} fields.")
        if isinstance(name, str) and normal_list_index(item) in stored:
            continue  # as stored: its fields were checked then
        for key in dict.fromkeys(named):
            f = active.get(key)
            if key in LIST_SYSTEM_COLUMNS:
                continue
            if f is None:
                problems.append(f"{label}: unknown field {key!r}.")
            elif not _indexable(f):
                problems.append(f"{label}: the field {f.label!r} cannot be indexed.")
    return problems


def _indexable(field: Field) -> bool:
    """Whether the field has a column a list index can hold (a multiple choice has none)."""
    field_type = registry.get(field.type)
    return bool(
        field_type.indexable_columns(FieldLayout(field.key, field_type, field.settings or {}))
    )


def template_errors(template: Any, fields: set[str]) -> list[str]:
    """What is wrong with a title template over the active ``fields`` (nothing: ``[]``)."""
    if not isinstance(template, str):
        return ["Use text such as {name}."]
    if len(template) > MAX_TITLE_TEMPLATE:
        return [f"At most {MAX_TITLE_TEMPLATE} characters."]
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [f"Not a valid template: {exc}."]
    if any(spec or conversion for _text, _name, spec, conversion in parts):
        # {x:>20000000} would make every title 20 MB long
        return ["Use {field_key} alone, without a format (such as :>10) or !r."]
    unknown = [k for k in title_keys(template) if k not in fields]
    if unknown:
        return [f"Unknown field: {', '.join(unknown)} (use {{field_key}})."]
    return []
