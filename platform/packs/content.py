"""The in-memory model of a config pack, shared by loading, the live snapshot, export, and
the write side (plan, apply, upgrade).

A pack has a :class:`Manifest`, objects by kind and key, and optional sample records. Each
object is a **document**: its configuration as plain JSON data in canonical form, with every
default filled in (so "absent" and "default" never differ), lists in their configured order,
and nested lists of objects (fields, options, stages) keyed by ``key``. Loading a folder and
reading the live installation (:func:`trellis.packs.snapshot.snapshot`) both give documents
in this form, so two of them are compared with ``==``.

The documents per kind (keys, never database ids):

``list``        ``{key, label, description, options: [{key, label, color, active}]}``
``entity``      ``{key, label, label_plural, description, title, card_fields,
                fields: [{key, label, type, required, settings, default, unique, indexed,
                help_text}]}`` (settings with their type's defaults filled in)
``role``        ``{key, label, grants: {entity: {create, read, update, delete, fields}}}``
``pipeline``    ``{entity, key, label, position, stages: [{key, label, kind, color,
                next_stages (null: any), enter_roles, flow_only}]}``
``rule``        ``{entity, key, kind, field, when, from_stage, expression, message}``
``duplicate``   ``{entity, fields}`` (its key is the fields joined by ``+``)
``conversion``  ``{key, label, source, targets: {entity: {fields, pipeline, stage, values}}}``
``flow``        ``{key, label, entity, trigger: {on, stage, field, when},
                versions: [{route} | {bpmn}]}`` (the published versions, oldest first)
``automation``  ``{key, label, entity, trigger: {on, stage, field, when}, actions, active}``

An object's key is its ``key``, except for pipelines and rules (``<entity>.<key>``) and
duplicate rules (``<entity>.<field>+<field>``). A pipeline's ``position`` is its place among
its entity type's pipelines (0, 1, ...), whatever numbers the database holds.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from typing import Any

#: the kinds of objects, in the order they depend on each other (a role before the stages
#: that name it, an entity type before its pipelines and rules...)
KINDS = (
    "list",
    "entity",
    "role",
    "pipeline",
    "rule",
    "duplicate",
    "conversion",
    "flow",
    "automation",
)
#: kind -> the folder of its files in a pack
FOLDERS = {
    "list": "lists",
    "entity": "entities",
    "role": "roles",
    "pipeline": "pipelines",
    "rule": "rules",
    "duplicate": "duplicates",
    "conversion": "conversions",
    "flow": "flows",
    "automation": "automations",
}
KIND_OF_FOLDER = {folder: kind for kind, folder in FOLDERS.items()}
MANIFEST_FILE = "pack.yaml"
SAMPLES_FOLDER = "samples"
#: the samples file of users (the others are named after their entity type)
USERS_SAMPLES = "users"
#: what a sample row may say besides field values: its name for ``"@name"`` links, where it
#: stands, and (a username) who owns it
SAMPLE_META = ("_ref", "_pipeline", "_stage", "_owner")
#: the kinds whose objects belong to an entity type and are keyed ``<entity>.<key>``
ENTITY_OWNED = ("pipeline", "rule", "duplicate")

#: the defaults of each kind's documents (top level), filled in by :func:`canonical`
DEFAULTS: dict[str, dict[str, Any]] = {
    "list": {"description": "", "options": []},
    "entity": {"description": "", "title": "", "card_fields": [], "list_indexes": [], "fields": []},
    "role": {"grants": {}},
    "pipeline": {"position": 0},
    "rule": {"field": None, "when": "", "from_stage": None, "expression": "", "message": ""},
    "duplicate": {},
    "conversion": {"label": ""},
    "flow": {"versions": []},
    "automation": {"label": "", "active": True},
}
OPTION_DEFAULTS = {"color": "", "active": True}
LIST_INDEX_DEFAULTS = {"filters": [], "sort": None, "include": []}
FIELD_DEFAULTS = {
    "required": False,
    "settings": {},
    "default": None,
    "unique": False,
    "indexed": False,
    "help_text": "",
}
STAGE_DEFAULTS = {
    "kind": "open",
    "color": "",
    "next_stages": None,
    "enter_roles": [],
    "flow_only": False,
}
GRANT_DEFAULTS = {"create": False, "read": "none", "update": "none", "delete": "none", "fields": {}}
TARGET_DEFAULTS = {"fields": {}, "pipeline": None, "stage": None, "values": {}}
TRIGGER_DEFAULTS = {"stage": None, "field": None, "when": None}
#: the top-level texts each kind's service stores stripped of surrounding spaces (the
#: labels of options, fields and stages too), so :func:`canonical` strips them alike: a pack
#: written with spaces around a label does not show a change on every plan
STRIPPED: dict[str, tuple[str, ...]] = {
    "list": ("label",),
    "entity": ("label", "label_plural"),
    "role": ("label",),
    "pipeline": ("label",),
    "rule": ("message",),
    "flow": ("label",),
}


def _bad_settings() -> tuple[type[Exception], ...]:
    from trellis.metamodel.fieldtypes import UnknownFieldType

    return (UnknownFieldType, TypeError, KeyError, IndexError, AttributeError, ValueError)


@dataclass(frozen=True)
class Manifest:
    """``pack.yaml``: what the pack is, which Trellis versions it works with (a PEP 440
    specifier) and the packs it needs (name -> version specifier)."""

    name: str
    version: str
    title: str = ""
    description: str = ""
    trellis: str = ""
    requires: dict[str, str] = field(default_factory=dict)

    def as_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "trellis": self.trellis,
            "requires": dict(self.requires),
        }


@dataclass(frozen=True)
class PackContent:
    """A pack in memory: ``objects[kind][key]`` is a document; ``samples[entity]`` (or
    ``samples["users"]``) the sample rows, empty when the pack has none."""

    manifest: Manifest
    objects: dict[str, dict[str, dict[str, Any]]]
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def documents(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.objects.get(kind, {})


def object_key(kind: str, document: dict[str, Any]) -> str:
    """The key of ``document`` among the objects of ``kind``."""
    if kind == "duplicate":
        return f"{document.get('entity')}.{'+'.join(map(str, document.get('fields') or []))}"
    if kind in ENTITY_OWNED:
        return f"{document.get('entity')}.{document.get('key')}"
    return str(document.get("key"))


def file_name(kind: str, key: str) -> str:
    """The path of an object's file in a pack (``entities/deal.yaml``)."""
    return f"{FOLDERS[kind]}/{key}.yaml"


def canonical(kind: str, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every default filled in (a new dict; the input is not changed).

    Only well-formed parts are filled (a field that is not an object stays as it is, for
    validation to report)."""
    from trellis.metamodel.fieldtypes import registry

    doc = {**copy.deepcopy(DEFAULTS.get(kind, {})), **copy.deepcopy(document)}
    _strip_text(doc, STRIPPED.get(kind, ()))
    if kind == "list":
        doc["options"] = _items(doc["options"], OPTION_DEFAULTS)
        _strip_each(doc["options"], "label")
    elif kind == "entity":
        if doc.get("label_plural") is None:
            doc["label_plural"] = _plural(doc.get("label"))
        doc["fields"] = _items(doc["fields"], FIELD_DEFAULTS)
        doc["list_indexes"] = _items(doc["list_indexes"], LIST_INDEX_DEFAULTS)
        _strip_each(doc["fields"], "label")
        for item in doc["fields"] if isinstance(doc["fields"], list) else []:
            if isinstance(item, dict) and isinstance(item.get("settings"), dict):
                with contextlib.suppress(*_bad_settings()):  # validation reports them
                    item["settings"] = registry.get(item.get("type")).normalise_settings(
                        item["settings"]
                    )
    elif kind == "pipeline":
        doc["stages"] = _items(doc.get("stages"), STAGE_DEFAULTS)
        _strip_each(doc["stages"], "label")
        _stage_rules_in_stored_order(doc["stages"])
    elif kind == "role":
        if isinstance(doc["grants"], dict):
            doc["grants"] = {
                entity: _filled(grant, GRANT_DEFAULTS) for entity, grant in doc["grants"].items()
            }
    elif kind == "conversion":
        if not doc.get("label"):
            doc["label"] = doc.get("key")
        if isinstance(doc.get("targets"), dict):
            doc["targets"] = {
                entity: _filled(spec, TARGET_DEFAULTS) for entity, spec in doc["targets"].items()
            }
    elif kind in ("flow", "automation"):
        trigger = doc.get("trigger", {"on": "manual"} if kind == "flow" else None)
        doc["trigger"] = _filled(trigger, TRIGGER_DEFAULTS)
        trigger = doc["trigger"]
        if kind == "automation" and isinstance(trigger, dict) and isinstance(trigger["when"], str):
            trigger["when"] = trigger["when"].strip() or None  # as an automation stores it
        if kind == "automation" and not doc.get("label") and isinstance(doc.get("key"), str):
            doc["label"] = doc["key"].replace("_", " ").capitalize()
    return doc


def _strip_text(doc: dict[str, Any], keys: tuple[str, ...]) -> None:
    """The texts the services store stripped of surrounding spaces, stripped alike."""
    for key in keys:
        if isinstance(doc.get(key), str):
            doc[key] = doc[key].strip()


def _strip_each(items: Any, key: str) -> None:
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            _strip_text(item, (key,))


def _stage_rules_in_stored_order(stages: Any) -> None:
    """A stage's next stages in the pipeline's order and its roles by key, as the database
    keeps them (so a pack listing them otherwise does not differ from what it applied)."""
    if not isinstance(stages, list):
        return
    order = {s.get("key"): n for n, s in enumerate(stages) if isinstance(s, dict)}
    for stage in stages:
        if not isinstance(stage, dict):
            continue
        following = stage.get("next_stages")
        if isinstance(following, list) and all(isinstance(k, str) for k in following):
            stage["next_stages"] = sorted(following, key=lambda k: order.get(k, len(order)))
        roles = stage.get("enter_roles")
        if isinstance(roles, list) and all(isinstance(k, str) for k in roles):
            stage["enter_roles"] = sorted(roles)


def _filled(value: Any, defaults: dict[str, Any]) -> Any:
    if not isinstance(value, dict):
        return value
    return {**copy.deepcopy(defaults), **value}


def _items(value: Any, defaults: dict[str, Any]) -> Any:
    if not isinstance(value, list):
        return value
    return [_filled(item, defaults) for item in value]


def _plural(label: Any) -> Any:
    from trellis.words import plural_of

    return plural_of(label.strip()) if isinstance(label, str) and label.strip() else label


def without_defaults(kind: str, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without the properties that equal their defaults (what a pack's files
    say; :func:`canonical` brings them back)."""
    from trellis.metamodel.fieldtypes import registry

    doc = _stripped(document, DEFAULTS.get(kind, {}))
    if kind == "list" and "options" in doc:
        doc["options"] = [_stripped(o, OPTION_DEFAULTS) for o in doc["options"]]
    elif kind == "entity":
        if doc.get("label_plural") == _plural(doc.get("label")):
            doc.pop("label_plural")
        fields = []
        for item in doc.get("fields", []):
            item = _stripped(item, FIELD_DEFAULTS)
            try:
                type_defaults = registry.get(item.get("type")).normalise_settings({})
            except _bad_settings():
                type_defaults = {}
            if "settings" in item:
                settings = {
                    k: v
                    for k, v in item["settings"].items()
                    if k not in type_defaults or type_defaults[k] != v
                }
                if settings:
                    item["settings"] = settings
                else:
                    item.pop("settings")
            fields.append(item)
        if fields:
            doc["fields"] = fields
    elif kind == "pipeline":
        doc["stages"] = [_stripped(s, STAGE_DEFAULTS) for s in doc.get("stages", [])]
    elif kind == "role" and "grants" in doc:
        doc["grants"] = {e: _stripped(g, GRANT_DEFAULTS) for e, g in doc["grants"].items()}
    elif kind == "conversion":
        if doc.get("label") == doc.get("key"):
            doc.pop("label", None)
        doc["targets"] = {e: _stripped(t, TARGET_DEFAULTS) for e, t in doc["targets"].items()}
    elif kind in ("flow", "automation"):
        trigger = _stripped(doc["trigger"], TRIGGER_DEFAULTS)
        if kind == "flow" and trigger == {"on": "manual"}:
            doc.pop("trigger")
        else:
            doc["trigger"] = trigger
        if kind == "automation" and doc.get("label") == doc["key"].replace("_", " ").capitalize():
            doc.pop("label")
    return doc


def _stripped(value: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k not in defaults or defaults[k] != v}
