"""Automations over HTTP (administrators): trigger, condition and actions, as the admin's
Automations page saves them (:func:`trellis.flows.automations.save_automation`).

Bodies are typed: an unknown property, a setting the action type does not take or a wrong
JSON type is a 422 naming it (``actions.0.stage``); what needs the configuration (a stage
that exists, a condition that compiles, a webhook that is on) is the service's check, a 422
by the same names."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from sqlalchemy import select

from trellis.api.blueprint import api
from trellis.api.bodies import (
    FILLED_TEXT,
    AnyJSON,
    Body,
    Checked,
    Choice,
    Flag,
    Items,
    Object,
    ObjectOf,
    Text,
)
from trellis.api.context import require_administrator, unit
from trellis.api.schemas import NO_NUL, items_of
from trellis.errors import Conflict, NotFound
from trellis.flows.actions import ACTIONS
from trellis.flows.automations import (
    KEY_PATTERN,
    MAX_ACTIONS,
    TRIGGERS,
    Automation,
    delete_automation,
    save_automation,
)

ACTION_HELP = (
    "One action: set_fields {values}, move_stage {stage, pipeline?}, convert {map, targets?}, "
    "notify {message, users?, roles?, fields?, owner?}, webhook {webhook}."
)


def _known_type(value: str) -> list[str]:
    if value in ACTIONS:
        return []
    return [f"Unknown action type {value!r}; one of: {', '.join(sorted(ACTIONS))}."]


class ActionBody(Body):
    """An action: its ``type`` and the settings that type takes (any other is refused)."""

    type = Text(
        required=True,
        validate=Checked(_known_type),
        metadata={"enum": sorted(ACTIONS), "description": ACTION_HELP},
    )
    values = ObjectOf(
        AnyJSON(allow_none=True),  # null clears the field
        metadata={"description": 'set_fields: {"<field>": value | {"expr": "<expression>"}}'},
    )
    stage = Text(metadata={"description": "move_stage: the stage"})
    pipeline = Text(allow_none=True, metadata={"description": "move_stage: its pipeline"})
    map = Text(metadata={"description": "convert: the conversion map"})
    targets = Items(Text(), metadata={"description": "convert: the target entity types"})
    message = Text(metadata={"description": "notify: the text ({title}: the record's title)"})
    users = Items(Text(), metadata={"description": "notify: user names"})
    roles = Items(Text(), metadata={"description": "notify: role keys"})
    fields = Items(Text(), metadata={"description": "notify: user fields of the record"})
    owner = Flag(metadata={"description": "notify: the record's owner"})
    webhook = Text(metadata={"description": "webhook: the webhook's key"})

    @ma.validates_schema
    def _settings_of_the_type(self, data: dict[str, Any], **_kwargs: Any) -> None:
        action = ACTIONS.get(data.get("type"))  # type: ignore[arg-type]
        if action is None:
            return
        wrong = {
            name: [f"Not a setting of {action.name} (it takes: {', '.join(action.settings)})."]
            for name in data
            if name != "type" and name not in action.settings
        }
        if wrong:
            raise ma.ValidationError(wrong)


#: the settings each action type cannot do without, and what the service asks of them
ACTION_NEEDS: dict[str, dict[str, Any]] = {
    "set_fields": {
        "required": ["values"],
        "properties": {
            "values": {
                "minProperties": 1,
            }
        },
    },
    "move_stage": {"required": ["stage"]},
    "convert": {"required": ["map"]},
    "notify": {
        "required": ["message"],
        "properties": {"message": {"pattern": FILLED_TEXT, "maxLength": 400}},
        # someone to notify: users, roles, user fields or the owner
        "anyOf": [
            *(
                {"required": [name], "properties": {name: {"minItems": 1}}}
                for name in ("users", "roles", "fields")
            ),
            {"required": ["owner"], "properties": {"owner": {"const": True}}},
        ],
    },
    "webhook": {"required": ["webhook"]},
}


def _without_nul(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every string in it (items too) refusing NUL, as the server does (a
    400)."""
    kind = schema.get("type")
    if (
        kind == "string" or (isinstance(kind, list) and "string" in kind)
    ) and "pattern" not in schema:
        schema = {**schema, "pattern": NO_NUL}
    if isinstance(schema.get("items"), dict):
        schema = {**schema, "items": _without_nul(schema["items"])}
    return schema


def document_action_types(schemas: dict[str, Any]) -> None:
    """Make the ``ActionBody`` component a ``oneOf`` by action type (``SetFieldsAction``...):
    each type takes only its own settings (another type's setting is the server's 422) and
    needs what it needs."""
    body = schemas["ActionBody"]
    variants = []
    for name, action in sorted(ACTIONS.items()):
        needs = ACTION_NEEDS.get(name, {})
        properties = {"type": {"type": "string", "const": name}}
        for setting in action.settings:
            properties[setting] = _without_nul(
                {**body["properties"][setting], **needs.get("properties", {}).get(setting, {})}
            )
        variant = {
            "type": "object",
            "properties": properties,
            "required": ["type", *needs.get("required", [])],
            "additionalProperties": False,
        }
        if "anyOf" in needs:
            variant["anyOf"] = needs["anyOf"]
        component = "".join(part.capitalize() for part in name.split("_")) + "Action"
        schemas[component] = variant
        variants.append({"$ref": f"#/components/schemas/{component}"})
    schemas["ActionBody"] = {
        "description": body["properties"]["type"].get("description", ""),
        "oneOf": variants,
    }


class AutomationTriggerBody(Body):
    on = Choice(tuple(TRIGGERS), required=True)
    stage = Text(allow_none=True, metadata={"description": "With on: stage"})
    field = Text(allow_none=True, metadata={"description": "With on: field"})
    when = Text(allow_none=True, metadata={"description": "A condition on the record"})


def _key_errors(value: str) -> list[str]:
    if KEY_PATTERN.match(value):
        return []
    return ["Use lower-case letters, digits and underscores (at most 40)."]


class AutomationPatch(Body):
    immutable = {"key": "Cannot change; create another automation."}
    label = Text(allow_none=True, validate=ma.validate.Length(max=100, error="At most 100."))
    entity = Text()
    trigger = Object(AutomationTriggerBody)
    actions = Items(Object(ActionBody), validate=ma.validate.Length(min=1, max=MAX_ACTIONS))
    active = Flag()


#: what an automation names that must exist in the live configuration: its entity type, the
#: trigger's stage, field and condition, and the actions' fields (and their values), stages,
#: conversion maps, users, roles and webhooks
AUTOMATION_CONFIGURATION = (
    "entity",
    "trigger.stage",
    "trigger.field",
    "trigger.when",
    "actions.*.values.*",
    "actions.*.stage",
    "actions.*.pipeline",
    "actions.*.map",
    "actions.*.targets",
    "actions.*.users",
    "actions.*.roles",
    "actions.*.fields",
    "actions.*.webhook",
)


class AutomationCreate(AutomationPatch):
    immutable: dict[str, str] = {}
    key = Text(
        required=True,
        validate=Checked(_key_errors),
        metadata={"pattern": KEY_PATTERN.pattern},
    )
    entity = Text(required=True)
    trigger = Object(AutomationTriggerBody, required=True)
    actions = Items(
        Object(ActionBody), required=True, validate=ma.validate.Length(min=1, max=MAX_ACTIONS)
    )


class AutomationTriggerSchema(ma.Schema):
    on = ma.fields.String(required=True)
    stage = ma.fields.String()
    field = ma.fields.String()
    when = ma.fields.String()


class AutomationSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    entity = ma.fields.String(required=True)
    trigger = ma.fields.Nested(AutomationTriggerSchema, required=True)
    actions = ma.fields.List(ma.fields.Dict(), required=True)
    active = ma.fields.Boolean(required=True)


AutomationListSchema = items_of(AutomationSchema, "AutomationList")


#: what only administrators do here
ONLY = "read and change automations"


def _get(session: Any, key: str) -> Automation:
    row = session.scalar(select(Automation).where(Automation.key == key))
    if row is None:
        raise NotFound(f"No automation {key!r}.")
    return row


@api.get("/meta/automations")
@api.problems(403)
@api.alt_response(200, schema=AutomationListSchema, success=True)
def list_automations() -> Any:
    """Automations"""
    with unit() as (_runtime, session, actor):
        require_administrator(actor, ONLY)
        rows = session.scalars(select(Automation).order_by(Automation.key))
        return {"items": [row.as_data() for row in rows]}


@api.post("/meta/automations")
@api.arguments(AutomationCreate)
@api.configuration_dependent(*AUTOMATION_CONFIGURATION)
@api.problems(400, 403, 409, 422)
@api.alt_response(201, schema=AutomationSchema, success=True)
def create_automation(data: dict[str, Any]) -> Any:
    """Create an automation"""
    with unit() as (runtime, session, actor):
        require_administrator(actor, ONLY)
        key = data.pop("key")
        if session.scalar(select(Automation.id).where(Automation.key == key)) is not None:
            raise Conflict(f"An automation {key!r} exists already.")
        row = save_automation(session, runtime.model(session), key, data, create=True)
        return row.as_data(), 201


@api.get("/meta/automations/<key>")
@api.problems(403, 404)
@api.alt_response(200, schema=AutomationSchema, success=True)
def get_automation(key: str) -> Any:
    """An automation"""
    with unit() as (_runtime, session, actor):
        require_administrator(actor, ONLY)
        return _get(session, key).as_data()


@api.patch("/meta/automations/<key>")
@api.arguments(AutomationPatch)
@api.configuration_dependent(*AUTOMATION_CONFIGURATION)
@api.problems(400, 403, 404, 422)
@api.alt_response(200, schema=AutomationSchema, success=True)
def update_automation(data: dict[str, Any], key: str) -> Any:
    """Change an automation: the properties given replace theirs (a trigger or the actions
    as a whole)"""
    with unit() as (runtime, session, actor):
        require_administrator(actor, ONLY)
        current = _get(session, key).as_data()
        row = save_automation(
            session, runtime.model(session), key, {**current, **data}, create=False
        )
        return row.as_data()


@api.delete("/meta/automations/<key>")
@api.problems(403, 404)
@api.alt_response(204, description="Deleted", success=True)
def remove_automation(key: str) -> Any:
    """Delete an automation"""
    with unit() as (_runtime, session, actor):
        require_administrator(actor, ONLY)
        delete_automation(session, key)
    return "", 204
