"""``/api/meta``: the metamodel over HTTP. Reads are open to every authenticated caller
(limited to what they may read); changes need an administrator and go through the metamodel
service, so the tables change in the same transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import g
from sqlalchemy import select

from trellis.access.policy import load_access
from trellis.api import schemas
from trellis.api.blueprint import api
from trellis.api.context import unit
from trellis.api.meta_schemas import (
    FIELD_CREATE_CONFIGURATION,
    FIELD_PATCH_CONFIGURATION,
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


@contextmanager
def _metamodel() -> Iterator[MetamodelService]:
    """The request's transaction, with the metamodel service acting as the caller (it
    refuses changes from anyone but an administrator)."""
    with unit() as (runtime, session, actor):
        yield runtime.metamodel(session, actor)


def _readable_entity(session, key: str) -> tuple[EntityType, frozenset[str]]:  # type: ignore[no-untyped-def]
    access = load_access(session, g.actor)
    entity = session.scalar(select(EntityType).where(EntityType.key == key))
    visible = entity is not None and (not entity.archived or g.actor.is_admin)
    if not visible or not (access.can("read", key) or access.can("create", key)):
        raise NotFound(f"No entity type {key!r}.")
    return entity, access.hidden_fields(key)


# -- entity types ------------------------------------------------------------------------


@api.get("/meta/entities")
@api.problems()
@api.alt_response(200, schema=schemas.EntityListSchema, success=True)
def list_entities() -> Any:
    """Entity types"""
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
@api.arguments(EntityCreate)
@api.problems(400, 403, 409, 422)
@api.alt_response(201, schema=schemas.EntitySchema, success=True)
def create_entity(data: dict[str, Any]) -> Any:
    """Create an entity type"""
    with _metamodel() as meta:
        entity = meta.create_entity(
            data["key"], data["label"], data.get("label_plural"), data.get("description", "")
        )
        if data.get("title"):
            meta.update_entity(entity.key, title_template=data["title"])
        return entity_json(entity), 201


@api.get("/meta/entities/<entity>")
@api.problems(404)
@api.alt_response(200, schema=schemas.EntitySchema, success=True)
def get_entity(entity: str) -> Any:
    """An entity type with its fields, pipelines and rules"""
    with unit() as (_runtime, session, actor):
        row, hidden = _readable_entity(session, entity)
        everywhere = load_access(session, actor).hidden_everywhere(entity)
        return entity_json(row, hidden, shown=everywhere)


@api.patch("/meta/entities/<entity>")
@api.arguments(EntityPatch)
@api.problems(400, 403, 404, 422)
@api.alt_response(200, schema=schemas.EntitySchema, success=True)
def update_entity(data: dict[str, Any], entity: str) -> Any:
    """Change an entity type"""
    with _metamodel() as meta:
        changes = {("title_template" if k == "title" else k): v for k, v in data.items()}
        archived = changes.pop("archived", None)
        if archived is False and meta.entity_row(entity, archived=None).archived:
            meta.restore_entity(entity)  # not archived: nothing to restore, no 404
        row = meta.update_entity(entity, **changes) if changes else meta.entity_row(entity)
        if archived is True:
            meta.archive_entity(entity)
        return entity_json(row)


@api.delete("/meta/entities/<entity>")
@api.problems(403, 404, 422)
@api.alt_response(200, schema=schemas.EntitySchema, success=True)
def archive_entity(entity: str) -> Any:
    """Archive an entity type"""
    with _metamodel() as meta:
        return entity_json(meta.archive_entity(entity))


@api.post("/meta/entities/<entity>/restore")
@api.problems(403, 404, 422)
@api.alt_response(200, schema=schemas.EntitySchema, success=True)
def restore_entity(entity: str) -> Any:
    """Restore an archived entity type"""
    with _metamodel() as meta:
        return entity_json(meta.restore_entity(entity))


@api.post("/meta/entities/<entity>/purge")
@api.problems(403, 404, 409, 422)
@api.alt_response(204, description="Done", success=True)
def purge_entity(entity: str) -> Any:
    """Purge an archived entity type (its table and data go for good)"""
    with _metamodel() as meta:
        meta.purge_entity(entity)
    return "", 204


# -- fields ------------------------------------------------------------------------------


@api.post("/meta/entities/<entity>/fields")
@api.arguments(FieldCreate)
@api.configuration_dependent(*FIELD_CREATE_CONFIGURATION)
@api.problems(400, 403, 404, 409, 422)
@api.alt_response(201, schema=schemas.FieldSchema, success=True)
def add_field(data: dict[str, Any], entity: str) -> Any:
    """Add a field"""
    with _metamodel() as meta:
        options = {k: v for k, v in data.items() if k not in ("key", "label", "type")}
        field = meta.add_field(entity, data["key"], data["label"], data["type"], **options)
        return field_json(field), 201


@api.patch("/meta/entities/<entity>/fields/<field>")
@api.arguments(FieldPatch)
@api.configuration_dependent(*FIELD_PATCH_CONFIGURATION)
@api.problems(400, 403, 404, 422)
@api.alt_response(200, schema=schemas.FieldSchema, success=True)
def update_field(data: dict[str, Any], entity: str, field: str) -> Any:
    """Change a field"""
    with _metamodel() as meta:
        changed = meta.update_field(entity, field, **data)
        return field_json(changed)


@api.delete("/meta/entities/<entity>/fields/<field>")
@api.problems(403, 404, 422)
@api.alt_response(200, schema=schemas.FieldSchema, success=True)
def archive_field(entity: str, field: str) -> Any:
    """Archive a field"""
    with _metamodel() as meta:
        return field_json(meta.archive_field(entity, field))


@api.post("/meta/entities/<entity>/fields/<field>/restore")
@api.problems(403, 404, 422)
@api.alt_response(200, schema=schemas.FieldSchema, success=True)
def restore_field(entity: str, field: str) -> Any:
    """Restore an archived field"""
    with _metamodel() as meta:
        return field_json(meta.restore_field(entity, field))


@api.post("/meta/entities/<entity>/fields/<field>/purge")
@api.problems(403, 404, 409, 422)
@api.alt_response(204, description="Done", success=True)
def purge_field(entity: str, field: str) -> Any:
    """Purge an archived field (its column and data go for good)"""
    with _metamodel() as meta:
        meta.purge_field(entity, field)
    return "", 204


# -- option lists ------------------------------------------------------------------------


@api.get("/meta/lists")
@api.problems()
@api.alt_response(200, schema=schemas.OptionListListSchema, success=True)
def list_lists() -> Any:
    """Option lists"""
    with unit() as (runtime, session, actor):
        rows = session.scalars(select(OptionList).order_by(OptionList.key)).all()
        used = _list_usage(runtime, session, actor)
        return {
            "items": [
                list_json(r, used.get(r.key, [])) for r in rows if actor.is_admin or r.key in used
            ]
        }


@api.post("/meta/lists")
@api.arguments(ListCreate)
@api.problems(400, 403, 409, 422)
@api.alt_response(201, schema=schemas.OptionListSchema, success=True)
def create_list(data: dict[str, Any]) -> Any:
    """Create an option list"""
    with _metamodel() as meta:
        row = meta.create_list(
            data["key"], data["label"], data.get("options") or [], data.get("description", "")
        )
        return list_json(row, []), 201


@api.get("/meta/lists/<key>")
@api.problems(404)
@api.alt_response(200, schema=schemas.OptionListSchema, success=True)
def get_list(key: str) -> Any:
    """An option list"""
    with unit() as (runtime, session, actor):
        row = session.scalar(select(OptionList).where(OptionList.key == key))
        used = _list_usage(runtime, session, actor)
        # a list no field the caller sees uses is none of their business (as if absent)
        if row is None or not (actor.is_admin or key in used):
            raise NotFound(f"No option list {key!r}.")
        return list_json(row, used.get(key, []))


@api.patch("/meta/lists/<key>")
@api.arguments(ListPatch)
@api.problems(400, 403, 404, 422)
@api.alt_response(200, schema=schemas.OptionListSchema, success=True)
def update_list(data: dict[str, Any], key: str) -> Any:
    """Change an option list"""
    with unit() as (runtime, session, actor):
        row = runtime.metamodel(session, actor).update_list(key, **data)
        return list_json(row, _list_usage(runtime, session, actor).get(key, []))


@api.post("/meta/lists/<key>/options")
@api.arguments(OptionCreate)
@api.problems(400, 403, 404, 409, 422)
@api.alt_response(201, schema=schemas.OptionListSchema, success=True)
def add_option(data: dict[str, Any], key: str) -> Any:
    """Add an option"""
    with _metamodel() as meta:
        meta.add_option(
            key, data["key"], data["label"], data.get("color") or "", data.get("position")
        )
        return list_json(meta.list_row(key), meta.fields_using_list(key)), 201


@api.patch("/meta/lists/<key>/options/<option>")
@api.arguments(OptionPatch)
@api.problems(400, 403, 404, 422)
@api.alt_response(200, schema=schemas.OptionListSchema, success=True)
def update_option(data: dict[str, Any], key: str, option: str) -> Any:
    """Rename, recolour, move or retire an option"""
    with _metamodel() as meta:
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
@api.arguments(PipelineCreate)
@api.configuration_dependent("stages.*.enter_roles")  # roles that must exist
@api.problems(400, 403, 404, 409, 422)
@api.alt_response(201, schema=schemas.PipelineSchema, success=True)
def create_pipeline(data: dict[str, Any], entity: str) -> Any:
    """Add a pipeline"""
    with _metamodel() as meta:
        pipeline = meta.create_pipeline(
            entity, data["key"], data["label"], data["stages"], data.get("position")
        )
        return pipeline_json(pipeline), 201


@api.get("/meta/entities/<entity>/pipelines/<pipeline>")
@api.problems(404)
@api.alt_response(200, schema=schemas.PipelineSchema, success=True)
def get_pipeline(entity: str, pipeline: str) -> Any:
    """A pipeline"""
    with unit() as (_runtime, session, _actor):
        row, _hidden = _readable_entity(session, entity)
        found = next((p for p in row.pipelines if p.key == pipeline), None)
        if found is None:
            raise NotFound(f"{entity!r} has no pipeline {pipeline!r}.")
        return pipeline_json(found)


@api.patch("/meta/entities/<entity>/pipelines/<pipeline>")
@api.arguments(PipelinePatch)
@api.configuration_dependent("stages.*.enter_roles")  # roles that must exist
@api.problems(400, 403, 404, 409, 422)
@api.alt_response(200, schema=schemas.PipelineSchema, success=True)
def update_pipeline(data: dict[str, Any], entity: str, pipeline: str) -> Any:
    """Change a pipeline or its stages"""
    with _metamodel() as meta:
        changed = meta.update_pipeline(entity, pipeline, **data)
        return pipeline_json(changed)


@api.delete("/meta/entities/<entity>/pipelines/<pipeline>")
@api.problems(403, 404, 409, 422)
@api.alt_response(204, description="Done", success=True)
def delete_pipeline(entity: str, pipeline: str) -> Any:
    """Delete a pipeline"""
    with _metamodel() as meta:
        meta.delete_pipeline(entity, pipeline)
    return "", 204


# -- rules -------------------------------------------------------------------------------


@api.get("/meta/entities/<entity>/rules")
@api.problems(404)
@api.alt_response(200, schema=schemas.RuleListSchema, success=True)
def list_rules(entity: str) -> Any:
    """Rules"""
    with unit() as (_runtime, session, _actor):
        row, hidden = _readable_entity(session, entity)
        return {"items": visible_rules(row.rules, hidden)}


@api.post("/meta/entities/<entity>/rules")
@api.arguments(RuleCreate)
@api.problems(400, 403, 404, 422)
@api.alt_response(201, schema=schemas.RuleSchema, success=True)
def add_rule(data: dict[str, Any], entity: str) -> Any:
    """Add a rule"""
    with _metamodel() as meta:
        options = {k: v for k, v in data.items() if k != "kind" and v is not None}
        rule = meta.add_rule(entity, data["kind"], **options)
        return rule_json(rule), 201


@api.patch("/meta/entities/<entity>/rules/<int32:rule>")
@api.arguments(RulePatch)
@api.problems(400, 403, 404, 422)
@api.alt_response(200, schema=schemas.RuleSchema, success=True)
def update_rule(data: dict[str, Any], entity: str, rule: int) -> Any:
    """Change a rule (the parts given; checked as a new rule is)"""
    with _metamodel() as meta:
        changed = meta.update_rule(entity, rule, **data)
        return rule_json(changed)


@api.delete("/meta/entities/<entity>/rules/<int32:rule>")
@api.problems(403, 404)
@api.alt_response(204, description="Done", success=True)
def delete_rule(entity: str, rule: int) -> Any:
    """Delete a rule"""
    with _metamodel() as meta:
        meta.delete_rule(entity, rule)
    return "", 204
