"""The pack format's JSON Schema (draft 2020-12), built from the platform's own sets (field
types and their settings, stage kinds, scopes, triggers, action types) and published as
``pack.schema.json`` next to this module (``trellis pack schema`` prints it).

The schema describes a whole pack as one object of files: ``"pack.yaml"`` (the manifest),
``"lists/<key>.yaml"``, ``"entities/<key>.yaml"``... each against the ``$defs`` entry of its
kind; a loader checks each file against its entry (:func:`validator_for`). What needs other
files (a field's list exists, a condition compiles) is :mod:`trellis.packs.references`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from trellis.packs.content import FOLDERS, KINDS, SAMPLES_FOLDER, USERS_SAMPLES

SCHEMA_FILE = Path(__file__).with_name("pack.schema.json")
SCHEMA_ID = "https://trellis.dev/schemas/pack.schema.json"
FILE_SUFFIX = r"\.(yaml|yml|json)$"

KEY = {
    "type": "string",
    "pattern": "^[a-z][a-z0-9_]{0,29}$",
    "description": "A key (names columns)",
}
LIST_KEY = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_]{0,39}$"}
ROLE_KEY = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"}
RULE_KEY = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,59}$"}
LABEL = {"type": "string", "minLength": 1, "maxLength": 100}
TEXT = {"type": "string"}
COLOR = {"type": ["string", "null"], "pattern": "^(#[0-9a-fA-F]{6})?$"}
FLAG = {"type": "boolean"}
NULLABLE_TEXT = {"type": ["string", "null"]}


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


def _items(schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": schema, **extra}


def _map(values: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": values}


def _manifest() -> dict[str, Any]:
    return _object(
        {
            "name": {**LIST_KEY, "description": "The pack's name (its key among packs)"},
            "version": {"type": "string", "minLength": 1, "description": "PEP 440, e.g. 1.2.0"},
            "title": TEXT,
            "description": TEXT,
            "trellis": {"type": "string", "description": "Trellis versions, e.g. >=0.1"},
            "requires": {
                **_map({"type": "string"}),
                "description": "Packs it needs: {name: version range, e.g. '>=1.0,<2'}",
            },
        },
        ("name", "version"),
    )


def _field() -> dict[str, Any]:
    from trellis.metamodel.fieldtypes import registry

    types = list(registry.names())
    by_type = [
        {
            "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
            "then": {"properties": {"settings": registry.get(name).settings_schema}},
        }
        for name in types
    ]
    return _object(
        {
            "key": KEY,
            "label": LABEL,
            "type": {"enum": types},
            "required": FLAG,
            "settings": {"type": "object"},
            "default": {},
            "unique": FLAG,
            "indexed": FLAG,
            "help_text": TEXT,
        },
        ("key", "label", "type"),
        allOf=by_type,
    )


def _trigger(ons: list[str]) -> dict[str, Any]:
    return _object(
        {
            "on": {"enum": ons},
            "stage": NULLABLE_TEXT,
            "field": NULLABLE_TEXT,
            "when": NULLABLE_TEXT,
        },
        ("on",),
    )


def _kinds() -> dict[str, dict[str, Any]]:
    from trellis.access.models import FIELD_ACCESS, SCOPES
    from trellis.api.meta_schemas import ORIGIN_DOC
    from trellis.flows.automations import TRIGGERS as AUTOMATION_TRIGGERS
    from trellis.flows.models import TRIGGERS as FLOW_TRIGGERS
    from trellis.metamodel.models import RULE_KINDS, STAGE_KINDS

    stage = _object(
        {
            "key": KEY,
            "label": LABEL,
            "kind": {"enum": list(STAGE_KINDS)},
            "color": COLOR,
            "next_stages": {
                "type": ["array", "null"],
                "items": {"type": "string"},
                "description": "Where a record here may move (null or absent: any stage)",
            },
            "enter_roles": _items(ROLE_KEY),
            "flow_only": FLAG,
        },
        ("key", "label"),
    )
    scope = {"enum": list(SCOPES)}
    return {
        "list": _object(
            {
                "key": LIST_KEY,
                "label": LABEL,
                "description": TEXT,
                "options": _items(
                    _object(
                        {"key": LIST_KEY, "label": LABEL, "color": COLOR, "active": FLAG},
                        ("key", "label"),
                    )
                ),
            },
            ("key", "label"),
        ),
        "entity": _object(
            {
                "key": KEY,
                "label": LABEL,
                "label_plural": {**LABEL, "description": "Default: from the label"},
                "description": TEXT,
                "title": {"type": "string", "description": "Record title, e.g. {name}"},
                "card_fields": _items({"type": "string"}, maxItems=4),
                "list_indexes": _items(
                    _object(
                        {
                            "key": KEY,
                            "filters": _items({"type": "string"}),
                            "sort": {"type": ["string", "null"]},
                            "include": _items({"type": "string"}),
                        },
                        ("key",),
                    ),
                    maxItems=8,
                ),
                "fields": _items({"$ref": "#/$defs/field"}),
            },
            ("key", "label"),
        ),
        "role": _object(
            {
                "key": ROLE_KEY,
                "label": LABEL,
                "grants": _map(
                    _object(
                        {
                            "create": FLAG,
                            "read": scope,
                            "update": scope,
                            "delete": scope,
                            "fields": _map({"enum": list(FIELD_ACCESS)}),
                        }
                    )
                ),
            },
            ("key", "label"),
        ),
        "pipeline": _object(
            {
                "entity": KEY,
                "key": KEY,
                "label": LABEL,
                "position": {"type": "integer", "minimum": 0},
                "stages": _items(stage, minItems=1),
            },
            ("entity", "key", "label", "stages"),
        ),
        "rule": _object(
            {
                "entity": KEY,
                "key": RULE_KEY,
                "kind": {"enum": list(RULE_KINDS)},
                "field": NULLABLE_TEXT,
                "when": TEXT,
                "from_stage": {**NULLABLE_TEXT, "description": "<pipeline>.<stage>"},
                "expression": TEXT,
                "message": TEXT,
            },
            ("entity", "key", "kind"),
        ),
        "duplicate": _object(
            {"entity": KEY, "fields": _items({"type": "string"}, minItems=1)},
            ("entity", "fields"),
        ),
        "conversion": _object(
            {
                "key": LIST_KEY,
                "label": {"type": "string", "maxLength": 100},
                "source": KEY,
                "targets": {
                    **_map(
                        _object(
                            {
                                "fields": _map(ORIGIN_DOC),
                                "pipeline": NULLABLE_TEXT,
                                "stage": NULLABLE_TEXT,
                                "values": _map(_map({"type": "string"})),
                            }
                        )
                    ),
                    "minProperties": 1,
                },
            },
            ("key", "source", "targets"),
        ),
        "flow": _object(
            {
                "key": KEY,
                "label": {"type": "string", "minLength": 1, "maxLength": 200},
                "entity": KEY,
                "trigger": _trigger(list(FLOW_TRIGGERS)),
                "versions": _items(
                    {
                        "oneOf": [
                            _object({"route": {"type": "object"}}, ("route",)),
                            _object({"bpmn": {"type": "string"}}, ("bpmn",)),
                        ]
                    },
                    description="The published versions, oldest first: an approval route or "
                    "BPMN 2.0 XML each",
                ),
            },
            ("key", "label", "entity"),
        ),
        "automation": _object(
            {
                "key": ROLE_KEY,
                "label": {"type": "string", "maxLength": 100},
                "entity": KEY,
                "trigger": _trigger(list(AUTOMATION_TRIGGERS)),
                "actions": _items(
                    {"type": "object", "required": ["type"], "properties": {"type": TEXT}},
                    minItems=1,
                ),
                "active": FLAG,
            },
            ("key", "entity", "trigger", "actions"),
        ),
    }


def _samples() -> dict[str, Any]:
    return _items(
        {"type": "object"},
        description="Sample records: field values, plus _ref "
        '(a name other rows link to as "@name"), _pipeline and _stage',
    )


def _users() -> dict[str, Any]:
    return _items(
        _object(
            {
                "username": {"type": "string", "minLength": 2, "maxLength": 64},
                "name": TEXT,
                "email": TEXT,
                "roles": _items(ROLE_KEY),
            },
            ("username",),
        ),
        description="Sample users; each gets a new password, shown once",
    )


def build_schema() -> dict[str, Any]:
    """The pack format's JSON Schema."""
    defs: dict[str, Any] = {"manifest": _manifest(), "field": _field(), **_kinds()}
    defs["samples"] = _samples()
    defs["users"] = _users()
    files: dict[str, Any] = {
        f"^{folder}/[a-z0-9_.+]+{FILE_SUFFIX}": {"$ref": f"#/$defs/{kind}"}
        for kind, folder in FOLDERS.items()
    }
    files[f"^{SAMPLES_FOLDER}/{USERS_SAMPLES}{FILE_SUFFIX}"] = {"$ref": "#/$defs/users"}
    files[f"^{SAMPLES_FOLDER}/(?!{USERS_SAMPLES}\\.)[a-z0-9_]+{FILE_SUFFIX}"] = {
        "$ref": "#/$defs/samples"
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Trellis config pack",
        "description": (
            "A pack is a folder (or a zip of it) of YAML or JSON files, one object each; this "
            "schema describes it as one object of files by path: pack.yaml is the manifest, "
            + ", ".join(f"{FOLDERS[k]}/<key>.yaml a {k}" for k in KINDS)
            + f"; {SAMPLES_FOLDER}/<entity>.yaml sample records, {SAMPLES_FOLDER}/users.yaml "
            "sample users. Objects refer to each other by key, never by database id."
        ),
        "type": "object",
        "properties": {"pack.yaml": {"$ref": "#/$defs/manifest"}},
        "patternProperties": files,
        "required": ["pack.yaml"],
        "additionalProperties": False,
        "$defs": defs,
    }


@cache
def published_schema() -> dict[str, Any]:
    """The schema as shipped (``pack.schema.json``)."""
    return json.loads(SCHEMA_FILE.read_text())


def schema_text(schema: dict[str, Any] | None = None) -> str:
    """The schema as the published file holds it (sorted keys, two spaces, final newline)."""
    return json.dumps(schema or build_schema(), indent=2, sort_keys=True) + "\n"


@cache
def validator_for(part: str) -> jsonschema.protocols.Validator:
    """A validator of one file: ``part`` is ``manifest``, a kind, ``samples`` or ``users``."""
    schema = published_schema()
    sub = {"$ref": f"#/$defs/{part}", "$defs": schema["$defs"]}
    return jsonschema.Draft202012Validator(sub)
