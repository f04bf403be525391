"""``/api/meta``: the metamodel over HTTP. Reads are open to every authenticated caller
(limited to what they may read); changes need an administrator and go through the metamodel
service, so the tables change in the same transaction."""

from __future__ import annotations

from typing import Any

from flask import g
from sqlalchemy import select

from trellis.access.policy import load_access
from trellis.api.blueprint import api
from trellis.api.context import unit
from trellis.api.meta_schemas import (
    EntityCreate,
    EntityPatch,
    FieldCreate,
    FieldPatch,
    ListCreate,
    ListPatch,
    OptionCreate,
    OptionPatch,
    PipelineCreate,
    PipelinePatch,
    RuleCreate,
    RulePatch,
    load_body,
)
from trellis.api.representation import (
    entity_json,
    field_json,
    list_json,
    pipeline_json,
    rule_json,
    visible_rules,
)
from trellis.errors import NotFound
from trellis.metamodel.models import EntityType, OptionList
from trellis.metamodel.service import MetamodelService


def _admin_service(runtime, session) -> MetamodelService:  # type: ignore[no-untyped-def]
    return runtime.metamodel(session, g.actor)


def _readable_entity(session, key: str) -> tuple[EntityType, frozenset[str]]:  # type: ignore[no-untyped-def]
    access = load_access(session, g.actor)
    entity = session.scalar(select(EntityType).where(EntityType.key == key))
    visible = entity is not None and (not entity.archived or g.actor.is_admin)
    if not visible or not (access.can("read", key) or access.can("create", key)):
        raise NotFound(f"No entity type {key!r}.")
    return entity, access.hidden_fields(key)


# -- entity types ------------------------------------------------------------------------


@api.get("/meta/entities")
def list_entities() -> Any:
    with unit() as (_runtime, session, actor):
        access = load_access(session, actor)
        rows = session.scalars(select(EntityType).order_by(EntityType.id)).all()
        items = [
            entity_json(e, access.hidden_fields(e.key), shown=access.hidden_everywhere(e.key))
            for e in rows
            if (not e.archived or actor.is_admin)
            and (access.can("read", e.key) or access.can("create", e.key))
        ]
        return {"items": items}


@api.post("/meta/entities")
def create_entity() -> Any:
    data = load_body(EntityCreate)
    with unit() as (runtime, session, _actor):
        meta = _admin_service(runtime, session)
        entity = meta.create_entity(
            data["key"], data["label"], data.get("label_plural"), data.get("description", "")
        )
        if data.get("title"):
            meta.update_entity(entity.key, title_template=data["title"])
        return entity_json(entity), 201


@api.get("/meta/entities/<key>")
def get_entity(key: str) -> Any:
    with unit() as (_runtime, session, actor):
        entity, hidden = _readable_entity(session, key)
        everywhere = load_access(session, actor).hidden_everywhere(key)
        return entity_json(entity, hidden, shown=everywhere)


@api.patch("/meta/entities/<key>")
def update_entity(key: str) -> Any:
    data = load_body(EntityPatch)
    with unit() as (runtime, session, _actor):
        meta = _admin_service(runtime, session)
        changes = {("title_template" if k == "title" else k): v for k, v in data.items()}
        archived = changes.pop("archived", None)
        if archived is False:
            meta.restore_entity(key)
        entity = meta.update_entity(key, **changes) if changes else meta.entity_row(key)
        if archived is True:
            meta.archive_entity(key)
        return entity_json(entity)


@api.delete("/meta/entities/<key>")
def archive_entity(key: str) -> Any:
    with unit() as (runtime, session, _actor):
        return entity_json(_admin_service(runtime, session).archive_entity(key))


@api.post("/meta/entities/<key>/restore")
def restore_entity(key: str) -> Any:
    with unit() as (runtime, session, _actor):
        return entity_json(_admin_service(runtime, session).restore_entity(key))


@api.post("/meta/entities/<key>/purge")
def purge_entity(key: str) -> Any:
    with unit() as (runtime, session, _actor):
        _admin_service(runtime, session).purge_entity(key)
    return "", 204


# -- fields ------------------------------------------------------------------------------


@api.post("/meta/entities/<entity>/fields")
def add_field(entity: str) -> Any:
    data = load_body(FieldCreate)
    with unit() as (runtime, session, _actor):
        options = {k: v for k, v in data.items() if k not in ("key", "label", "type")}
        field = _admin_service(runtime, session).add_field(
            entity, data["key"], data["label"], data["type"], **options
        )
        return field_json(field), 201


@api.patch("/meta/entities/<entity>/fields/<key>")
def update_field(entity: str, key: str) -> Any:
    data = load_body(FieldPatch)
    with unit() as (runtime, session, _actor):
        field = _admin_service(runtime, session).update_field(entity, key, **data)
        return field_json(field)


@api.delete("/meta/entities/<entity>/fields/<key>")
def archive_field(entity: str, key: str) -> Any:
    with unit() as (runtime, session, _actor):
        return field_json(_admin_service(runtime, session).archive_field(entity, key))


@api.post("/meta/entities/<entity>/fields/<key>/restore")
def restore_field(entity: str, key: str) -> Any:
    with unit() as (runtime, session, _actor):
        return field_json(_admin_service(runtime, session).restore_field(entity, key))


@api.post("/meta/entities/<entity>/fields/<key>/purge")
def purge_field(entity: str, key: str) -> Any:
    with unit() as (runtime, session, _actor):
        _admin_service(runtime, session).purge_field(entity, key)
    return "", 204


# -- option lists ------------------------------------------------------------------------


@api.get("/meta/lists")
def list_lists() -> Any:
    with unit() as (runtime, session, actor):
        rows = session.scalars(select(OptionList).order_by(OptionList.key)).all()
        used = _list_usage(runtime, session, actor)
        return {
            "items": [
                list_json(r, used.get(r.key, [])) for r in rows if actor.is_admin or r.key in used
            ]
        }


@api.post("/meta/lists")
def create_list() -> Any:
    data = load_body(ListCreate)
    with unit() as (runtime, session, _actor):
        meta = _admin_service(runtime, session)
        row = meta.create_list(
            data["key"], data["label"], data.get("options") or [], data.get("description", "")
        )
        return list_json(row, []), 201


@api.get("/meta/lists/<key>")
def get_list(key: str) -> Any:
    with unit() as (runtime, session, actor):
        row = session.scalar(select(OptionList).where(OptionList.key == key))
        used = _list_usage(runtime, session, actor)
        # a list no field the caller sees uses is none of their business (as if absent)
        if row is None or not (actor.is_admin or key in used):
            raise NotFound(f"No option list {key!r}.")
        return list_json(row, used.get(key, []))


@api.patch("/meta/lists/<key>")
def update_list(key: str) -> Any:
    data = load_body(ListPatch)
    with unit() as (runtime, session, actor):
        row = _admin_service(runtime, session).update_list(key, **data)
        return list_json(row, _list_usage(runtime, session, actor).get(key, []))


@api.post("/meta/lists/<key>/options")
def add_option(key: str) -> Any:
    data = load_body(OptionCreate)
    with unit() as (runtime, session, _actor):
        meta = _admin_service(runtime, session)
        meta.add_option(
            key, data["key"], data["label"], data.get("color") or "", data.get("position")
        )
        return list_json(meta.list_row(key), meta.fields_using_list(key)), 201


@api.patch("/meta/lists/<key>/options/<option>")
def update_option(key: str, option: str) -> Any:
    data = load_body(OptionPatch)
    with unit() as (runtime, session, _actor):
        meta = _admin_service(runtime, session)
        meta.update_option(key, option, **data)
        return list_json(meta.list_row(key), meta.fields_using_list(key))


def _list_usage(runtime, session, actor) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """The fields using each option list, among those the caller sees on some record."""
    model = runtime.model(session)
    access = load_access(session, actor)
    usage: dict[str, list[str]] = {}
    for entity in model.entities.values():
        if not access.can("read", entity.key):
            continue
        for f in entity.fields.values():
            if f.type.name in ("list", "multi_list") and f.key not in access.hidden_everywhere(
                entity.key
            ):
                usage.setdefault(f.settings["list"], []).append(f"{entity.key}.{f.key}")
    return usage


# -- pipelines ---------------------------------------------------------------------------


@api.post("/meta/entities/<entity>/pipelines")
def create_pipeline(entity: str) -> Any:
    data = load_body(PipelineCreate)
    with unit() as (runtime, session, _actor):
        pipeline = _admin_service(runtime, session).create_pipeline(
            entity, data["key"], data["label"], data["stages"], data.get("position")
        )
        return pipeline_json(pipeline), 201


@api.get("/meta/entities/<entity>/pipelines/<key>")
def get_pipeline(entity: str, key: str) -> Any:
    with unit() as (_runtime, session, _actor):
        row, _hidden = _readable_entity(session, entity)
        pipeline = next((p for p in row.pipelines if p.key == key), None)
        if pipeline is None:
            raise NotFound(f"{entity!r} has no pipeline {key!r}.")
        return pipeline_json(pipeline)


@api.patch("/meta/entities/<entity>/pipelines/<key>")
def update_pipeline(entity: str, key: str) -> Any:
    data = load_body(PipelinePatch)
    with unit() as (runtime, session, _actor):
        pipeline = _admin_service(runtime, session).update_pipeline(entity, key, **data)
        return pipeline_json(pipeline)


@api.delete("/meta/entities/<entity>/pipelines/<key>")
def delete_pipeline(entity: str, key: str) -> Any:
    with unit() as (runtime, session, _actor):
        _admin_service(runtime, session).delete_pipeline(entity, key)
    return "", 204


# -- rules -------------------------------------------------------------------------------


@api.get("/meta/entities/<entity>/rules")
def list_rules(entity: str) -> Any:
    with unit() as (_runtime, session, _actor):
        row, hidden = _readable_entity(session, entity)
        return {"items": visible_rules(row.rules, hidden)}


@api.post("/meta/entities/<entity>/rules")
def add_rule(entity: str) -> Any:
    data = load_body(RuleCreate)
    with unit() as (runtime, session, _actor):
        options = {k: v for k, v in data.items() if k != "kind" and v is not None}
        rule = _admin_service(runtime, session).add_rule(entity, data["kind"], **options)
        return rule_json(rule), 201


@api.patch("/meta/entities/<entity>/rules/<int32:rule_id>")
def update_rule(entity: str, rule_id: int) -> Any:
    data = load_body(RulePatch)
    with unit() as (runtime, session, _actor):
        rule = _admin_service(runtime, session).update_rule(entity, rule_id, **data)
        return rule_json(rule)


@api.delete("/meta/entities/<entity>/rules/<int32:rule_id>")
def delete_rule(entity: str, rule_id: int) -> Any:
    with unit() as (runtime, session, _actor):
        _admin_service(runtime, session).delete_rule(entity, rule_id)
    return "", 204
