"""One entity type's part of the OpenAPI document (:mod:`trellis.api.openapi`): its record
schemas, built from the live metamodel (each field type's marshmallow fields, refined to what
the record service takes) as one caller sees it, and its copy of the generic record routes
(only those it has, with its filters and sort keys)."""

from __future__ import annotations

import copy
from typing import Any

import marshmallow as ma
from apispec import APISpec

from trellis.access.policy import Access
from trellis.api import schemas
from trellis.api.blueprint import CONFIGURATION_DEPENDENT, ISSUED_BY_SERVER
from trellis.api.openapi_filters import (
    FILLED,
    OPERATOR_HELP,
    USER,
    anchored,
    filter_value,
    operand,
    operand_schema,
    operand_string,
    option_keys,
    up_to,
)
from trellis.api.schemas import ID_SCHEMA
from trellis.metamodel.compiled import CompiledEntity, CompiledField, CompiledModel
from trellis.metamodel.fieldtypes.choice import OptionOutput
from trellis.metamodel.fieldtypes.input_fields import MAX_BIGINT, MAX_INTEGER
from trellis.metamodel.fieldtypes.money import MoneyOutput
from trellis.metamodel.fieldtypes.reference import ReferenceOutput
from trellis.metamodel.fieldtypes.text import FormattedTextType
from trellis.records.query import SYSTEM_FIELDS
from trellis.records.validation import RECORD_KEY

RECORDS = "/api/records/{entity}"
#: a user's id (the users table's INTEGER ids)
USER_ID = {"type": "integer", "minimum": 1, "maximum": MAX_INTEGER}
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


def register_schemas(spec: APISpec) -> None:
    """Name the shared schemas before the routes use them (else apispec names them)."""
    for name, schema in SHARED.items():
        spec.components.schema(name, schema=schema)


class EntityView:
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
        self.multi = {f.key for f in self.searchable if f.type.name == "multi_list"}
        self.always = _always_required(entity)
        #: every entity type's view, by key (set before paths are built: conversions)
        self.views: dict[str, EntityView] | None = None

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
        version = ma.validate.Range(max=MAX_INTEGER)  # an INTEGER column
        # a change may not empty a field that must always have a value
        kept = {k: _not_empty(f) if k in self.always else f for k, f in inputs.items()}
        patch = {**kept, "version": ma.fields.Integer(required=True, validate=version)}
        if entity.has_pipelines:  # a stage in a PATCH moves the record
            patch["stage"] = ma.fields.String(metadata=self._stages())
            patch["pipeline"] = ma.fields.String(allow_none=True, metadata=self._pipelines())
        record = ma.Schema.from_dict(output, name=f"{name}Record")
        built: dict[str, type[ma.Schema]] = {
            f"{name}Record": record,
            f"{name}Create": _closed(create, f"{name}Create"),
            f"{name}Patch": _closed(patch, f"{name}Patch"),
            f"{name}Page": schemas.page_of(record, f"{name}Page"),
        }
        if entity.has_pipelines:
            built[f"{name}StageMove"] = _closed(
                {
                    "stage": ma.fields.String(required=True, metadata=self._stages()),
                    "pipeline": ma.fields.String(allow_none=True, metadata=self._pipelines()),
                    "values": ma.fields.Nested(_closed(kept, f"{name}StageValues")),
                    "version": ma.fields.Integer(allow_none=True, validate=version),
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
            schema = built.get(f"{name}{suffix}", {})
            required = set(schema.get("required", ())) if suffix == "Create" else self.always
            for key, prop in schema.get("properties", {}).items():
                f = self.entity.fields.get(key)
                if f is not None:
                    _refine_input(prop, f, self.model, key in required)
        if self.entity.has_pipelines and f"{name}Patch" in built:
            # a pipeline in a PATCH moves the record: it needs the stage to move to
            built[f"{name}Patch"]["dependentRequired"] = {"pipeline": ["stage"]}

    def refine_conversion(self, built: dict[str, Any], views: dict[str, EntityView]) -> None:
        """A conversion's targets typed by the target entity types: the values a target
        takes are its create schema's, none of them required (the map fills them; what a
        target still lacks is the configuration's 422 under the target), with the options
        ``use_existing``, ``pipeline`` and ``stage``; the records answered are each target's
        record schema."""
        if not self.targets:
            return
        name = self.name
        built[f"{name}ConvertedRecords"] = {
            "type": "object",
            "properties": {
                t: {"$ref": f"#/components/schemas/{schema_name(t)}Record"} for t in self.targets
            },
            "additionalProperties": False,
        }
        choices = built[f"{name}ConversionTargets"]["properties"]
        for t in self.targets:
            values = copy.deepcopy(built[f"{schema_name(t)}Create"])
            values.pop("required", None)
            values["properties"].update(
                {
                    "use_existing": {
                        "type": ["integer", "null"],
                        "minimum": 1,
                        "maximum": MAX_BIGINT,
                        "description": "The id of a record to link instead of creating one.",
                    },
                    "pipeline": {"type": ["string", "null"], **views[t]._pipelines()},
                    "stage": {"type": ["string", "null"], **views[t]._stages()},
                }
            )
            values["description"] = choices[t].get("description", "")
            choices[t] = {"anyOf": [values, {"type": "null"}]}

    def conversion_dependent(self, views: dict[str, EntityView]) -> list[str]:
        """What a conversion's 422 may name that the document cannot decide: per target its
        configuration-dependent values, the fields it may lack (required, from the map or
        not) and its options; under the source's own key what its success stage lacks."""
        declared = ["map", f"{self.entity.key}.*"]
        for t in self.targets:
            target = views[t]
            keys = {*target._configuration_dependent("", "post"), *_always_required(target.entity)}
            keys |= {"use_existing", "pipeline", "stage", RECORD_KEY}
            declared += [f"{t}.{k}" for k in sorted(keys)]
        return declared

    # -- paths -----------------------------------------------------------------------------

    def paths(self, generic: dict[str, Any]) -> dict[str, Any]:
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
                        *self._filters(),
                    ]
                declared = self._configuration_dependent(suffix, method)
                if suffix == "/convert" and self.views is not None:
                    declared = self.conversion_dependent(self.views)
                if suffix == "/import":
                    declared = self._import_dependent()
                    self._document_csv(operation)
                if declared:
                    operation[CONFIGURATION_DEPENDENT] = declared
            out[base + concrete.removeprefix(base)] = item
        return out

    def _sort_pattern(self) -> str:
        """What ``?sort=`` takes: comma-separated keys the list sorts by (the system fields
        and the fields the caller may search whose type sorts), each after ``-`` (descending)
        or ``+``; empty items are skipped."""
        keys = list(SYSTEM_FIELDS)
        for f in self.searchable:
            try:
                f.type.sort_column(f, self.entity.table)
            except ValueError:
                continue
            keys.append(f.key)
        item = f"\\s*(?:[-+]*(?:{'|'.join(sorted(keys))}))?\\s*"
        return f"^{item}(?:,{item})*$"

    def _columns(self) -> list[str]:
        """The header names an import takes (field labels work too): the fields the caller
        may write, and the pipeline and stage to start in."""
        placement = ["pipeline", "stage"] if self.entity.has_pipelines else []
        return [*(f.key for f in self.writable), *placement]

    def _document_csv(self, operation: dict[str, Any]) -> None:
        """The CSV body: UTF-8 text whose header names columns (``x-csv-columns``, each
        cell a value of its field as the create schema has it), the upload's file too."""
        content = operation.get("requestBody", {}).get("content", {})
        csv = content.get("text/csv")
        if csv is not None:
            csv["x-csv-columns"] = self._columns()
            csv["x-csv-row-schema"] = {"$ref": f"#/components/schemas/{self.name}Create"}
        form = content.get("multipart/form-data")
        if form is not None:
            form["encoding"] = {"file": {"contentType": "text/csv"}}

    def _import_dependent(self) -> list[str]:
        """What an import's 422 may name that the document cannot decide: per row (``row
        3``) the values the configuration decides (as a create's) and the required fields
        a row lacks; ``header.match`` when the ``?match=`` field has no column."""
        keys = {*self._configuration_dependent("", "post"), *self.always, RECORD_KEY}
        return ["header.match", *(f"*.{k}" for k in sorted(keys))]

    def _configuration_dependent(self, suffix: str, method: str) -> list[str]:
        """The body properties of an operation whose valid values the live configuration (or
        the stored records) decides, as the server's 422 names them: a user, a referenced
        record or an option key that must exist, a unique value, a field a rule checks
        (a required-if, a field required from a stage on, a validation rule; ``_record``:
        a rule about the whole record), the pipeline and stage (which stages a record may
        reach). Everything else about a body the document says."""
        if (suffix, method) not in (("", "post"), ("", "patch"), ("/stage", "post")):
            return []
        keys = [
            f.key
            for f in self.writable
            if f.unique or f.type.name in ("user", "reference", "list", "multi_list")
        ]
        for rule in self.entity.rules:
            conditional = rule.condition is not None or rule.from_stage is not None
            if rule.kind == "required" and not conditional:
                continue  # said by the schema (required, not empty)
            keys.append(rule.field_key or RECORD_KEY)
        if self.entity.has_pipelines:
            keys += ["pipeline", "stage"]
        return sorted(set(keys))

    def _parameter(self, param: dict[str, Any]) -> dict[str, Any] | None:
        if param.get("in") == "path" and param.get("name") == "record_id":
            return {**param, "name": "id", "schema": dict(ID_SCHEMA)}
        if param.get("in") == "query" and param.get("name") == "sort":
            return {**param, "schema": {"type": "string", "pattern": self._sort_pattern()}}
        if param.get("in") == "query" and param.get("name") == "after" and param.get("schema"):
            return {**param, ISSUED_BY_SERVER: True}
        if param.get("in") == "query" and param.get("name") == "match":
            unique = [f.key for f in self.writable if f.unique]
            if not unique:
                return None
            return {**param, "schema": {"type": "string", "enum": unique}}
        return param

    def _filters(self) -> list[dict[str, Any]]:
        """A query parameter per field and operator: ``field`` (equals) and ``field__op``."""
        params = []
        system = {k: s for k, s in SYSTEM_FIELDS.items() if k not in ("pipeline", "stage")}
        if self.entity.has_pipelines:
            system.update({k: SYSTEM_FIELDS[k] for k in ("pipeline", "stage")})
        targets: list[tuple[str, str, tuple[str, ...], tuple[dict[str, Any], str]]] = []
        for key, s in system.items():
            if key in ("pipeline", "stage"):
                known = self._pipelines() if key == "pipeline" else self._stages()
                value = (operand_string(FILLED.replace(",", ""), **known), FILLED)
            elif s.type.name == "datetime":
                value = operand("datetime", None, self.model)
            else:
                # what the column holds: user ids and versions are INTEGER, ids BIGINT
                bounded = {"type": "integer", "minimum": 0, "maximum": s.maximum}
                value = (bounded, f"\\s*0*{up_to(s.maximum)}\\s*")
            targets.append((key, key.replace("_", " "), s.operators, value))
        for f in self.searchable:
            targets.append((f.key, f.label, f.type.operators, filter_value(f, self.model)))
        for key, label, operators, value in targets:
            for op in operators:
                params.append(
                    {
                        "name": key if op == "eq" else f"{key}__{op}",
                        "in": "query",
                        "required": False,
                        "description": f"{label} {OPERATOR_HELP[op]}",
                        "schema": operand_schema(op, value, key in self.multi),
                    }
                )
        return params


def schema_name(entity_key: str) -> str:
    """``lead_source`` -> ``LeadSource`` (the prefix of the entity type's schemas).

    Different keys give different names: a part that starts with a letter begins with its
    capital (keys are lower case, so a capital marks where a part began), any other part (a
    digit first, or empty between two underscores) keeps its underscore. ``a1b`` -> ``A1b``,
    ``a1_b`` -> ``A1B``, ``a_1`` -> ``A_1``, ``a__b`` -> ``A_B``."""
    first, *rest = entity_key.split("_")
    return first.capitalize() + "".join(
        part.capitalize() if part[:1].isalpha() else f"_{part}" for part in rest
    )


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


def _not_empty(field: ma.fields.Field) -> ma.fields.Field:
    field = copy.copy(field)
    field.allow_none = False
    return field


def _always_required(entity: CompiledEntity) -> set[str]:
    """Fields no write may leave empty: required ones and those a required rule names with
    no condition and no stage (a default fills them on create, not on a change)."""
    keys = {f.key for f in entity.fields.values() if f.required}
    for rule in entity.rules:
        if rule.kind == "required" and rule.condition is None and rule.from_stage is None:
            keys.add(rule.field_key)
    return keys & set(entity.fields)


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
        if isinstance(f.type, FormattedTextType):  # no settings: its own longest value
            limit = f.type.max_chars  # (none for a phone number: its pattern bounds it)
        else:
            limit = settings.get("max_length", getattr(f.type, "default_max_length", None))
        return {"maxLength": limit} if isinstance(limit, int) else {}
    if name == "integer":  # a BIGINT column, narrowed by the settings
        bounds = {"min": "minimum", "max": "maximum"}
        given = {j: settings[s] for s, j in bounds.items() if isinstance(settings.get(s), int)}
        return {"minimum": -MAX_BIGINT - 1, "maximum": MAX_BIGINT, **given}
    if name == "reference":  # a record id
        return {"minimum": 1, "maximum": MAX_BIGINT}
    return {}


def _refine_input(
    prop: dict[str, Any], f: CompiledField, model: CompiledModel, required: bool = False
) -> None:
    target = prop
    if f.type.name == "multi_list" and isinstance(prop.get("items"), dict):
        target = prop["items"]
    if f.type.name in ("list", "multi_list"):
        known = option_keys(f, model)
        target.update(schemas.open_values(known, f"An option key of {f.label!r}."))
    if f.type.name == "user":
        # an id or a username (the field's marshmallow type is any JSON)
        one_of = [dict(USER_ID), {"type": "string", "pattern": anchored(USER)}]
        prop["anyOf"] = one_of if required else [*one_of, {"type": "null"}]
    if f.type.name == "money" and not required and isinstance(prop.get("anyOf"), list):
        prop["anyOf"] = [*prop["anyOf"], {"type": "null"}]  # an optional amount may be cleared
    written = VALUE_PATTERNS.get(f.type.name)
    if written is not None:  # surrounding spaces are dropped before the checks
        target["pattern"] = written[1] if required else written[0]
        target.pop("format", None)
    if _is_string(target) and "pattern" not in target and "format" not in target:
        target["pattern"] = schemas.NO_NUL
    if f.type.name == "text":
        # the length is the trimmed value's: said in the pattern, not as maxLength (which
        # counts the spaces the server drops)
        target["pattern"] = _line(_bounds(f).get("maxLength"), required)
    elif _is_string(prop) or prop.get("type") in ("integer", ["integer", "null"]):
        prop.update(_bounds(f))


def _line(limit: int | None, required: bool) -> str:
    """A line of text of at most ``limit`` characters once its surrounding spaces are gone."""
    middle = "*" if limit is None else "{0," + str(max(limit - 2, 0)) + "}"
    filled = f"[^\\s\\u0000](?:[^\\n\\u0000]{middle}[^\\s\\u0000])?"
    if limit == 1:
        filled = "[^\\s\\u0000]"
    return f"^\\s*{filled}\\s*$" if required else f"^\\s*(?:{filled})?\\s*$"


#: what the server takes of a text-like type, after dropping surrounding spaces: (optional,
#: required); a required one needs more than spaces ("Required.")
VALUE_PATTERNS = {
    "text": (
        "^\\s*(?:[^\\s\\u0000](?:[^\\n\\u0000]*[^\\s\\u0000])?)?\\s*$",
        "^\\s*[^\\s\\u0000](?:[^\\n\\u0000]*[^\\s\\u0000])?\\s*$",
    ),
    "long_text": ("^[^\\u0000]*$", "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"),
    # PHONE_PATTERN, with the spaces around
    "phone": ("^\\s*\\+?[0-9][0-9 ().\\-/]{2,30}\\s*$",) * 2,
    # an http(s) address: a host of letters, digits and hyphens, a port, a path
    "url": (
        "^\\s*https?://[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        "(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(?::[1-9][0-9]{0,3})?"
        "(?:/[A-Za-z0-9._~/-]*)?\\s*$",
    )
    * 2,
}


def _is_string(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "string" or (isinstance(kind, list) and "string" in kind)
