"""``/api/openapi.json``: the OpenAPI 3.1 document, built from the routes' declarations.

flask-smorest builds the static part from the routes and their marshmallow schemas (see
:mod:`trellis.api.blueprint`). The record routes are declared once, for ``{entity}``; here each
entity type the caller may read gets its own copy of them, with its own record schemas built
from the live metamodel (each field type's marshmallow fields), its filters (every operator
its field types support) and only the routes it has (stages with pipelines, ``convert`` with a
conversion map, ``import`` with a writable field). So a new field shows on the next request,
without a restart.

Values the configuration sets at run time (pipelines, stages, option keys) are open strings
with ``x-known-values``, never a closed ``enum``: a client generated before a stage was added
must still read a record in that stage.

Documents are cached by the metamodel stamp and what the caller may see (bounded).
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from typing import Any

import marshmallow as ma
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.access.policy import Access, load_access
from trellis.accounts import Actor
from trellis.api import schemas
from trellis.api.blueprint import api
from trellis.api.context import unit
from trellis.conversion.models import ConversionMap
from trellis.metamodel.compiled import CompiledEntity, CompiledField, CompiledModel
from trellis.metamodel.fieldtypes.choice import OptionOutput
from trellis.metamodel.fieldtypes.money import MoneyOutput
from trellis.metamodel.fieldtypes.reference import ReferenceOutput
from trellis.records.query import SYSTEM_FIELDS

API_VERSION = "1.1.0"
RECORDS = "/api/records/{entity}"
#: ids in paths: what a BIGINT holds (larger ones match no route)
ID_SCHEMA = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
#: ids of the platform's own rows (rules): INTEGER columns
ID32_SCHEMA = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
#: how many documents a worker keeps (one per metamodel stamp and kind of caller)
CACHE_SIZE = 32

#: the generic record schemas and the name of each entity type's own copy
PLACEHOLDERS = {
    "Record": "{name}Record",
    "RecordCreate": "{name}Create",
    "RecordPatch": "{name}Patch",
    "RecordPage": "{name}Page",
    "StageMove": "{name}StageMove",
    "ConversionRequest": "{name}ConversionRequest",
    "Conversion": "{name}Conversion",
}
#: schemas shared by the per-entity ones (registered first, so they are referenced by name)
SHARED = {
    "MoneyOutput": MoneyOutput,
    "OptionOutput": OptionOutput,
    "ReferenceOutput": ReferenceOutput,
}
OPERATOR_HELP = {
    "eq": "equals",
    "ne": "differs from",
    "lt": "is less than",
    "lte": "is at most",
    "gt": "is greater than",
    "gte": "is at least",
    "in": "is one of (comma-separated)",
    "contains": "contains",
    "isnull": "is empty (true) or filled in (false)",
}


def register_schemas(spec: APISpec) -> None:
    """Name the shared schemas before the routes use them (else apispec names them)."""
    for name, schema in SHARED.items():
        spec.components.schema(name, schema=schema)


# -- the document ------------------------------------------------------------------------


class DocumentCache:
    """Built documents by (metamodel stamp, what the caller may see); at most ``size``."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._documents: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size
        self._static: dict[str, Any] | None = None

    def static(self, spec: APISpec) -> dict[str, Any]:
        """What the route declarations give (the same for every caller and configuration)."""
        if self._static is None:
            self._static = copy.deepcopy(spec.to_dict())
        return self._static

    def get(self, key: tuple[Any, ...], build: Any) -> dict[str, Any]:
        with self._lock:
            document = self._documents.get(key)
            if document is not None:
                self._documents.move_to_end(key)
                return document
        document = build()
        with self._lock:
            self._documents[key] = document
            while len(self._documents) > self._size:
                self._documents.popitem(last=False)
        return document


def document_for(runtime: Any, session: Session, actor: Actor) -> dict[str, Any]:
    """The document as ``actor`` sees it (cached; do not change it)."""
    model = runtime.model(session)
    access = load_access(session, actor)
    maps = _conversion_targets(session)
    smorest = current_app.extensions["trellis.api"]
    cache: DocumentCache = current_app.extensions.setdefault("trellis.openapi", DocumentCache())
    key = (model.stamp, tuple(sorted(maps.items())), _visibility(model, access))
    return cache.get(key, lambda: build_document(cache.static(smorest.spec), model, access, maps))


def _visibility(model: CompiledModel, access: Access) -> tuple[Any, ...]:
    """Everything about the caller that changes the document (not who they are)."""
    return tuple(
        (
            key,
            access.can("read", key),
            access.can("create", key),
            access.hidden_everywhere(key),
            access.hidden_fields(key),
            access.read_only_fields(key),
        )
        for key in model.entities
    )


def _conversion_targets(session: Session) -> dict[str, tuple[str, ...]]:
    """The target entity types each source converts into (over all its maps)."""
    targets: dict[str, set[str]] = {}
    for source, into in session.execute(select(ConversionMap.source, ConversionMap.targets)):
        targets.setdefault(source, set()).update(into or {})
    return {source: tuple(sorted(keys)) for source, keys in targets.items()}


def build_document(
    static: dict[str, Any],
    model: CompiledModel,
    access: Access,
    conversions: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """The OpenAPI document for what ``access`` may see of ``model``: the declared routes,
    the record routes once per entity type."""
    document = copy.deepcopy(static)
    generic = {p: v for p, v in document["paths"].items() if p.startswith(RECORDS)}
    paths = {p: v for p, v in document["paths"].items() if p not in generic}
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for placeholder in PLACEHOLDERS:
        components.pop(placeholder, None)
    visible = [
        e
        for e in model.entities.values()
        if access.can("read", e.key) or access.can("create", e.key)
    ]
    per_entity = APISpec("records", "1", "3.1.0", plugins=[MarshmallowPlugin()])
    register_schemas(per_entity)
    plugin = per_entity.plugins[0]
    shown = {e.key for e in visible}
    views = []
    for entity in visible:
        targets = (conversions or {}).get(entity.key, ())
        view = _EntityView(entity, model, access, tuple(t for t in targets if t in shown))
        for name, schema in view.schemas().items():
            per_entity.components.schema(name, schema=schema)
        paths.update(view.paths(generic, plugin))
        views.append(view)
    built = per_entity.to_dict()["components"]["schemas"]
    for view in views:
        view.refine(built)
    components.update(built)
    document["paths"] = paths
    return document


class _EntityView:
    """One entity type as one caller sees it: its schemas and its copy of the record routes."""

    def __init__(
        self, entity: CompiledEntity, model: CompiledModel, access: Access, targets: tuple[str, ...]
    ) -> None:
        self.entity = entity
        self.model = model
        self.name = schema_name(entity.key)
        hidden = access.hidden_everywhere(entity.key)
        read_only = access.read_only_fields(entity.key)
        unsearchable = access.hidden_fields(entity.key)
        self.visible = [f for f in entity.fields.values() if f.key not in hidden]
        self.searchable = [f for f in self.visible if f.key not in unsearchable]
        self.writable = [f for f in self.visible if f.key not in read_only]
        self.targets = targets

    # -- schemas ---------------------------------------------------------------------------

    def schemas(self) -> dict[str, type[ma.Schema]]:
        entity, name = self.entity, self.name
        output: dict[str, ma.fields.Field] = {
            "id": ma.fields.Integer(required=True),
            "version": ma.fields.Integer(required=True),
            "title": ma.fields.String(required=True),
            "created_at": ma.fields.DateTime(required=True),
            "updated_at": ma.fields.DateTime(required=True),
            "created_by": ma.fields.Integer(required=True, allow_none=True),
            "owner": ma.fields.Integer(required=True, allow_none=True),
        }
        for f in self.visible:
            output[f.key] = f.type.output_field(f)
        if entity.has_pipelines:
            output["pipeline"] = ma.fields.String(required=True, metadata=self._pipelines())
            output["stage"] = ma.fields.String(required=True, metadata=self._stages())
        required = _required_on_create(entity)
        inputs = {f.key: f.type.input_field(f, None) for f in self.writable}
        create = {key: _with_required(field, key in required) for key, field in inputs.items()}
        if entity.has_pipelines:
            create["pipeline"] = ma.fields.String(allow_none=True, metadata=self._pipelines())
            create["stage"] = ma.fields.String(allow_none=True, metadata=self._stages())
        patch = {**inputs, "version": ma.fields.Integer(required=True)}
        if entity.has_pipelines:  # a stage in a PATCH moves the record
            patch["stage"] = ma.fields.String(metadata=self._stages())
            patch["pipeline"] = ma.fields.String(allow_none=True, metadata=self._pipelines())
        record = ma.Schema.from_dict(output, name=f"{name}Record")
        built: dict[str, type[ma.Schema]] = {
            f"{name}Record": record,
            f"{name}Create": _closed(create, f"{name}Create"),
            f"{name}Patch": _closed(patch, f"{name}Patch"),
            f"{name}Page": ma.Schema.from_dict(
                {
                    "items": ma.fields.List(ma.fields.Nested(record), required=True),
                    "total": ma.fields.Integer(required=True),
                    "total_is_lower_bound": ma.fields.Boolean(),
                    "page": ma.fields.Integer(required=True),
                    "per_page": ma.fields.Integer(required=True),
                    "next_cursor": ma.fields.String(allow_none=True),
                    "next": ma.fields.String(allow_none=True),
                },
                name=f"{name}Page",
            ),
        }
        if entity.has_pipelines:
            built[f"{name}StageMove"] = _closed(
                {
                    "stage": ma.fields.String(required=True, metadata=self._stages()),
                    "pipeline": ma.fields.String(allow_none=True, metadata=self._pipelines()),
                    "values": ma.fields.Nested(_closed(inputs, f"{name}StageValues")),
                    "version": ma.fields.Integer(allow_none=True),
                },
                f"{name}StageMove",
            )
        if self.targets:
            built.update(self._conversion_schemas(record))
        return built

    def _conversion_schemas(self, record: type[ma.Schema]) -> dict[str, type[ma.Schema]]:
        name = self.name
        target_input = {
            t: ma.fields.Raw(
                metadata={
                    "description": f"Field values for the new {self.model.entities[t].label} "
                    "(they win over the map), its pipeline and stage, or use_existing: "
                    "the id of a record to link instead.",
                    "type": "object",
                }
            )
            for t in self.targets
        }
        # filled in by refine(): each target's own record schema
        # not "{name}ConversionRecords": openapi-python-client names the inline model of the
        # dry run's ``records`` property so, and drops the whole response as a duplicate
        by_target = _closed({}, f"{name}ConvertedRecords")
        request = {
            "targets": ma.fields.Nested(
                _closed(target_input, f"{name}ConversionTargets"),
                required=True,
                metadata={"description": "The target entity types to create (or link)."},
            ),
            "dry_run": ma.fields.Boolean(),
            "map": ma.fields.String(allow_none=True),
            "source_values": ma.fields.Dict(
                allow_none=True,
                metadata={
                    "description": "Fields of the converted record itself that its success "
                    "stage requires (named under its entity type in errors and missing)."
                },
            ),
        }
        result = {
            "created": ma.fields.Nested(by_target, required=True),
            "linked": ma.fields.Nested(by_target, required=True),
            "missing": ma.fields.Dict(required=True),
            "not_carried": ma.fields.Dict(required=True),
            "duplicates": ma.fields.Dict(required=True),
            "errors": ma.fields.Dict(required=True),
            "source": ma.fields.Nested(record, required=True),
            "dry_run": ma.fields.Boolean(),
            "records": ma.fields.Dict(
                metadata={"description": "Dry run: the records as they would be (no ids)."}
            ),
        }
        return {
            f"{name}ConversionRequest": _closed(request, f"{name}ConversionRequest"),
            f"{name}Conversion": ma.Schema.from_dict(result, name=f"{name}Conversion"),
        }

    def _pipelines(self) -> dict[str, Any]:
        return schemas.open_values(
            list(self.entity.pipelines), "A pipeline key (administrators add pipelines)."
        )

    def _stages(self) -> dict[str, Any]:
        keys = sorted({s for p in self.entity.pipelines.values() for s in p.stages})
        return schemas.open_values(keys, "A stage key (administrators add stages).")

    def refine(self, built: dict[str, Any]) -> None:
        """What marshmallow cannot say: option keys known today, bounds from field settings,
        no NUL in text, the target entity types' record schemas in a conversion."""
        name = self.name
        for suffix in ("Create", "Patch", "StageValues"):
            properties = built.get(f"{name}{suffix}", {}).get("properties", {})
            for key, prop in properties.items():
                f = self.entity.fields.get(key)
                if f is not None:
                    _refine_input(prop, f, self.model)
        if self.targets:
            built[f"{name}ConvertedRecords"] = {
                "type": "object",
                "properties": {
                    t: {"$ref": f"#/components/schemas/{schema_name(t)}Record"}
                    for t in self.targets
                },
                "additionalProperties": False,
            }

    # -- paths -----------------------------------------------------------------------------

    def paths(self, generic: dict[str, Any], plugin: MarshmallowPlugin) -> dict[str, Any]:
        entity, base = self.entity, f"/api/records/{self.entity.key}"
        wanted = {
            "/stage": entity.has_pipelines,
            "/stages": entity.has_pipelines,
            "/import": bool(self.writable),
            "/convert": bool(self.targets),
        }
        renames = {
            f"#/components/schemas/{p}": "#/components/schemas/" + n.format(name=self.name)
            for p, n in PLACEHOLDERS.items()
        }
        out = {}
        for path, item in generic.items():
            tail = path.removeprefix(RECORDS)
            suffix = tail.replace("/{record_id}", "")
            if not wanted.get(suffix, True):
                continue
            concrete = path.replace("{entity}", entity.key).replace("{record_id}", "{id}")
            item = _renamed(copy.deepcopy(item), renames)
            for operation in [item, *(v for v in item.values() if isinstance(v, dict))]:
                params = operation.get("parameters")
                if params is None:
                    continue
                operation["parameters"] = [
                    self._parameter(p)
                    for p in params
                    if p.get("name") != "entity" or p.get("in") != "path"
                ]
                operation["parameters"] = [p for p in operation["parameters"] if p is not None]
            for method, operation in item.items():
                if not isinstance(operation, dict) or method == "parameters":
                    continue
                operation["summary"] = operation.get("summary", "").format(
                    label=entity.label, label_plural=entity.label_plural
                )
                operation["operationId"] = f"{method}_{entity.key}" + tail.replace(
                    "/{record_id}", "_record"
                ).replace("/", "_")
                if suffix == "" and method == "get":
                    operation["parameters"] = [
                        *operation.get("parameters", []),
                        *self._filters(plugin),
                    ]
            out[base + concrete.removeprefix(base)] = item
        return out

    def _parameter(self, param: dict[str, Any]) -> dict[str, Any] | None:
        if param.get("in") == "path" and param.get("name") == "record_id":
            return {**param, "name": "id", "schema": dict(ID_SCHEMA)}
        if param.get("in") == "query" and param.get("name") == "match":
            unique = [f.key for f in self.writable if f.unique]
            if not unique:
                return None
            return {**param, "schema": {"type": "string", "enum": unique}}
        return param

    def _filters(self, plugin: MarshmallowPlugin) -> list[dict[str, Any]]:
        """A query parameter per field and operator: ``field`` (equals) and ``field__op``."""
        params = []
        system = {k: s for k, s in SYSTEM_FIELDS.items() if k not in ("pipeline", "stage")}
        if self.entity.has_pipelines:
            system.update({k: SYSTEM_FIELDS[k] for k in ("pipeline", "stage")})
        targets: list[tuple[str, str, tuple[str, ...], dict[str, Any]]] = []
        for key, s in system.items():
            if key in ("pipeline", "stage"):
                value = {
                    "type": "string",
                    "minLength": 1,
                    **(self._pipelines() if key == "pipeline" else self._stages()),
                }
            elif s.type.name == "date_time":
                value = {"type": "string", "format": "date-time"}
            else:
                value = {"type": "integer", "minimum": 0}
            targets.append((key, key.replace("_", " "), s.operators, value))
        for f in self.searchable:
            targets.append((f.key, f.label, f.type.operators, _filter_value(f, self.model, plugin)))
        for key, label, operators, value in targets:
            for op in operators:
                params.append(
                    {
                        "name": key if op == "eq" else f"{key}__{op}",
                        "in": "query",
                        "required": False,
                        "description": f"{label} {OPERATOR_HELP[op]}",
                        "schema": _operand_schema(op, value),
                    }
                )
        return params


def schema_name(entity_key: str) -> str:
    """``lead_source`` -> ``LeadSource`` (the prefix of the entity type's schemas)."""
    return "".join(part.title() for part in entity_key.split("_"))


def _renamed(value: Any, renames: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: (renames.get(v, v) if k == "$ref" else _renamed(v, renames))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_renamed(v, renames) for v in value]
    return value


def _closed(fields: dict[str, ma.fields.Field], name: str) -> type[ma.Schema]:
    """A request schema: unknown properties are refused (the record service says so)."""

    class Meta:
        unknown = ma.RAISE

    return type(name, (ma.Schema,), {"Meta": Meta, **fields})


def _with_required(field: ma.fields.Field, required: bool) -> ma.fields.Field:
    if required:
        field = copy.copy(field)
        field.required = True
        field.allow_none = False
    return field


def _required_on_create(entity: CompiledEntity) -> set[str]:
    """Fields a new record must be given: required with no default, or named by a required
    rule that holds always (no condition, not from a stage)."""
    keys = {f.key for f in entity.fields.values() if f.required and f.default is None}
    for rule in entity.rules:
        if (
            rule.kind == "required"
            and rule.field_key in entity.fields
            and rule.condition is None
            and rule.from_stage is None
            and entity.fields[rule.field_key].default is None
        ):
            keys.add(rule.field_key)
    return keys


def _bounds(f: CompiledField) -> dict[str, Any]:
    """JSON Schema bounds the server enforces from the field's settings."""
    settings = f.settings or {}
    name = f.type.name
    if name in ("text", "long_text", "email", "url", "phone"):
        limit = settings.get("max_length", getattr(f.type, "default_max_length", None))
        return {"maxLength": limit} if isinstance(limit, int) else {}
    if name == "integer":
        bounds = {"min": "minimum", "max": "maximum"}
        return {j: settings[s] for s, j in bounds.items() if isinstance(settings.get(s), int)}
    return {}


def _option_keys(f: CompiledField, model: CompiledModel) -> list[str]:
    options = model.option_lists.get(f.settings.get("list", ""))
    return [k for k, o in options.options.items() if o.active] if options else []


def _refine_input(prop: dict[str, Any], f: CompiledField, model: CompiledModel) -> None:
    target = prop
    if f.type.name == "multi_list" and isinstance(prop.get("items"), dict):
        target = prop["items"]
    if f.type.name in ("list", "multi_list"):
        known = _option_keys(f, model)
        target.update(schemas.open_values(known, f"An option key of {f.label!r}."))
    if _is_string(target) and "pattern" not in target and "format" not in target:
        target["pattern"] = schemas.NO_NUL
    if _is_string(prop) or prop.get("type") in ("integer", ["integer", "null"]):
        prop.update(_bounds(f))


def _is_string(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "string" or (isinstance(kind, list) and "string" in kind)


def _filter_value(
    f: CompiledField, model: CompiledModel, plugin: MarshmallowPlugin
) -> dict[str, Any]:
    """The JSON Schema of a filter operand of ``f`` in the query string."""
    if f.type.name in ("list", "multi_list"):
        return {
            "type": "string",
            "minLength": 1,
            **schemas.open_values(_option_keys(f, model), f"An option key of {f.label!r}."),
        }
    prop = plugin.converter.field2property(f.type.input_field(f, None))
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind in ("integer", "number", "boolean"):
        return {"type": kind}
    if kind == "string":
        value: dict[str, Any] = {"type": "string", "minLength": 1}
        if prop.get("format") in ("date", "date-time"):
            value["format"] = prop["format"]
        return value
    return {"type": "string", "minLength": 1}


def _operand_schema(op: str, value: dict[str, Any]) -> dict[str, Any]:
    if op == "isnull":
        return {"type": "boolean"}
    if op == "in":
        return {"type": "string", "minLength": 1, "description": "Comma-separated values."}
    if op == "contains":
        return {"type": "string", "minLength": 1}
    return value


# -- the route ---------------------------------------------------------------------------


@api.get("/openapi.json")
@api.problems()
def openapi_document() -> Any:
    """This document, as the caller sees it"""
    with unit() as (runtime, session, actor):
        return document_for(runtime, session, actor)
