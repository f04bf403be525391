"""``/api/openapi.json``: an OpenAPI 3.1 document generated from the live metamodel.

Every entity type the caller may read gets its own record schemas (built from each field
type's marshmallow fields) and its own paths, so a new field shows on the next request,
without a restart. apispec turns the marshmallow schemas into JSON Schema.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from sqlalchemy import select

from trellis.access.policy import Access, load_access
from trellis.api.blueprint import api
from trellis.api.context import unit
from trellis.api.meta_schemas import TokenRequest
from trellis.conversion.models import ConversionMap
from trellis.metamodel.compiled import CompiledEntity, CompiledModel
from trellis.metamodel.fieldtypes.choice import OptionOutput
from trellis.metamodel.fieldtypes.money import MoneyOutput
from trellis.metamodel.fieldtypes.reference import ReferenceOutput
from trellis.records.query import MAX_PER_PAGE, SYSTEM_FIELDS

API_VERSION = "1.0.0"
PROBLEM_STATUSES = {
    "400": "Malformed request, unknown field or operator",
    "401": "No valid bearer token",
    "403": "Not allowed",
    "404": "Not found (or not visible to the caller)",
    "409": "Stale version or conflicting state; nothing was written",
    "422": "Validation failed; errors by field",
    "429": "Too many failed logins",
}


MATCH_HELP = "A unique field: rows whose value is found update that record."


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details; extension members (``report``, ``missing``...) are allowed."""

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    errors = ma.fields.Dict(required=True)
    current = ma.fields.Dict()
    not_listed = ma.fields.Integer(
        metadata={"description": "How many entries were left out (at most 100 per mapping)."}
    )


class TokenSchema(ma.Schema):
    token = ma.fields.String(required=True)
    expires_at = ma.fields.DateTime(required=True)


class OptionSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    position = ma.fields.Integer()
    color = ma.fields.String()
    active = ma.fields.Boolean()


class OptionListSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    description = ma.fields.String()
    options = ma.fields.List(ma.fields.Nested(OptionSchema))
    used_by = ma.fields.List(ma.fields.String())


class FieldSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    type = ma.fields.String(required=True)
    required = ma.fields.Boolean()
    settings = ma.fields.Dict()
    default = ma.fields.Raw(allow_none=True)
    unique = ma.fields.Boolean()
    indexed = ma.fields.Boolean()
    position = ma.fields.Integer()
    archived = ma.fields.Boolean()
    help_text = ma.fields.String()


class StageSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    kind = ma.fields.String(metadata={"enum": ["open", "success", "failure"]})
    color = ma.fields.String()
    position = ma.fields.Integer()
    next_stages = ma.fields.List(
        ma.fields.String(),
        allow_none=True,
        metadata={"description": "Where a record here may move (null: any stage)"},
    )
    enter_roles = ma.fields.List(
        ma.fields.String(),
        metadata={
            "description": "Roles that may move records here (empty: anyone who may "
            "update the record)"
        },
    )
    flow_only = ma.fields.Boolean(metadata={"description": "Entered only as the outcome of a flow"})


class PipelineSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    position = ma.fields.Integer()
    stages = ma.fields.List(ma.fields.Nested(StageSchema))


class RuleSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(required=True, metadata={"enum": ["required", "validation"]})
    field = ma.fields.String(allow_none=True)
    when = ma.fields.String(allow_none=True)
    from_stage = ma.fields.String(allow_none=True)
    expression = ma.fields.String(allow_none=True)
    message = ma.fields.String(allow_none=True)


class EntitySchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    label_plural = ma.fields.String()
    description = ma.fields.String()
    title = ma.fields.String()
    archived = ma.fields.Boolean()
    fields = ma.fields.List(ma.fields.Nested(FieldSchema))
    pipelines = ma.fields.List(ma.fields.Nested(PipelineSchema))
    rules = ma.fields.List(ma.fields.Nested(RuleSchema))


class HistoryItemSchema(ma.Schema):
    at = ma.fields.DateTime(required=True)
    by = ma.fields.Integer(allow_none=True)
    action = ma.fields.String()
    field = ma.fields.String(required=True)
    old = ma.fields.Raw(allow_none=True)
    new = ma.fields.Raw(allow_none=True)


class StageVisitSchema(ma.Schema):
    pipeline = ma.fields.String(required=True)
    stage = ma.fields.String(required=True)
    entered_at = ma.fields.DateTime(required=True)
    entered_by = ma.fields.Integer(allow_none=True)
    left_at = ma.fields.DateTime(allow_none=True)
    left_by = ma.fields.Integer(allow_none=True)
    seconds = ma.fields.Integer(required=True)


class LinkSchema(ma.Schema):
    kind = ma.fields.String(required=True)
    entity = ma.fields.String(required=True)
    id = ma.fields.Integer(required=True)
    title = ma.fields.String(allow_none=True)
    field = ma.fields.String(allow_none=True)


def _items(schema: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{schema}"}}
        },
        "required": ["items"],
    }


def _json(schema: Any) -> dict[str, Any]:
    if isinstance(schema, str):
        schema = {"$ref": f"#/components/schemas/{schema}"}
    return {"application/json": {"schema": schema}}


def _operation(
    summary: str,
    ok: tuple[str, Any] | None,
    problems: tuple[str, ...],
    body: Any = None,
    parameters: list[dict[str, Any]] | None = None,
    public: bool = False,
    more: dict[str, Any] | None = None,
) -> dict[str, Any]:
    responses: dict[str, Any] = dict(more or {})
    if ok is not None:
        status, schema = ok
        responses[status] = {"description": "OK"} | ({"content": _json(schema)} if schema else {})
    for status in (*problems, *(() if public else ("401",))):
        responses[status] = {
            "description": PROBLEM_STATUSES[status],
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    if parameters:
        operation["parameters"] = parameters
    if public:
        operation["security"] = []
    return operation


#: ids in paths: what a BIGINT holds (larger ones match no route)
ID_SCHEMA = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
#: ids of the platform's own rows (rules): INTEGER columns
ID32_SCHEMA = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}


def _path_param(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    param = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        param["description"] = description
    return param


def build_document(
    model: CompiledModel, access: Access, convertible: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The OpenAPI document for what ``access`` may see of ``model``."""
    spec = APISpec(
        title="Trellis API",
        version=API_VERSION,
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={"description": "Records and configuration of this Trellis installation."},
        servers=[{"url": "/"}],
        security=[{"bearer": []}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    # leaves before the schemas that nest them, or apispec registers them under its own names
    for name, schema in (
        ("Problem", ProblemSchema),
        ("TokenRequest", TokenRequest),
        ("Token", TokenSchema),
        ("Option", OptionSchema),
        ("OptionList", OptionListSchema),
        ("Field", FieldSchema),
        ("Stage", StageSchema),
        ("Pipeline", PipelineSchema),
        ("Rule", RuleSchema),
        ("Entity", EntitySchema),
        ("HistoryItem", HistoryItemSchema),
        ("StageVisit", StageVisitSchema),
        ("Link", LinkSchema),
        ("MoneyOutput", MoneyOutput),
        ("OptionOutput", OptionOutput),
        ("ReferenceOutput", ReferenceOutput),
    ):
        spec.components.schema(name, schema=schema)
    _meta_paths(spec)
    _role_paths(spec)
    _conversion_paths(spec)
    for entity in model.entities.values():
        if access.can("read", entity.key) or access.can("create", entity.key):
            _entity_paths(
                spec,
                entity,
                access.hidden_everywhere(entity.key),
                access.read_only_fields(entity.key),
                entity.key in convertible,
                access.hidden_fields(entity.key),
            )
    return spec.to_dict()


def _meta_paths(spec: APISpec) -> None:
    spec.path(
        "/api/auth/token",
        operations={
            "post": _operation(
                "Obtain a bearer token",
                ("201", "Token"),
                ("400", "401", "422", "429"),
                "TokenRequest",
                public=True,
            ),
            "delete": _operation("Revoke the token in use", ("204", None), ()),
        },
    )
    entity = _path_param("entity")
    spec.path(
        "/api/meta/entities",
        operations={
            "get": _operation("Entity types", ("200", _items("Entity")), ()),
            "post": _operation(
                "Create an entity type",
                ("201", "Entity"),
                ("400", "403", "409", "422"),
                {"type": "object"},
            ),
        },
    )
    spec.path(
        "/api/meta/entities/{entity}",
        parameters=[entity],
        operations={
            "get": _operation(
                "An entity type with its fields, pipelines and rules", ("200", "Entity"), ("404",)
            ),
            "patch": _operation(
                "Change an entity type",
                ("200", "Entity"),
                ("400", "403", "404", "422"),
                {"type": "object"},
            ),
            "delete": _operation(
                "Archive an entity type", ("200", "Entity"), ("403", "404", "422")
            ),
        },
    )
    spec.path(
        "/api/meta/entities/{entity}/fields",
        parameters=[entity],
        operations={
            "post": _operation(
                "Add a field",
                ("201", "Field"),
                ("400", "403", "404", "409", "422"),
                {"type": "object"},
            ),
        },
    )
    field = _path_param("field")
    spec.path(
        "/api/meta/entities/{entity}/fields/{field}",
        parameters=[entity, field],
        operations={
            "patch": _operation(
                "Change a field", ("200", "Field"), ("400", "403", "404", "422"), {"type": "object"}
            ),
            "delete": _operation("Archive a field", ("200", "Field"), ("403", "404", "422")),
        },
    )
    spec.path(
        "/api/meta/entities/{entity}/fields/{field}/restore",
        parameters=[entity, field],
        operations={
            "post": _operation(
                "Restore an archived field", ("200", "Field"), ("403", "404", "422")
            ),
        },
    )
    spec.path(
        "/api/meta/lists",
        operations={
            "get": _operation("Option lists", ("200", _items("OptionList")), ()),
            "post": _operation(
                "Create an option list",
                ("201", "OptionList"),
                ("400", "403", "409", "422"),
                {"type": "object"},
            ),
        },
    )
    lst = _path_param("list")
    spec.path(
        "/api/meta/lists/{list}",
        parameters=[lst],
        operations={
            "get": _operation("An option list", ("200", "OptionList"), ("404",)),
            "patch": _operation(
                "Change an option list",
                ("200", "OptionList"),
                ("400", "403", "404", "422"),
                {"type": "object"},
            ),
        },
    )
    spec.path(
        "/api/meta/lists/{list}/options",
        parameters=[lst],
        operations={
            "post": _operation(
                "Add an option",
                ("201", "OptionList"),
                ("400", "403", "404", "422"),
                {"type": "object"},
            ),
        },
    )
    spec.path(
        "/api/meta/lists/{list}/options/{option}",
        parameters=[lst, _path_param("option")],
        operations={
            "patch": _operation(
                "Rename, recolour, move or retire an option",
                ("200", "OptionList"),
                ("400", "403", "404", "422"),
                {"type": "object"},
            ),
        },
    )
    spec.path(
        "/api/meta/entities/{entity}/pipelines",
        parameters=[entity],
        operations={
            "post": _operation(
                "Add a pipeline",
                ("201", "Pipeline"),
                ("400", "403", "404", "409", "422"),
                {"type": "object"},
            ),
        },
    )
    spec.path(
        "/api/meta/entities/{entity}/pipelines/{pipeline}",
        parameters=[entity, _path_param("pipeline")],
        operations={
            "get": _operation("A pipeline", ("200", "Pipeline"), ("404",)),
            "patch": _operation(
                "Change a pipeline or its stages",
                ("200", "Pipeline"),
                ("400", "403", "404", "422"),
                {"type": "object"},
            ),
        },
    )
    spec.path(
        "/api/meta/entities/{entity}/rules",
        parameters=[entity],
        operations={
            "get": _operation("Rules", ("200", _items("Rule")), ("404",)),
            "post": _operation(
                "Add a rule", ("201", "Rule"), ("400", "403", "404", "422"), {"type": "object"}
            ),
        },
    )
    spec.path(
        "/api/meta/entities/{entity}/rules/{rule}",
        parameters=[entity, _path_param("rule", ID32_SCHEMA)],
        operations={
            "patch": _operation(
                "Change a rule (the parts given; checked as a new rule is)",
                ("200", "Rule"),
                ("400", "403", "404", "422"),
                {"type": "object"},
            ),
            "delete": _operation("Delete a rule", ("204", None), ("403", "404")),
        },
    )


def _role_paths(spec: APISpec) -> None:
    role_object = {"type": "object"}
    grant = {
        "type": "object",
        "properties": {
            "create": {"type": "boolean"},
            "read": {"enum": ["none", "own", "all"]},
            "update": {"enum": ["none", "own", "all"]},
            "delete": {"enum": ["none", "own", "all"]},
            "fields": {"type": "object", "additionalProperties": {"enum": ["hidden", "read_only"]}},
        },
    }
    spec.path(
        "/api/meta/roles",
        operations={
            "get": _operation("Roles and their permissions", ("200", {"type": "object"}), ("403",)),
            "post": _operation(
                "Create a role", ("201", role_object), ("400", "403", "409", "422"), role_object
            ),
        },
    )
    spec.path(
        "/api/meta/roles/{role}/permissions/{entity}",
        parameters=[_path_param("role"), _path_param("entity")],
        operations={
            "put": _operation(
                "Set what a role may do with an entity type",
                ("200", grant),
                ("400", "403", "404", "422"),
                grant,
            )
        },
    )


def _conversion_paths(spec: APISpec) -> None:
    body = {"type": "object"}
    key = _path_param("key")
    spec.path(
        "/api/meta/conversions",
        operations={
            "get": _operation("Conversion maps", ("200", {"type": "object"}), ()),
            "post": _operation(
                "Create a conversion map", ("201", body), ("400", "403", "409", "422"), body
            ),
        },
    )
    spec.path(
        "/api/meta/conversions/{key}",
        parameters=[key],
        operations={
            "get": _operation("A conversion map", ("200", body), ("404",)),
            "put": _operation(
                "Replace a conversion map", ("200", body), ("400", "403", "404", "422"), body
            ),
            "delete": _operation("Delete a conversion map", ("204", None), ("403", "404")),
        },
    )
    spec.path(
        "/api/meta/conversions/{key}/transfer",
        parameters=[key],
        operations={
            "post": _operation(
                "Create a source field on a target and map it",
                ("201", "Field"),
                ("400", "403", "404", "409", "422"),
                {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "target": {"type": "string"}},
                    "required": ["field", "target"],
                },
            )
        },
    )
    rule = {
        "type": "object",
        "properties": {"fields": {"type": "array", "items": {"type": "string"}}},
        "required": ["fields"],
    }
    entity = _path_param("entity")
    spec.path(
        "/api/meta/entities/{entity}/duplicate-rules",
        parameters=[entity],
        operations={
            "get": _operation("Duplicate rules", ("200", {"type": "object"}), ("404",)),
            "post": _operation(
                "Add a duplicate rule", ("201", body), ("400", "403", "404", "422"), rule
            ),
        },
    )
    spec.path(
        "/api/meta/entities/{entity}/duplicate-rules/{rule}",
        parameters=[entity, _path_param("rule", ID32_SCHEMA)],
        operations={"delete": _operation("Delete a duplicate rule", ("204", None), ("403", "404"))},
    )


def _entity_paths(
    spec: APISpec,
    entity: CompiledEntity,
    hidden: frozenset[str],
    read_only: frozenset[str],
    convertible: bool = False,
    unsearchable: frozenset[str] = frozenset(),
) -> None:
    """Paths and schemas of one entity type: ``hidden`` fields are hidden on every record;
    ``unsearchable`` ones on some (no filter or sort on them)."""
    name = "".join(part.title() for part in entity.key.split("_"))
    visible = [f for f in entity.fields.values() if f.key not in hidden]
    searchable = [f for f in visible if f.key not in unsearchable]
    writable = [f for f in visible if f.key not in read_only]
    output = {
        "id": ma.fields.Integer(required=True),
        "version": ma.fields.Integer(required=True),
        "title": ma.fields.String(required=True),
        "created_at": ma.fields.DateTime(required=True),
        "updated_at": ma.fields.DateTime(required=True),
        "created_by": ma.fields.Integer(required=True, allow_none=True),
        "owner": ma.fields.Integer(required=True, allow_none=True),
    }
    for f in visible:
        output[f.key] = f.type.output_field(f)
    stage_keys = sorted({s for p in entity.pipelines.values() for s in p.stages})
    if entity.has_pipelines:
        output["pipeline"] = ma.fields.String(
            required=True, metadata={"enum": list(entity.pipelines)}
        )
        output["stage"] = ma.fields.String(required=True, metadata={"enum": stage_keys})
    inputs = {f.key: f.type.input_field(f, None) for f in writable}
    create_fields = dict(inputs)
    if entity.has_pipelines:
        create_fields["pipeline"] = ma.fields.String(metadata={"enum": list(entity.pipelines)})
        create_fields["stage"] = ma.fields.String(metadata={"enum": stage_keys})
    patch_fields = {**inputs, "version": ma.fields.Integer(required=True)}
    schemas = {
        f"{name}Record": ma.Schema.from_dict(output, name=f"{name}Record"),
        f"{name}Create": ma.Schema.from_dict(create_fields, name=f"{name}Create"),
        f"{name}Patch": ma.Schema.from_dict(patch_fields, name=f"{name}Patch"),
    }
    for schema_name, schema in schemas.items():
        spec.components.schema(schema_name, schema=schema)
    record = f"{name}Record"
    page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{record}"}},
            "total": {"type": "integer"},
            "total_is_lower_bound": {"type": "boolean"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "next_cursor": {"type": ["string", "null"]},
            "next": {"type": ["string", "null"]},
        },
        "required": ["items", "total", "page", "per_page"],
    }
    filters = [_query(f.key, {"type": "string"}, f"{f.label} equals") for f in searchable]
    sortable = [k for k in SYSTEM_FIELDS] + [
        f.key for f in searchable if f.type.name != "multi_list"
    ]
    listing = [
        _query("q", {"type": "string"}, "Text search"),
        _query(
            "sort",
            {"type": "string"},
            "Comma-separated keys, '-' for descending: " + ", ".join(sortable),
        ),
        _query("page", {"type": "integer", "minimum": 1}),
        _query("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE}),
        _query("after", {"type": "string"}, "Continue after a page: its next_cursor"),
        _query(
            "total",
            {"type": "string", "enum": ["exact"]},
            "Count every match (otherwise counted up to 1,000, total_is_lower_bound beyond)",
        ),
        *filters,
    ]
    base = f"/api/records/{entity.key}"
    record_id = _path_param("id", ID_SCHEMA)
    spec.path(
        base,
        operations={
            "get": _operation(
                f"List {entity.label_plural}",
                ("200", page),
                ("400", "403", "404"),
                parameters=listing,
            ),
            "post": _operation(
                f"Create a {entity.label}",
                ("201", record),
                ("400", "403", "404", "422"),
                f"{name}Create",
            ),
        },
    )
    if writable:
        unique = [f.key for f in writable if f.unique]
        import_op = _operation(
            f"Import {entity.label_plural} from CSV (all or nothing)",
            ("201", {"type": "object"}),
            ("400", "403", "404", "422"),
            parameters=[
                _query("dry_run", {"type": "boolean"}, "Check every row; write nothing."),
                *(
                    [_query("match", {"type": "string", "enum": unique}, MATCH_HELP)]
                    if unique
                    else []
                ),
            ],
            more={"200": {"description": "Dry run", "content": _json({"type": "object"})}},
        )
        import_op["requestBody"] = {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
        }
        spec.path(f"{base}/import", operations={"post": import_op})
    spec.path(
        f"{base}/{{id}}",
        parameters=[record_id],
        operations={
            "get": _operation(f"A {entity.label}", ("200", record), ("404",)),
            "patch": _operation(
                f"Change a {entity.label}",
                ("200", record),
                ("400", "403", "404", "409", "422"),
                f"{name}Patch",
            ),
            "delete": _operation(
                f"Delete a {entity.label}", ("204", None), ("400", "403", "404", "409")
            ),
        },
    )
    if entity.has_pipelines:
        move = {
            "type": "object",
            "properties": {
                "stage": {"type": "string", "enum": stage_keys},
                "pipeline": {"type": "string", "enum": list(entity.pipelines)},
                "values": {"$ref": f"#/components/schemas/{name}Create"},
                "version": {"type": "integer"},
            },
            "required": ["stage"],
            "additionalProperties": False,
        }
        spec.path(
            f"{base}/{{id}}/stage",
            parameters=[record_id],
            operations={
                "post": _operation(
                    f"Move a {entity.label} to a stage",
                    ("200", record),
                    ("400", "403", "404", "409", "422"),
                    move,
                ),
            },
        )
    if convertible:
        convert_body = {
            "type": "object",
            "properties": {
                "targets": {"type": "object", "additionalProperties": {"type": "object"}},
                "dry_run": {"type": "boolean"},
                "map": {"type": "string"},
                "source_values": {
                    "type": "object",
                    "description": "Fields of the converted record itself that its success "
                    "stage requires (named under its entity type in errors and missing).",
                },
            },
            "required": ["targets"],
        }
        spec.path(
            f"{base}/{{id}}/convert",
            parameters=[record_id],
            operations={
                "post": _operation(
                    f"Convert a {entity.label}",
                    ("201", {"type": "object"}),
                    ("400", "403", "404", "409", "422"),
                    convert_body,
                    more={"200": {"description": "Dry run", "content": _json({"type": "object"})}},
                )
            },
        )
    spec.path(
        f"{base}/{{id}}/history",
        parameters=[record_id],
        operations={
            "get": _operation("Change history", ("200", _items("HistoryItem")), ("404",)),
        },
    )
    if entity.has_pipelines:
        spec.path(
            f"{base}/{{id}}/stages",
            parameters=[record_id],
            operations={
                "get": _operation(
                    "Stages the record has been in: entered, left, by whom, how long",
                    ("200", _items("StageVisit")),
                    ("404",),
                ),
            },
        )
    spec.path(
        f"{base}/{{id}}/links",
        parameters=[record_id],
        operations={
            "get": _operation("Linked records, both ways", ("200", _items("Link")), ("404",)),
        },
    )


@api.get("/openapi.json")
def openapi_document() -> Any:
    with unit() as (runtime, session, actor):
        convertible = frozenset(session.scalars(select(ConversionMap.source)))
        return build_document(runtime.model(session), load_access(session, actor), convertible)
