"""The live configuration as pack documents (:mod:`trellis.packs.content`): what an export
writes and what the write side compares a pack with.

Only what is in use is read: archived entity types and fields are left out (with the
pipelines, rules, duplicate rules, flows and automations of an archived entity type), as
are flow drafts (a pack carries the published versions, oldest first). Roles are every role
but ``admin`` (which may do everything and has no grants), and the built-in ``user`` only
when it has grants.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.access.grants import grants_of
from trellis.accounts import Role
from trellis.conversion.models import ConversionMap, DuplicateRule
from trellis.flows.automations import Automation
from trellis.flows.models import Flow, FlowVersion
from trellis.metamodel.entities import normal_list_index
from trellis.metamodel.models import EntityType, OptionList, Pipeline, Rule
from trellis.packs.content import KINDS, canonical, object_key

Documents = dict[str, dict[str, dict[str, Any]]]


def snapshot(session: Session) -> Documents:
    """``{kind: {key: document}}`` for every kind (empty kinds included)."""
    entities = list(
        session.scalars(
            select(EntityType).where(EntityType.archived.is_(False)).order_by(EntityType.key)
        )
    )
    active = {e.key for e in entities}
    found: dict[str, list[dict[str, Any]]] = {
        "list": [_list(row) for row in session.scalars(select(OptionList))],
        "entity": [_entity(e) for e in entities],
        "role": _roles(session),
        "pipeline": [_pipeline(p, n) for e in entities for n, p in enumerate(_ordered(e))],
        "rule": [_rule(r) for e in entities for r in sorted(e.rules, key=lambda r: r.id)],
        "duplicate": [
            {"entity": d.entity, "fields": list(d.fields)}
            for d in session.scalars(select(DuplicateRule).order_by(DuplicateRule.id))
            if d.entity in active
        ],
        "conversion": [
            {"key": m.key, "label": m.label, "source": m.source, "targets": m.targets or {}}
            for m in session.scalars(select(ConversionMap))
        ],
        "flow": _flows(session, active),
        "automation": [
            a.as_data() for a in session.scalars(select(Automation)) if a.entity in active
        ],
    }
    documents: Documents = {}
    for kind in KINDS:
        docs = (canonical(kind, doc) for doc in found[kind])
        documents[kind] = {object_key(kind, d): d for d in sorted(docs, key=_sort_key(kind))}
    return documents


def _sort_key(kind: str):  # type: ignore[no-untyped-def]
    return lambda doc: object_key(kind, doc)


def _list(row: OptionList) -> dict[str, Any]:
    return {
        "key": row.key,
        "label": row.label,
        "description": row.description or "",
        "options": [
            {"key": o.key, "label": o.label, "color": o.color or "", "active": o.active}
            for o in sorted(row.options, key=lambda o: (o.position, o.id))
        ],
    }


def _entity(entity: EntityType) -> dict[str, Any]:
    fields = sorted((f for f in entity.fields if not f.archived), key=lambda f: (f.position, f.id))
    return {
        "key": entity.key,
        "label": entity.label,
        "label_plural": entity.label_plural,
        "description": entity.description or "",
        "title": entity.title_template or "",
        "card_fields": list(entity.card_fields or []),
        "list_indexes": [normal_list_index(i) for i in entity.list_indexes or []],
        "fields": [
            {
                "key": f.key,
                "label": f.label,
                "type": f.type,
                "required": f.required,
                "settings": dict(f.settings or {}),
                "default": f.default,
                "unique": f.unique,
                "indexed": f.indexed,
                "help_text": f.help_text or "",
            }
            for f in fields
        ],
    }


def _ordered(entity: EntityType) -> list[Pipeline]:
    return sorted(entity.pipelines, key=lambda p: (p.position, p.id))


def _pipeline(pipeline: Pipeline, position: int) -> dict[str, Any]:
    return {
        "entity": pipeline.entity.key,
        "key": pipeline.key,
        "label": pipeline.label,
        "position": position,
        "stages": [
            {
                "key": s.key,
                "label": s.label,
                "kind": s.kind,
                "color": s.color or "",
                "next_stages": [n.key for n in s.next_stages] if s.limit_moves else None,
                "enter_roles": sorted(r.key for r in s.enter_roles),
                "flow_only": s.flow_only,
            }
            for s in sorted(pipeline.stages, key=lambda s: (s.position, s.id))
        ],
    }


def _rule(rule: Rule) -> dict[str, Any]:
    stage = rule.from_stage
    return {
        "entity": rule.entity.key,
        "key": rule.key,
        "kind": rule.kind,
        "field": rule.field_key,
        "when": rule.condition or "",
        "from_stage": f"{stage.pipeline.key}.{stage.key}" if stage is not None else None,
        "expression": rule.expression or "",
        "message": rule.message or "",
    }


def _roles(session: Session) -> list[dict[str, Any]]:
    roles = []
    for role in session.scalars(select(Role).where(Role.key != "admin")):
        grants = {
            g["entity"]: {k: g[k] for k in ("create", "read", "update", "delete", "fields")}
            for g in grants_of(session, role.key)
        }
        if role.builtin and not grants:
            continue
        roles.append({"key": role.key, "label": role.label, "grants": grants})
    return roles


def _flows(session: Session, active: set[str]) -> list[dict[str, Any]]:
    published: dict[int, list[FlowVersion]] = {}
    for version in session.scalars(
        select(FlowVersion)
        .where(FlowVersion.published_at.is_not(None))
        .order_by(FlowVersion.flow_id, FlowVersion.number)
    ):
        published.setdefault(version.flow_id, []).append(version)
    flows = []
    for flow in session.scalars(select(Flow)):
        if flow.entity not in active:
            continue
        flows.append(
            {
                "key": flow.key,
                "label": flow.label,
                "entity": flow.entity,
                "trigger": {
                    "on": flow.trigger,
                    "stage": flow.trigger_stage,
                    "field": flow.trigger_field,
                    "when": flow.when,
                },
                "versions": [
                    {"route": v.route} if v.route is not None else {"bpmn": v.bpmn}
                    for v in published.get(flow.id, [])
                ],
            }
        )
    return flows
