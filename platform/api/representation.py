"""The JSON shapes of the API: metamodel objects and records."""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from trellis.clock import as_utc
from trellis.metamodel.compiled import CompiledEntity, CompiledField, CompiledModel
from trellis.metamodel.models import EntityType, Field, Option, OptionList, Pipeline, Rule
from trellis.records.audit import StageVisit
from trellis.records.service import Record, RecordService
from trellis.records.user_values import UserRef, user_values, users_by_id


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
    return body


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


class _Output:
    """What field types need to render values: the model and titles of referenced records."""

    def __init__(
        self,
        model: CompiledModel,
        titles: dict[str, dict[int, str]],
        users: Mapping[int, UserRef] | None = None,
    ) -> None:
        self.model = model
        self._titles = titles
        self._users = users or {}

    def title_of(self, entity: str, record_id: int) -> str | None:
        return self._titles.get(entity, {}).get(record_id)

    def user_of(self, user_id: int) -> UserRef | None:
        return self._users.get(user_id)


def stage_visit_json(visit: StageVisit) -> dict[str, Any]:
    """One stay of a record in a stage; ``seconds`` runs up to now for the current stage."""
    return {
        "pipeline": visit.pipeline,
        "stage": visit.stage,
        "entered_at": as_utc(visit.entered_at).isoformat(),
        "entered_by": visit.entered_by,
        "left_at": as_utc(visit.left_at).isoformat() if visit.left_at else None,
        "left_by": visit.left_by,
        "seconds": int(visit.duration().total_seconds()),
    }


def records_json(
    service: RecordService, entity: CompiledEntity, records: list[Record]
) -> list[dict[str, Any]]:
    """Records as the API reads them; references carry the target's title (when the caller
    may read the target)."""
    wanted: dict[str, set[int]] = defaultdict(set)
    references = [f for f in entity.fields.values() if f.type.name == "reference"]
    for record in records:
        for f in references:
            value = record.values.get(f.key)
            if value is not None:
                wanted[f.settings["target"]].add(value)
    titles = {target: service.titles(target, ids) for target, ids in wanted.items()}
    users = users_by_id(service.session, user_values(entity, records))
    output = _Output(service.model, titles, users)
    return [_record_json(entity, record, output) for record in records]


def _record_json(entity: CompiledEntity, record: Record, output: _Output) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": record.id,
        "version": record.version,
        "title": record.title,
        "created_at": as_utc(record.created_at).isoformat(),
        "updated_at": as_utc(record.updated_at).isoformat(),
        "created_by": record.created_by,
        "owner": record.owner_id,
    }
    for key, value in record.values.items():
        f = entity.fields[key]
        body[key] = f.type.to_json(f, value, output)
    if entity.has_pipelines:
        body["pipeline"] = record.pipeline
        body["stage"] = record.stage
    return body
