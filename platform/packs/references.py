"""Cross-reference validation of a pack: what one object says about others holds.

A field's option list and a reference's target exist, a title and card fields name fields,
stage rules name stages and roles that exist, a rule's field and start stage exist and its
condition or expression compiles against the entity type's fields, duplicate rules compare
comparable fields, a conversion map names real fields, options, pipelines and stages, grants
name entity types and fields, flows and automations name real stages and fields, their
conditions compile and a flow's versions (routes or BPMN) check as the flows service checks
them, samples belong to entity types. Names are looked up in the pack, then in ``live``
(documents of the installation, for what the pack needs from it), plus the built-in roles.
A flow's approvers may be the pack's sample users or, given ``users``, the installation's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from trellis.accounts import BUILTIN_ROLES
from trellis.expressions import ExpressionError, compile_expression
from trellis.metamodel.changes import key_errors
from trellis.metamodel.entities import template_errors
from trellis.metamodel.fieldtypes import UnknownFieldType, registry
from trellis.metamodel.normalised import COMPARABLE
from trellis.metamodel.pipelines import stage_list_errors
from trellis.packs.content import KINDS, SAMPLE_META, USERS_SAMPLES
from trellis.packs.loading import LoadedPack
from trellis.packs.problems import Problem

Documents = dict[str, dict[str, dict[str, Any]]]
LIST_TYPES = ("list", "multi_list")


class _World:
    """The objects names are looked up in: the pack's over the installation's."""

    def __init__(self, loaded: LoadedPack, live: Documents | None, users: Iterable[str]) -> None:
        self.loaded = loaded
        live = live or {}
        self.docs = {k: {**live.get(k, {}), **loaded.content.objects.get(k, {})} for k in KINDS}
        self.roles = set(self.docs["role"]) | set(BUILTIN_ROLES)
        sample_users = loaded.content.samples.get(USERS_SAMPLES) or []
        self.users = {u.get("username") for u in sample_users if isinstance(u, dict)}
        self.users |= set(users)
        self.problems: list[Problem] = []

    def add(self, kind: str, key: str, path: tuple[Any, ...], message: str) -> None:
        self.problems.append(self.loaded.problem(kind, key, path, message))

    def fields(self, entity: str) -> dict[str, dict[str, Any]]:
        doc = self.docs["entity"].get(entity) or {}
        fields = doc.get("fields")
        if not isinstance(fields, list):
            return {}
        return {f.get("key"): f for f in fields if isinstance(f, dict)}

    def pipelines(self, entity: str) -> list[dict[str, Any]]:
        found = [p for p in self.docs["pipeline"].values() if p.get("entity") == entity]
        return sorted(found, key=lambda p: (p.get("position", 0), p.get("key")))

    def stages(self, entity: str) -> set[str]:
        return {s["key"] for p in self.pipelines(entity) for s in p.get("stages", [])}

    def entity_known(self, kind: str, key: str, path: tuple[Any, ...], entity: Any) -> bool:
        if entity in self.docs["entity"]:
            return True
        self.add(kind, key, path, f"No entity type {entity!r} in the pack or the installation.")
        return False

    def compiles(
        self, kind: str, key: str, path: tuple[Any, ...], source: Any, names: Iterable[str]
    ) -> None:
        if source in (None, ""):
            return
        try:
            compile_expression(source, list(names))
        except ExpressionError as exc:
            self.add(kind, key, path, exc.message)


def reference_problems(
    loaded: LoadedPack,
    live: Documents | None = None,
    users: Iterable[str] = (),
    installed: dict[str, str] | None = None,
) -> list[Problem]:
    """Every broken cross-reference of ``loaded``'s objects and samples; given the
    ``installed`` packs (name -> version), the packs the manifest requires too."""
    world = _World(loaded, live, users)
    checks = {
        "list": _list,
        "entity": _entity,
        "role": _role,
        "pipeline": _pipeline,
        "rule": _rule,
        "duplicate": _duplicate,
        "conversion": _conversion,
        "flow": _flow,
        "automation": _automation,
    }
    # a malformed part stops its object's checks (the schema reported it); the rest ran
    malformed = (KeyError, TypeError, AttributeError, ValueError)
    for kind in KINDS:
        for key, doc in loaded.content.objects.get(kind, {}).items():
            with contextlib.suppress(*malformed):
                checks[kind](world, key, doc)
    with contextlib.suppress(*malformed):
        _samples(world)
    _manifest(world, installed)
    return world.problems


def _duplicates(world: _World, kind: str, key: str, items: list[Any], where: str) -> None:
    seen: set[Any] = set()
    for number, item in enumerate(items):
        item_key = item.get("key") if isinstance(item, dict) else None
        if item_key in seen:
            world.add(kind, key, (where, number, "key"), f"Key {item_key!r} is used twice.")
        seen.add(item_key)


def _list(world: _World, key: str, doc: dict[str, Any]) -> None:
    _duplicates(world, "list", key, doc["options"], "options")


def _entity(world: _World, key: str, doc: dict[str, Any]) -> None:
    for message in key_errors(key, "entity key"):
        world.add("entity", key, ("key",), message)
    fields = doc["fields"]
    _duplicates(world, "entity", key, fields, "fields")
    for n, field in enumerate(fields):
        at = ("fields", n)
        for message in key_errors(field["key"], "field key"):
            world.add("entity", key, (*at, "key"), message)
        try:
            field_type = registry.get(field["type"])
        except UnknownFieldType:
            continue
        settings = field["settings"]
        # checked as written: the defaults filled in are the type's own (a long text's
        # default length is past what may be asked for)
        defaults = field_type.normalise_settings({})
        written = {k: v for k, v in settings.items() if k not in defaults or defaults[k] != v}
        for message in field_type.settings_errors(written, None):
            world.add("entity", key, (*at, "settings"), message)
        if field["type"] in LIST_TYPES and settings.get("list") not in world.docs["list"]:
            world.add(
                "entity",
                key,
                (*at, "settings", "list"),
                f"No option list {settings.get('list')!r} in the pack or the installation.",
            )
        if field["type"] == "reference":
            world.entity_known("entity", key, (*at, "settings", "target"), settings.get("target"))
        if field["unique"] and not field_type.can_be_unique:
            world.add("entity", key, (*at, "unique"), f"A {field['type']} field cannot be unique.")
    names = {f["key"] for f in fields}
    for n, card in enumerate(doc["card_fields"]):
        if card not in names:
            world.add("entity", key, ("card_fields", n), f"No field {card!r}.")
    for message in template_errors(doc["title"], names) if doc["title"] else []:
        world.add("entity", key, ("title",), message)


def _role(world: _World, key: str, doc: dict[str, Any]) -> None:
    if key == "admin":
        world.add("role", key, ("key",), "The admin role may always do everything.")
    for entity, grant in doc["grants"].items():
        if world.entity_known("role", key, ("grants", entity), entity):
            fields = world.fields(entity)
            for name in grant["fields"]:
                if name not in fields:
                    world.add(
                        "role", key, ("grants", entity, "fields", name), f"No field {name!r}."
                    )


def _pipeline(world: _World, key: str, doc: dict[str, Any]) -> None:
    world.entity_known("pipeline", key, ("entity",), doc["entity"])
    for message in key_errors(doc["key"], "pipeline key"):
        world.add("pipeline", key, ("key",), message)
    for where, messages in stage_list_errors(doc["stages"]).items():
        path = tuple(int(p) if p.isdigit() else p for p in where.split("."))
        for message in messages:
            world.add("pipeline", key, path, message)
    for n, stage in enumerate(doc["stages"]):
        for r, role in enumerate(stage["enter_roles"]):
            if role not in world.roles:
                world.add(
                    "pipeline",
                    key,
                    ("stages", n, "enter_roles", r),
                    f"No role {role!r} in the pack or the installation.",
                )


def _rule(world: _World, key: str, doc: dict[str, Any]) -> None:
    entity = doc["entity"]
    if not world.entity_known("rule", key, ("entity",), entity):
        return
    fields = world.fields(entity)
    field = doc["field"]
    if field is not None and field not in fields:
        world.add("rule", key, ("field",), f"{entity!r} has no field {field!r}.")
    if doc["kind"] == "required":
        if field is None:
            world.add("rule", key, ("field",), "Name the field that is required.")
        if doc["expression"] or doc["message"]:
            world.add(
                "rule", key, ("expression",), "A required rule has no expression; use 'when'."
            )
        if doc["from_stage"]:
            pipeline, _, stage = doc["from_stage"].partition(".")
            found = next((p for p in world.pipelines(entity) if p["key"] == pipeline), None)
            if found is None:
                world.add(
                    "rule",
                    key,
                    ("from_stage",),
                    f"Use '<pipeline>.<stage>'; {entity!r} has no pipeline {pipeline!r}.",
                )
            elif stage not in {s["key"] for s in found["stages"]}:
                world.add(
                    "rule", key, ("from_stage",), f"Pipeline {pipeline!r} has no stage {stage!r}."
                )
    else:
        if not doc["expression"]:
            world.add(
                "rule",
                key,
                ("expression",),
                "A validation rule needs an expression that must hold.",
            )
        if not doc["message"].strip():
            world.add("rule", key, ("message",), "Say what the user should fix.")
        if doc["when"] or doc["from_stage"]:
            world.add(
                "rule",
                key,
                ("when",),
                "Put the condition into the expression of a validation rule.",
            )
    world.compiles("rule", key, ("when",), doc["when"], fields)
    world.compiles("rule", key, ("expression",), doc["expression"], fields)


def _duplicate(world: _World, key: str, doc: dict[str, Any]) -> None:
    if not world.entity_known("duplicate", key, ("entity",), doc["entity"]):
        return
    fields = world.fields(doc["entity"])
    for n, name in enumerate(doc["fields"]):
        if name not in fields:
            world.add("duplicate", key, ("fields", n), f"No field {name!r}.")
        elif fields[name]["type"] not in COMPARABLE:
            world.add(
                "duplicate",
                key,
                ("fields", n),
                f"A {fields[name]['type']} field cannot be compared.",
            )


def _conversion(world: _World, key: str, doc: dict[str, Any]) -> None:
    source = doc["source"]
    if not world.entity_known("conversion", key, ("source",), source):
        return
    src = world.fields(source)
    for entity, spec in doc["targets"].items():
        at = ("targets", entity)
        if not world.entity_known("conversion", key, at, entity):
            continue
        if entity == source:
            world.add(
                "conversion", key, at, "A record cannot be converted into its own entity type."
            )
            continue
        target = world.fields(entity)
        for name, origin in spec["fields"].items():
            where = (*at, "fields", name)
            if name not in target:
                world.add("conversion", key, where, f"{entity!r} has no field {name!r}.")
            elif isinstance(origin, str) and origin not in src:
                world.add("conversion", key, where, f"{source!r} has no field {origin!r}.")
            elif isinstance(origin, dict) and "expr" in origin:
                world.compiles("conversion", key, (*where, "expr"), origin["expr"], src)
        for name, table in spec["values"].items():
            _value_table(world, key, (*at, "values", name), src, target, spec, name, table)
        pipelines = world.pipelines(entity)
        chosen = pipelines[0] if pipelines else None
        if spec["pipeline"] is not None:
            chosen = next((p for p in pipelines if p["key"] == spec["pipeline"]), None)
            if chosen is None:
                world.add(
                    "conversion",
                    key,
                    (*at, "pipeline"),
                    f"{entity!r} has no pipeline {spec['pipeline']!r}.",
                )
        stage = spec["stage"]
        if stage is not None and chosen is not None and stage not in _keys(chosen["stages"]):
            world.add("conversion", key, (*at, "stage"), f"No stage {stage!r} in that pipeline.")


def _value_table(
    world: _World,
    key: str,
    where: tuple[Any, ...],
    src: dict[str, Any],
    target: dict[str, Any],
    spec: dict[str, Any],
    name: str,
    table: dict[str, str],
) -> None:
    field = target.get(name)
    origin = spec["fields"].get(name)
    if field is None or field["type"] not in LIST_TYPES:
        world.add("conversion", key, where, "A value table belongs to a list field of the target.")
        return
    if not isinstance(origin, str) or origin not in src or src[origin]["type"] not in LIST_TYPES:
        world.add(
            "conversion",
            key,
            where,
            "A value table needs the field filled from a source list field.",
        )
        return
    source_options = _options(world, src[origin])
    target_options = _options(world, field)
    for from_key, to_key in table.items():
        if from_key not in source_options:
            world.add(
                "conversion",
                key,
                (*where, from_key),
                f"{from_key!r} is not an option of the source list.",
            )
        if to_key not in target_options:
            world.add(
                "conversion",
                key,
                (*where, from_key),
                f"{to_key!r} is not an option of the target list.",
            )


def _keys(items: list[dict[str, Any]]) -> set[str]:
    return {item["key"] for item in items}


def _options(world: _World, field: dict[str, Any]) -> set[str]:
    doc = world.docs["list"].get(field["settings"].get("list")) or {}
    return {o["key"] for o in doc.get("options", [])}


def _trigger(world: _World, kind: str, key: str, entity: str, trigger: dict[str, Any]) -> None:
    fields = world.fields(entity)
    on, stage, field = trigger["on"], trigger["stage"], trigger["field"]
    if on == "stage" and stage not in world.stages(entity):
        world.add(kind, key, ("trigger", "stage"), f"No stage {stage!r} in {entity!r}.")
    elif on != "stage" and stage is not None:
        world.add(kind, key, ("trigger", "stage"), "A stage goes with on: stage only.")
    if on == "field" and field not in fields:
        world.add(kind, key, ("trigger", "field"), f"No field {field!r} in {entity!r}.")
    elif on != "field" and field is not None:
        world.add(kind, key, ("trigger", "field"), "A field goes with on: field only.")
    world.compiles(kind, key, ("trigger", "when"), trigger["when"], fields)


def _flow(world: _World, key: str, doc: dict[str, Any]) -> None:
    from trellis.flows.definitions import PROCESS_VARIABLES
    from trellis.flows.engine import SpecError, expression_problems, parse_bpmn
    from trellis.flows.routes import RouteContext, route_problems

    for message in key_errors(key, "flow key"):
        world.add("flow", key, ("key",), message)
    entity = doc["entity"]
    if not world.entity_known("flow", key, ("entity",), entity):
        return
    _trigger(world, "flow", key, entity, doc["trigger"])
    fields = world.fields(entity)
    context = RouteContext(
        fields={k: f["type"] for k, f in fields.items()},
        stages=world.stages(entity),
        users=world.users,
        roles=world.roles,
    )
    for n, version in enumerate(doc["versions"]):
        if "route" in version:
            for where, messages in route_problems(version["route"], context).items():
                path = ("versions", n, "route", *_route_path(where))
                for message in messages:
                    world.add("flow", key, path, message)
            continue
        try:
            parsed = parse_bpmn(version["bpmn"])
        except SpecError as exc:
            for message in exc.problems:
                world.add("flow", key, ("versions", n, "bpmn"), message)
            continue
        known = set(fields) | set(PROCESS_VARIABLES)
        for message in expression_problems(parsed, known):
            world.add("flow", key, ("versions", n, "bpmn"), message)


def _route_path(where: str) -> tuple[Any, ...]:
    """``steps[1].quorum`` -> ``("steps", 1, "quorum")``; ``$`` -> ``()``."""
    if where in ("$", ""):
        return ()
    parts: list[Any] = []
    for piece in where.replace("]", "").split("."):
        name, *indexes = piece.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) for i in indexes if i.isdigit())
    return tuple(parts)


def _automation(world: _World, key: str, doc: dict[str, Any]) -> None:
    from trellis.flows.actions import ACTIONS

    entity = doc["entity"]
    if not world.entity_known("automation", key, ("entity",), entity):
        return
    _trigger(world, "automation", key, entity, doc["trigger"])
    for n, action in enumerate(doc["actions"]):
        if action.get("type") not in ACTIONS:
            known = ", ".join(sorted(ACTIONS))
            world.add(
                "automation",
                key,
                ("actions", n, "type"),
                f"Unknown action type {action.get('type')!r}; one of: {known}.",
            )


def _samples(world: _World) -> None:
    loaded = world.loaded
    refs = {
        row.get("_ref")
        for entity, rows in loaded.content.samples.items()
        if entity != USERS_SAMPLES
        for row in rows
    }
    for entity, rows in loaded.content.samples.items():
        source = loaded.sample_sources[entity]
        if entity == USERS_SAMPLES:
            for n, row in enumerate(rows):
                for r, role in enumerate(row.get("roles", [])):
                    if role not in world.roles:
                        world.problems.append(source.problem((n, "roles", r), f"No role {role!r}."))
            continue
        if entity not in world.docs["entity"]:
            message = f"No entity type {entity!r} for these samples."
            world.problems.append(source.problem((), message))
            continue
        fields = world.fields(entity)
        pipelines = {p["key"]: p for p in world.pipelines(entity)}
        for n, row in enumerate(rows):
            for name, value in row.items():
                if name in SAMPLE_META:
                    continue
                if name not in fields:
                    message = f"{entity!r} has no field {name!r}."
                    world.problems.append(source.problem((n, name), message))
                elif isinstance(value, str) and value.startswith("@") and value[1:] not in refs:
                    message = f"No sample record has the _ref {value[1:]!r}."
                    world.problems.append(source.problem((n, name), message))
                elif (
                    fields[name]["type"] in LIST_TYPES
                    and fields[name]["settings"].get("list") in world.docs["list"]
                ):
                    options = _options(world, fields[name])
                    chosen = value if isinstance(value, list) else [value]
                    for option in chosen:
                        if option is not None and option not in options:
                            message = f"{option!r} is not an option of {name!r}."
                            world.problems.append(source.problem((n, name), message))
            for name, field in fields.items():
                if field["required"] and field["default"] is None and row.get(name) is None:
                    message = f"{name!r} is required."
                    world.problems.append(source.problem((n,), message))
            owner = row.get("_owner")
            if owner is not None and owner not in world.users:
                message = f"No user {owner!r} among the samples or in the installation."
                world.problems.append(source.problem((n, "_owner"), message))
            pipeline = row.get("_pipeline")
            chosen = pipelines.get(pipeline) if pipeline else next(iter(pipelines.values()), None)
            if pipeline is not None and chosen is None:
                message = f"{entity!r} has no pipeline {pipeline!r}."
                world.problems.append(source.problem((n, "_pipeline"), message))
            stage = row.get("_stage")
            if stage is not None and chosen is not None and stage not in _keys(chosen["stages"]):
                message = f"No stage {stage!r} in the pipeline {chosen['key']!r}."
                world.problems.append(source.problem((n, "_stage"), message))


def _manifest(world: _World, installed: dict[str, str] | None) -> None:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    source = world.loaded.manifest_source
    if source is None or not isinstance(source.data, dict):
        return
    manifest = world.loaded.content.manifest
    if not manifest.name:
        return
    try:
        Version(manifest.version)
    except InvalidVersion:
        world.problems.append(
            source.problem(("version",), "Use a version such as 1.0.0 (PEP 440).")
        )
    specs = [(("trellis",), manifest.trellis)] if manifest.trellis else []
    specs += [(("requires", name), spec) for name, spec in manifest.requires.items()]
    for path, spec in specs:
        try:
            allowed = SpecifierSet(spec)
        except InvalidSpecifier:
            world.problems.append(source.problem(path, "Use a version range such as >=1.0,<2."))
            continue
        if path != ("trellis",) and installed is not None:
            name = path[1]
            there = installed.get(name)
            if there is None:
                message = f"Needs the pack {name!r} ({spec}); it is not installed here."
                world.problems.append(source.problem(path, message))
            elif not allowed.contains(there, prereleases=True):
                message = f"Needs the pack {name!r} {spec}; {there} is installed here."
                world.problems.append(source.problem(path, message))
        if path == ("trellis",):
            running = trellis_version()
            if running and not allowed.contains(running, prereleases=True):
                world.problems.append(
                    source.problem(path, f"This pack needs Trellis {spec}; this is {running}.")
                )


def trellis_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trellis")
    except PackageNotFoundError:
        return ""
