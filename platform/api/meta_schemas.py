"""The request bodies of the metamodel, roles, conversion and token endpoints, as marshmallow
schemas: exact about JSON types, required properties and the sets the code fixes (field types,
rule kinds, stage kinds, scopes), and refusing unknown properties.

A body is loaded with its schema before any service runs, so a wrong type is a 422 that names
the property (``options.0.key``, ``targets.deal.fields.amount``), never a crash further in
(the fields these bodies are made of, and the loading, are in :mod:`trellis.api.bodies`).
The services check the same things again (they are called from the admin UI and config packs
too); what needs the configuration (a field that exists, an expression that compiles) is
theirs alone.
"""

from __future__ import annotations

import copy
from typing import Any

import marshmallow as ma
from flask import request

from trellis.access.grants import ROLE_KEY
from trellis.access.models import FIELD_ACCESS, SCOPES
from trellis.api.bodies import (
    JSON_VALUE_DOC,
    KEY_PATTERN,
    MESSAGES,
    OPTION_KEY_PATTERN,
    AnyJSON,
    Body,
    Checked,
    Choice,
    Color,
    Entries,
    Flag,
    Items,
    Key,
    Label,
    ListKey,
    Object,
    ObjectOf,
    Position,
    Text,
    WholeNumber,
    with_messages,
)
from trellis.api.schemas import NO_NUL
from trellis.errors import BadRequest
from trellis.metamodel.fieldtypes import registry
from trellis.metamodel.models import RULE_KINDS, STAGE_KINDS
from trellis.metamodel.rules import RULE_KEY, RULE_KEY_TEXT

# -- entity types ------------------------------------------------------------------------


class EntityCreate(Body):
    key = Key(required=True)
    label = Label(required=True)
    label_plural = Label(allow_none=True, metadata={"description": "Default: from the label."})
    title = Text(allow_none=True, metadata={"description": "Record title, e.g. {name}."})
    description = Text(allow_none=True)


class ListIndexBody(Body):
    """A list index: the fields a list filters on with equality, its sort field, then the
    fields it only reads (a range filter), by key (``owner``, ``pipeline``, ``stage``,
    ``created_at`` and ``updated_at`` name the system columns)."""

    key = Key(required=True)
    filters = Items(Text(), allow_none=True, metadata={"description": "Equality filters."})
    sort = Text(allow_none=True, metadata={"description": "The field the list is sorted by."})
    include = Items(Text(), allow_none=True, metadata={"description": "Fields only read."})


class EntityPatch(Body):
    immutable = {"key": "Cannot be changed."}
    label = Label()
    label_plural = Label()
    title = Text(allow_none=True)
    description = Text(allow_none=True)
    archived = Flag()
    list_indexes = Items(
        Object(ListIndexBody),
        metadata={
            "description": "The list indexes of the entity type (the whole set; the schema "
            "planner creates and drops the indexes)."
        },
    )


# -- fields ------------------------------------------------------------------------------

FIELD_TYPES = tuple(registry.names())
UNKNOWN_TYPE = f"Unknown field type {{input!r}} (known: {', '.join(FIELD_TYPES)})"
#: each field type's settings, as JSON Schema (the service checks them with these)
FIELD_SETTINGS = {name: registry.get(name).settings_schema for name in FIELD_TYPES}


def _settings(**kwargs: Any) -> ma.fields.Dict:
    return Entries(
        keys=Text(),
        allow_none=True,
        metadata={"description": "Per-type settings: " + _settings_words()},
        **with_messages({"invalid": "Expected an object."}, kwargs),
    )


def _settings_words() -> str:
    parts = []
    for name, schema in FIELD_SETTINGS.items():
        keys = ", ".join(schema.get("properties", {}))
        required = schema.get("required", [])
        if keys:
            needed = f" ({', '.join(required)} required)" if required else ""
            parts.append(f"{name}: {keys}{needed}")
    return "; ".join(parts) + "; the other types have none."


class FieldBody(Body):
    """What a field's properties are, whether added or changed."""

    label = Label()
    type = Choice(FIELD_TYPES, error=UNKNOWN_TYPE)
    required = Flag()
    settings = _settings()
    default = AnyJSON(allow_none=True, metadata={"description": "A value of the field's type."})
    unique = Flag()
    indexed = Flag()
    help_text = Text(allow_none=True)

    @ma.validates_schema
    def _settings_of_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        """The settings against their type's schema (when the body names the type)."""
        name, settings = data.get("type"), data.get("settings")
        if name in FIELD_SETTINGS and isinstance(settings, dict):
            problems = registry.get(name).settings_errors(settings, None)
            if problems:
                raise ma.ValidationError({"settings": problems})


class FieldCreate(FieldBody):
    key = Key(required=True)
    label = Label(required=True)
    type = Choice(FIELD_TYPES, required=True, error=UNKNOWN_TYPE)
    position = Position(allow_none=True)


class FieldPatch(FieldBody):
    immutable = {"key": "Cannot be changed once the field exists."}
    position = Position()


#: what a new field names or must fit that the configuration decides: a key whose columns no
#: other field's take, settings naming an option list or entity type that exists (and whose
#: values agree with each other: min not above max, scale not above precision, the default
#: currency among the currencies, a pattern that compiles), and a default that is a value of
#: the field (an option of its list, within its bounds)
FIELD_CREATE_CONFIGURATION = ("key", "settings", "default")
#: a change also depends on the stored field: its type (which types it may change to, what
#: its stored values allow), the settings it has (merged with the new ones; list and target
#: stay), whether that type can be unique
FIELD_PATCH_CONFIGURATION = ("type", "settings", "default", "unique")


def _settings_document(name: str) -> dict[str, Any]:
    """A field type's settings as the document gives them: its own JSON Schema (the one the
    service checks them with), text without NUL (the server's 400)."""
    schema = copy.deepcopy(FIELD_SETTINGS[name])
    for prop in schema.get("properties", {}).values():
        if prop.get("type") == "string" and "pattern" not in prop:
            prop["pattern"] = NO_NUL
        if prop.get("type") == "array" and prop.get("items", {}).get("type") == "string":
            prop["items"].setdefault("pattern", NO_NUL)
    return schema


def _ref(component: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{component}"}


def _component(name: str, suffix: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + suffix


def document_field_types(schemas: dict[str, Any]) -> None:
    """Type the settings of a field by its type, from the field types' own settings schemas
    (:data:`FIELD_SETTINGS`): ``FieldCreate`` becomes a ``oneOf`` by ``type`` (``TextFieldCreate``,
    ``ListFieldCreate``...), each with exactly its type's settings (required where the type
    needs some) and ``unique`` only where the type can be unique; a ``FieldPatch``'s settings
    (of the stored field's type, or of the ``type`` it names) are one of the types' settings
    (``TextFieldSettings``...)."""
    create = schemas["FieldCreate"]
    variants = []
    for name in FIELD_TYPES:
        settings_name = _component(name, "FieldSettings")
        schemas[settings_name] = _settings_document(name)
        needs_settings = bool(FIELD_SETTINGS[name].get("required"))
        properties = {
            **copy.deepcopy(create["properties"]),
            "type": {"type": "string", "const": name},
            "settings": _ref(settings_name)
            if needs_settings
            else {"oneOf": [_ref(settings_name), {"type": "null"}]},
        }
        if not registry.get(name).can_be_unique:
            properties["unique"] = {"type": "boolean", "const": False}
        variant = {
            "type": "object",
            "description": f"A {registry.get(name).label.lower()} field.",
            "properties": properties,
            "required": [*create["required"], *(["settings"] if needs_settings else [])],
            "additionalProperties": False,
        }
        schemas[_component(name, "FieldCreate")] = variant
        variants.append(_ref(_component(name, "FieldCreate")))
    schemas["FieldCreate"] = {
        "description": "A new field: its type and the settings that type takes.",
        "oneOf": variants,
    }
    patch = schemas["FieldPatch"]
    patch["properties"]["settings"] = {
        "description": "Settings of the field's type (the stored one, or the type given): "
        "merged into the stored settings.",
        "anyOf": [
            *(_ref(_component(n, "FieldSettings")) for n in FIELD_TYPES),
            {"type": "null"},
        ],
    }


# -- option lists ------------------------------------------------------------------------


class OptionCreate(Body):
    key = ListKey(required=True)
    label = Label(required=True)
    color = Color()
    position = Position(allow_none=True)


class ListOption(Body):
    """An option as part of a new list."""

    key = ListKey(required=True)
    label = Label(required=True)
    color = Color()
    active = Flag()


class OptionPatch(Body):
    immutable = {"key": "Cannot be changed."}
    label = Label()
    color = Color()
    active = Flag()
    position = Position()


class ListCreate(Body):
    key = ListKey(required=True)
    label = Label(required=True)
    options = Items(Object(ListOption), allow_none=True)
    description = Text(allow_none=True)


class ListPatch(Body):
    immutable = {"key": "Cannot be changed."}
    label = Label()
    description = Text(allow_none=True)


# -- pipelines ---------------------------------------------------------------------------


class StageBody(Body):
    key = Key("stage key", required=True)
    label = Label(required=True)
    kind = Choice(STAGE_KINDS, metadata={"description": "Default: open."})
    color = Color()
    next_stages = Items(
        Text(metadata={"pattern": NO_NUL}),
        allow_none=True,
        metadata={"description": "Where a record here may move (null: any stage)."},
    )
    enter_roles = Items(
        Text(metadata={"pattern": NO_NUL}),
        metadata={
            "description": "Roles that may move records here (empty: anyone who may "
            "update the record)."
        },
    )
    flow_only = Flag(metadata={"description": "Entered only as the outcome of a flow."})
    #: as read (GET gives it): a pipeline read can be sent back; the list's order decides
    position = Position(metadata={"description": "Ignored: the order of the list is the order."})


class PipelineCreate(Body):
    key = Key("pipeline key", required=True)
    label = Label(required=True)
    stages = Items(Object(StageBody), required=True, validate=ma.validate.Length(min=1))
    position = Position(allow_none=True)


class PipelinePatch(Body):
    immutable = {"key": "Cannot be changed."}
    label = Label(allow_none=True)
    position = Position(allow_none=True)
    stages = Items(
        Object(StageBody),
        allow_none=True,
        validate=ma.validate.Length(min=1),
        metadata={"description": "The whole new list in order."},
    )
    move_to = ObjectOf(
        Text(),
        allow_none=True,
        metadata={"description": "Where the records of a removed stage go: {old: new}."},
    )


# -- rules -------------------------------------------------------------------------------


class RuleBody(Body):
    kind = Choice(RULE_KINDS)
    field = Text(allow_none=True)
    when = Text(allow_none=True)
    from_stage = Text(allow_none=True, metadata={"description": "<pipeline>.<stage>"})
    expression = Text(allow_none=True)
    message = Text(allow_none=True)


class RuleCreate(RuleBody):
    kind = Choice(RULE_KINDS, required=True)
    key = Text(
        allow_none=True,
        validate=Checked(lambda v: [] if RULE_KEY.match(v) else [RULE_KEY_TEXT]),
        metadata={
            "pattern": "^[a-z][a-z0-9_]{0,59}$",
            "description": "Names the rule (unique per entity type; default: required_<field> "
            "or validation_<n>).",
        },
    )


class RulePatch(RuleBody):
    immutable = {"key": "Cannot be changed."}


# -- roles -------------------------------------------------------------------------------


class RoleCreate(Body):
    key = ListKey(ROLE_KEY, required=True)
    label = Label(required=True)


class GrantBody(Body):
    create = Flag()
    read = Choice(SCOPES)
    update = Choice(SCOPES)
    delete = Choice(SCOPES)
    fields = ObjectOf(Choice(FIELD_ACCESS), allow_none=True)


# -- conversion --------------------------------------------------------------------------


class Origin(ma.fields.Field):
    """Where a target field's value comes from: a source field key, ``{"value": ...}`` or
    ``{"expr": "..."}``."""

    default_error_messages = {
        # (braces doubled: marshmallow formats its messages)
        "invalid": 'Use a source field key, {{"value": ...}} or {{"expr": "..."}}.',
        "expr": "Use text.",
        **MESSAGES,
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and set(value) == {"value"}:
            return value
        if isinstance(value, dict) and set(value) == {"expr"}:
            if not isinstance(value["expr"], str):
                raise ma.ValidationError({"expr": [self.error_messages["expr"]]})
            return value
        raise self.make_error("invalid")


ORIGIN_DOC = {
    "anyOf": [
        {"type": "string", "pattern": NO_NUL, "description": "A field of the source"},
        {
            "type": "object",
            "properties": {"value": JSON_VALUE_DOC},
            "required": ["value"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"expr": {"type": "string", "pattern": NO_NUL}},
            "required": ["expr"],
            "additionalProperties": False,
        },
    ]
}


class MapTarget(Body):
    fields = ObjectOf(
        Origin(metadata=ORIGIN_DOC),
        names=KEY_PATTERN,
        allow_none=True,
        metadata={"description": "Per field of the target: where its value comes from."},
    )
    pipeline = Text(allow_none=True)
    stage = Text(allow_none=True)
    values = ObjectOf(
        ObjectOf(Text(), names=OPTION_KEY_PATTERN),
        names=KEY_PATTERN,
        allow_none=True,
        metadata={"description": "Per list field: {source option: target option}."},
    )


#: what a conversion map names that must exist: the source entity type, the targets (other
#: entity types), their fields and the source fields that fill them, value tables of list
#: fields (options of both lists), pipelines and stages (the service's 422 by these names)
CONVERSION_MAP_CONFIGURATION = (
    "source",
    "targets.*",
    "targets.*.fields.*",
    "targets.*.values.*",
    "targets.*.pipeline",
    "targets.*.stage",
)


class ConversionMapContent(Body):
    """What a conversion map is made of (its key aside)."""

    label = Label(allow_none=True)
    source = Text(required=True, metadata={"description": "The source entity type."})
    targets = ObjectOf(
        Object(MapTarget),
        names=KEY_PATTERN,
        required=True,
        validate=Checked(lambda v: [] if v else ["Name at least one target entity type."]),
        metadata={"minProperties": 1, "description": "Per target entity type: how it is filled."},
    )


class ConversionMapBody(ConversionMapContent):
    key = ListKey(required=True)


class ConversionMapReplace(ConversionMapContent):
    """A map in place of the one the path names: the path gives the key. A body read from GET
    may be sent back as it is: a ``key`` equal to the path's is dropped, another is a 400."""

    @ma.pre_load
    def _key_of_the_path(self, data: Any, **_kwargs: Any) -> Any:
        if not isinstance(data, dict) or "key" not in data:
            return data
        if data["key"] != (request.view_args or {}).get("key"):
            raise BadRequest(
                "The key in the body differs from the path.", {"key": ["Cannot be changed."]}
            )
        return {name: value for name, value in data.items() if name != "key"}


class TransferBody(Body):
    field = Text(required=True)
    target = Text(required=True)


class DuplicateRuleBody(Body):
    fields = Items(Text(), required=True, validate=ma.validate.Length(min=1))


class TargetChoice(Body):
    """One target of a conversion: its options, and field values the user typed."""

    class Meta:
        unknown = ma.INCLUDE  # the other properties are field values of the target

    use_existing = WholeNumber(
        allow_none=True, metadata={"description": "Link this record instead of creating one."}
    )
    pipeline = Text(allow_none=True)
    stage = Text(allow_none=True)


class ConversionRequest(Body):
    targets = ObjectOf(Object(TargetChoice, allow_none=True), required=True)
    dry_run = Flag()
    map = Text(allow_none=True)
    source_values = Entries(
        keys=Text(), allow_none=True, **with_messages({"invalid": "Expected an object."}, {})
    )


# -- tokens ------------------------------------------------------------------------------


class TokenRequest(Body):
    username = Text(required=True, validate=ma.validate.Length(min=1, error="Required."))
    password = Text(required=True, validate=ma.validate.Length(min=1, error="Required."))
