"""Conversion maps, duplicate rules and the conversion of a record, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from trellis.access.policy import Access, load_access
from trellis.api import schemas
from trellis.api.blueprint import api
from trellis.api.context import unit
from trellis.api.meta import _readable_entity
from trellis.api.meta_schemas import (
    CONVERSION_MAP_CONFIGURATION,
    ConversionMapBody,
    ConversionMapReplace,
    ConversionRequest,
    DuplicateRuleBody,
    TransferBody,
)
from trellis.api.representation import field_json
from trellis.conversion import duplicates
from trellis.conversion.convert import Conversion, convert
from trellis.conversion.maps import ConversionMaps
from trellis.conversion.models import ConversionMap, DuplicateRule
from trellis.errors import NotFound, ValidationFailed
from trellis.records.representation import records_json


def _map_json(row: ConversionMap) -> dict[str, Any]:
    return {"key": row.key, "label": row.label, "source": row.source, "targets": row.targets}


@contextmanager
def _maps() -> Iterator[ConversionMaps]:
    """The request's transaction, with the conversion map service acting as the caller."""
    with unit() as (runtime, session, actor):
        yield ConversionMaps(session, runtime.cache, actor)


def _rule_json(rule: DuplicateRule) -> dict[str, Any]:
    return {"id": rule.id, "entity": rule.entity, "fields": rule.fields}


def _visible_map(access: Access, row: ConversionMap) -> bool:
    """Whether the caller may know of a map: it names only entity types they may see."""
    return all(
        access.can("read", key) or access.can("create", key)
        for key in [row.source, *(row.targets or {})]
    )


@api.get("/meta/conversions")
@api.problems()
@api.alt_response(200, schema=schemas.ConversionMapListSchema, success=True)
def list_conversions() -> Any:
    """Conversion maps"""
    with unit() as (_runtime, session, actor):
        access = load_access(session, actor)
        rows = session.scalars(select(ConversionMap).order_by(ConversionMap.key)).all()
        return {"items": [_map_json(r) for r in rows if _visible_map(access, r)]}


@api.post("/meta/conversions")
@api.arguments(ConversionMapBody)
@api.configuration_dependent(*CONVERSION_MAP_CONFIGURATION)
@api.problems(400, 403, 409, 422)
@api.alt_response(201, schema=schemas.ConversionMapSchema, success=True)
def create_conversion(data: dict[str, Any]) -> Any:
    """Create a conversion map"""
    with _maps() as maps:
        row = maps.save(
            data["key"], data["source"], data["targets"], data.get("label", ""), create=True
        )
        return _map_json(row), 201


@api.get("/meta/conversions/<key>")
@api.problems(404)
@api.alt_response(200, schema=schemas.ConversionMapSchema, success=True)
def get_conversion(key: str) -> Any:
    """A conversion map"""
    with unit() as (_runtime, session, actor):
        row = session.scalar(select(ConversionMap).where(ConversionMap.key == key))
        if row is None or not _visible_map(load_access(session, actor), row):
            raise NotFound(f"No conversion map {key!r}.")
        return _map_json(row)


@api.put("/meta/conversions/<key>")
@api.arguments(ConversionMapReplace)
@api.configuration_dependent(*CONVERSION_MAP_CONFIGURATION)
@api.problems(400, 403, 404, 409, 422)
@api.alt_response(200, schema=schemas.ConversionMapSchema, success=True)
def replace_conversion(data: dict[str, Any], key: str) -> Any:
    """Replace a conversion map"""
    with _maps() as maps:
        row = maps.save(key, data["source"], data["targets"], data.get("label", ""), create=False)
        return _map_json(row)


@api.delete("/meta/conversions/<key>")
@api.problems(403, 404)
@api.alt_response(204, description="Done", success=True)
def delete_conversion(key: str) -> Any:
    """Delete a conversion map"""
    with _maps() as maps:
        maps.delete(key)
    return "", 204


@api.post("/meta/conversions/<key>/transfer")
@api.arguments(TransferBody)
@api.problems(400, 403, 404, 409, 422)
@api.alt_response(201, schema=schemas.FieldSchema, success=True)
def transfer_field(data: dict[str, Any], key: str) -> Any:
    """Create a source field on a target and map it"""
    with _maps() as maps:
        field = maps.transfer(key, data["field"], data["target"])
        return field_json(field), 201


@api.get("/meta/entities/<entity>/duplicate-rules")
@api.problems(404)
@api.alt_response(200, schema=schemas.DuplicateRuleListSchema, success=True)
def list_duplicate_rules(entity: str) -> Any:
    """Duplicate rules"""
    with unit() as (_runtime, session, _actor):
        _row, hidden = _readable_entity(session, entity)
        return {
            "items": [
                _rule_json(r)
                for r in duplicates.rules_of(session, entity)
                if not hidden.intersection(r.fields)
            ]
        }


@api.post("/meta/entities/<entity>/duplicate-rules")
@api.arguments(DuplicateRuleBody)
@api.problems(400, 403, 404, 422)
@api.alt_response(201, schema=schemas.DuplicateRuleSchema, success=True)
def add_duplicate_rule(data: dict[str, Any], entity: str) -> Any:
    """Add a duplicate rule"""
    with unit() as (runtime, session, actor):
        rule = duplicates.add_rule(session, actor, runtime.model(session), entity, data["fields"])
        return _rule_json(rule), 201


@api.delete("/meta/entities/<entity>/duplicate-rules/<int32:rule>")
@api.problems(403, 404)
@api.alt_response(204, description="Done", success=True)
def delete_duplicate_rule(entity: str, rule: int) -> Any:
    """Delete a duplicate rule"""
    with unit() as (_runtime, session, actor):
        duplicates.delete_rule(session, actor, entity, rule)
    return "", 204


@api.post("/records/<entity>/<int:record_id>/convert")
@api.arguments(ConversionRequest)
@api.problems(400, 403, 404, 409, 422)
@api.alt_response(201, schema=schemas.ConversionSchema, success=True)
@api.alt_response(200, schema=schemas.ConversionSchema, description="Dry run", success=True)
def convert_record(data: dict[str, Any], entity: str, record_id: int) -> Any:
    """Convert a {label}"""
    dry_run = data.get("dry_run", False)
    with unit() as (runtime, session, actor):
        service = runtime.records(session, actor)
        result = convert(
            service,
            entity,
            record_id,
            data["targets"],
            dry_run=dry_run,
            map_key=data.get("map"),
            source_values=data.get("source_values"),
        )
        body = _conversion_json(service, result)
    if result.errors and not dry_run:
        raise ConversionFailed(result.errors, body)
    return body, (200 if dry_run else 201)


class ConversionFailed(ValidationFailed):
    """A conversion with invalid targets, or a source that lacks fields its success stage
    requires: errors and missing fields by entity type (a target, or the source's own type)
    and field; nothing was created."""

    def __init__(self, errors: dict[str, Any], body: dict[str, Any]) -> None:
        super().__init__(errors, "Some targets are invalid; nothing was created.")
        self.extra = {
            "missing": body["missing"],
            "not_carried": body["not_carried"],
            "duplicates": body["duplicates"],
        }


def _conversion_json(service, result: Conversion) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    # the records made refer to each other: their titles are known, not read back
    known = result.readable_new_titles(service)
    records = {
        target: records_json(service, service.model.entities[target], [record], known)[0]
        for target, record in result.records.items()
    }
    if result.dry_run or result.errors:
        # nothing was kept: show would-be records without ids, their links by title
        for target, record in records.items():
            entity = service.model.entities[target]
            for f in entity.fields.values():
                ref = record.get(f.key)
                if f.type.name == "reference" and isinstance(ref, dict):
                    title = result.new_titles.get((f.settings["target"], ref["id"]))
                    if title is not None:
                        record[f.key] = {"id": None, "title": title}
            if target not in result.linked:
                record["title"] = result.new_titles.get((target, record["id"]), record["title"])
                for key in ("id", "version", "created_at", "updated_at"):
                    record.pop(key, None)
    body: dict[str, Any] = {
        "created": {}
        if (result.dry_run or result.errors)
        else {t: r for t, r in records.items() if t not in result.linked},
        "linked": {t: records[t] for t in result.linked} if not result.dry_run else {},
        "missing": result.missing,
        # target fields the map fills from source fields hidden from the caller: left empty
        "not_carried": result.not_carried,
        "duplicates": result.duplicates,
        "errors": result.errors,
        "source": records_json(
            service, service.model.entities[result.source.entity], [result.source]
        )[0],
    }
    if result.dry_run:
        body["dry_run"] = True
        body["records"] = records
    return body
