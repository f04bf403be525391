"""Saving conversion maps (checked against the metamodel), transferring custom fields to a
target, and telling the metamodel which fields the maps use (so they cannot be archived)."""

from __future__ import annotations

import ast
from typing import Any

import marshmallow as ma
from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.accounts import Actor
from trellis.conversion.compatibility import compatibility_error
from trellis.conversion.configuration import changed
from trellis.conversion.models import ConversionMap
from trellis.errors import Conflict, NotFound, PermissionDenied
from trellis.expressions import ExpressionError, compile_expression
from trellis.metamodel.changes import MAX_LABEL, TYPE_CHANGE_CHECKS, USAGE_CHECKS, Errors
from trellis.metamodel.compiled import CompiledEntity, CompiledModel
from trellis.metamodel.fieldtypes.input_fields import input_messages
from trellis.metamodel.model_cache import MetamodelCache
from trellis.metamodel.models import ConfigChange, Field
from trellis.metamodel.option_lists import OPTION_KEY
from trellis.metamodel.service import MetamodelService
from trellis.records.upkeep import RECORD_UPKEEP

TARGET_KEYS = ("fields", "pipeline", "stage", "values")


def map_errors(model: CompiledModel, source: str, targets: Any) -> Errors:
    """Every problem with a map definition, keyed like ``targets.deal.fields.amount``."""
    errors = Errors()
    if not isinstance(source, str) or source not in model.entities:
        errors.add("source", f"No entity type {source!r}.")
        return errors
    src = model.entities[source]
    if not isinstance(targets, dict) or not targets:
        errors.add("targets", "Name at least one target entity type.")
        return errors
    for entity, spec in targets.items():
        where = f"targets.{entity}"
        if entity not in model.entities:
            errors.add(where, f"No entity type {entity!r}.")
            continue
        if entity == source:
            errors.add(where, "A record cannot be converted into its own entity type.")
            continue
        if not isinstance(spec, dict):
            errors.add(where, "Expected an object with fields, pipeline, stage, values.")
            continue
        for name in spec:
            if name not in TARGET_KEYS:
                errors.add(f"{where}.{name}", "Unknown property.")
        _target_errors(errors, where, src, model.entities[entity], spec, model)
    return errors


def _target_errors(
    errors: Errors,
    where: str,
    src: CompiledEntity,
    target: CompiledEntity,
    spec: dict[str, Any],
    model: CompiledModel,
) -> None:
    fields = spec.get("fields") or {}
    values = spec.get("values") or {}
    if not isinstance(fields, dict) or not isinstance(values, dict):
        errors.add(where, "fields and values are objects.")
        return
    for target_key, origin in fields.items():
        at = f"{where}.fields.{target_key}"
        target_field = target.fields.get(target_key)
        if target_field is None:
            errors.add(at, f"{target.label} has no field {target_key!r}.")
            continue
        if isinstance(origin, str):
            source_field = src.fields.get(origin)
            if source_field is None:
                errors.add(at, f"{src.label} has no field {origin!r}.")
                continue
            problem = compatibility_error(source_field, target_field, values.get(target_key))
            if problem:
                errors.add(at, problem)
        elif isinstance(origin, dict) and set(origin) == {"value"}:
            try:
                value = target_field.type.input_field(target_field, model).deserialize(
                    origin["value"]
                )
            except ma.ValidationError as exc:
                for message in input_messages(exc):
                    errors.add(at, message)
                continue
            for message in target_field.type.value_errors(target_field, value, None, model):
                errors.add(at, message)
        elif isinstance(origin, dict) and set(origin) == {"expr"}:
            try:
                compile_expression(origin["expr"], list(src.fields))
            except ExpressionError as exc:
                errors.add(at, exc.message)
        else:
            errors.add(at, 'Use a source field key, {"value": ...} or {"expr": "..."}.')
    for target_key, table in values.items():
        at = f"{where}.values.{target_key}"
        target_field = target.fields.get(target_key)
        origin = fields.get(target_key)
        if target_field is None or target_field.type.name not in ("list", "multi_list"):
            errors.add(at, "A value table belongs to a list field of the target.")
            continue
        if not isinstance(origin, str) or origin not in src.fields or not isinstance(table, dict):
            errors.add(at, "A value table needs the field filled from a source list field.")
            continue
        if not all(isinstance(to_key, str) for to_key in table.values()):
            errors.add(at, "Map each option key of the source list to one of the target list.")
            continue
        source_options = model.option_lists[src.fields[origin].settings["list"]].options
        target_options = model.option_lists[target_field.settings["list"]].options
        for from_key, to_key in table.items():
            if from_key not in source_options:
                errors.add(at, f"{from_key!r} is not an option of the source list.")
            if to_key not in target_options:
                errors.add(at, f"{to_key!r} is not an option of the target list.")
    pipeline = spec.get("pipeline")
    stage = spec.get("stage")
    for name, value in (("pipeline", pipeline), ("stage", stage)):
        if not isinstance(value, str | None):
            errors.add(f"{where}.{name}", "Use a key.")
            return
    if pipeline is not None and pipeline not in target.pipelines:
        errors.add(f"{where}.pipeline", f"{target.label} has no pipeline {pipeline!r}.")
    elif stage is not None:
        chosen = target.pipelines.get(pipeline) if pipeline else target.default_pipeline()
        if chosen is None or stage not in chosen.stages:
            errors.add(f"{where}.stage", f"No stage {stage!r} in that pipeline.")


class ConversionMaps:
    """Create, replace and delete maps; transfer a source field to a target."""

    def __init__(self, session: Session, cache: MetamodelCache, actor: Actor) -> None:
        if not actor.is_admin:
            raise PermissionDenied("Only administrators may change conversion maps.")
        self.session = session
        self.cache = cache
        self.actor = actor

    def get(self, key: str) -> ConversionMap:
        row = self.session.scalar(select(ConversionMap).where(ConversionMap.key == key))
        if row is None:
            raise NotFound(f"No conversion map {key!r}.")
        return row

    def save(
        self, key: str, source: str, targets: Any, label: str = "", *, create: bool
    ) -> ConversionMap:
        """Create (``create=True``) or replace a map after checking all of it."""
        errors = Errors()
        # (a map to replace is named by a key it has: any other is not found, below)
        if create and (not isinstance(key, str) or not OPTION_KEY.match(key)):
            errors.add("key", "Use 1-40 lower-case letters, digits or underscores.")
        if not isinstance(label or "", str) or len(label or "") > MAX_LABEL:
            errors.add("label", f"At most {MAX_LABEL} characters.")
        errors.update(map_errors(self.cache.get(self.session), source, targets))
        errors.raise_if_any()
        row = self.session.scalar(select(ConversionMap).where(ConversionMap.key == key))
        if create and row is not None:
            raise Conflict(f"A conversion map {key!r} exists already.")
        if not create and row is None:
            raise NotFound(f"No conversion map {key!r}.")
        if row is None:
            row = ConversionMap(key=key)
            self.session.add(row)
        row.source, row.targets, row.label = source, targets, label or row.label or key
        self._log("conversion.save", key, {"source": source, "targets": targets})
        self.session.flush()
        return row

    def delete(self, key: str) -> None:
        self.session.delete(self.get(key))
        self._log("conversion.delete", key, {})

    def transfer(self, key: str, field: str, target: str) -> Field:
        """Create the source ``field`` on ``target`` (same type, settings and shared list)
        and map it; the list stays shared, so later option changes show on both."""
        row = self.get(key)
        model = self.cache.get(self.session)
        src = model.entities[row.source]
        errors = Errors()
        if not isinstance(field, str) or field not in src.fields:
            errors.add("field", f"{src.label} has no field {field!r}.")
        if not isinstance(target, str) or target not in (row.targets or {}):
            errors.add("target", f"The map does not convert into {target!r}.")
        elif isinstance(field, str) and (
            field in model.entities[target].fields
            or field in model.entities[target].archived_fields
        ):
            errors.add("field", f"{target!r} has a field {field!r} already; map it instead.")
        errors.raise_if_any()
        source_field = src.fields[field]
        settings = dict(source_field.settings)
        if source_field.type.name == "reference":
            settings = {"target": settings["target"], "on_delete": "set_null"}
        created = MetamodelService(self.session, self.cache, self.actor, RECORD_UPKEEP).add_field(
            target,
            field,
            source_field.label,
            source_field.type.name,
            settings=settings,
            help_text=source_field.help_text,
        )
        targets = {k: dict(v) for k, v in row.targets.items()}
        targets[target]["fields"] = {**targets[target].get("fields", {}), field: field}
        row.targets = targets
        self._log("conversion.transfer", key, {"field": field, "target": target})
        self.session.flush()
        return created

    def _log(self, action: str, target: str, detail: dict[str, Any]) -> None:
        """Record a change of a map (made already) in the history; conversions see it."""
        self.session.add(
            ConfigChange(by=self.actor.user_id, action=action, target=target, detail=detail)
        )
        changed(self.session)


def _names(source: str) -> set[str]:
    try:
        return {n.id for n in ast.walk(ast.parse(source, mode="eval")) if isinstance(n, ast.Name)}
    except SyntaxError:
        return set()


def maps_using(session: Session, entity: str, field: str | None) -> list[str]:
    """Conversion maps that read or fill ``entity`` (or its ``field``)."""
    found = []
    for row in session.scalars(select(ConversionMap).order_by(ConversionMap.key)):
        targets = row.targets or {}
        if field is None:
            if row.source == entity or entity in targets:
                found.append(f"The conversion “{row.label or row.key}” uses it.")
            continue
        uses = False
        if row.source == entity:
            for spec in targets.values():
                for origin in (spec.get("fields") or {}).values():
                    if origin == field or (
                        isinstance(origin, dict) and field in _names(str(origin.get("expr", "")))
                    ):
                        uses = True
        if entity in targets and field in (targets[entity].get("fields") or {}):
            uses = True
        if uses:
            found.append(f"The conversion “{row.label or row.key}” uses it.")
    return found


USAGE_CHECKS.append(maps_using)
TYPE_CHANGE_CHECKS.append(maps_using)  # a map was checked against the field's type
