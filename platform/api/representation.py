"""The JSON shapes of the API's metamodel objects (records: trellis.records.representation)."""

from __future__ import annotations

import ast
from datetime import datetime
from typing import Any

from trellis.clock import as_utc
from trellis.metamodel.compiled import CompiledField
from trellis.metamodel.entities import normal_list_index
from trellis.metamodel.models import EntityType, Field, Option, OptionList, Pipeline, Rule


def iso_times(value: Any) -> Any:
    """Stored datetimes are naive UTC: answered as ISO 8601 in UTC (``+00:00``), as the
    document's ``date-time`` says (Flask would write a raw datetime as an HTTP date)."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, dict):
        return {k: iso_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [iso_times(v) for v in value]
    return value


def field_json(field: Field | CompiledField) -> dict[str, Any]:
    return {
        "key": field.key,
        "label": field.label,
        "type": field.type if isinstance(field, Field) else field.type.name,
        "required": field.required,
        "settings": dict(field.settings or {}),
        "default": field.default,
        "unique": field.unique,
        "indexed": field.indexed,
        "position": field.position,
        "archived": field.archived,
        "help_text": field.help_text,
    }


def pipeline_json(pipeline: Pipeline) -> dict[str, Any]:
    return {
        "key": pipeline.key,
        "label": pipeline.label,
        "position": pipeline.position,
        "stages": [
            {
                "key": s.key,
                "label": s.label,
                "kind": s.kind,
                "color": s.color,
                "position": s.position,
                "next_stages": [n.key for n in s.next_stages] if s.limit_moves else None,
                "enter_roles": [r.key for r in s.enter_roles],
                "flow_only": s.flow_only,
            }
            for s in sorted(pipeline.stages, key=lambda s: s.position)
        ],
    }


def rule_json(rule: Rule) -> dict[str, Any]:
    stage = rule.from_stage
    return {
        "id": rule.id,
        "key": rule.key,
        "kind": rule.kind,
        "field": rule.field_key,
        "when": rule.condition or None,
        "from_stage": f"{stage.pipeline.key}.{stage.key}" if stage else None,
        "expression": rule.expression or None,
        "message": rule.message or None,
    }


def rule_mentions(rule: Rule) -> frozenset[str]:
    """The field keys a rule names: its field and the names in its expressions."""
    names = {rule.field_key} if rule.field_key else set()
    for source in (rule.condition, rule.expression):
        try:
            tree = ast.parse(source or "", mode="eval")
        except SyntaxError:  # saved rules compiled once; an old one may not any more
            continue
        names.update(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
    return frozenset(names)


def visible_rules(rules: list[Rule], hidden: frozenset[str]) -> list[dict[str, Any]]:
    """Rules as JSON, leaving out those that name a field hidden from the caller (the rule
    would give the field away)."""
    return [rule_json(r) for r in rules if not (hidden and hidden & rule_mentions(r))]


def entity_json(
    entity: EntityType,
    hidden: frozenset[str] = frozenset(),
    detail: bool = True,
    shown: frozenset[str] | None = None,
) -> dict[str, Any]:
    """An entity type; with ``detail`` its fields (minus those hidden on every record,
    ``shown``, default ``hidden``), pipelines and rules (minus those naming a field
    ``hidden`` on any record)."""
    everywhere = hidden if shown is None else shown
    body: dict[str, Any] = {
        "key": entity.key,
        "label": entity.label,
        "label_plural": entity.label_plural,
        "description": entity.description,
        "title": entity.title_template,
        "archived": entity.archived,
    }
    if detail:
        fields = sorted(entity.fields, key=lambda f: (f.position, f.id))
        body["fields"] = [field_json(f) for f in fields if f.key not in everywhere]
        body["pipelines"] = [pipeline_json(p) for p in entity.pipelines]
        body["rules"] = visible_rules(entity.rules, hidden)
        body["list_indexes"] = visible_list_indexes(entity.list_indexes or [], hidden)
    return body


def visible_list_indexes(
    declared: list[dict[str, Any]], hidden: frozenset[str]
) -> list[dict[str, Any]]:
    """The declared list indexes, minus those naming a field ``hidden`` on any record."""
    shown = []
    for item in declared:
        index = normal_list_index(item)
        named = {*index["filters"], index["sort"], *index["include"]}
        if not named & hidden:
            shown.append(index)
    return shown


def option_json(option: Option) -> dict[str, Any]:
    return {
        "key": option.key,
        "label": option.label,
        "position": option.position,
        "color": option.color,
        "active": option.active,
    }


def list_json(option_list: OptionList, used_by: list[str]) -> dict[str, Any]:
    return {
        "key": option_list.key,
        "label": option_list.label,
        "description": option_list.description,
        "options": [option_json(o) for o in sorted(option_list.options, key=lambda o: o.position)],
        "used_by": used_by,
    }
