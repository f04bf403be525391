"""Loading a configuration with sample records from a YAML file, through the services.

Used by ``trellis init --demo``. The file lists option lists, entity types (fields,
pipelines, rules) and records; a record's ``_ref`` names it for ``"@ref"`` references,
``_pipeline``/``_stage`` place it. Roles with their grants, users (each with a new password
that is reported once, through ``progress``) and flows (published at once) come before the
records, so a record entering a stage starts its flows.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import yaml

from trellis.accounts import SYSTEM, Actor
from trellis.conversion import duplicates
from trellis.conversion.maps import ConversionMaps
from trellis.records.service import NewRecord, RecordService
from trellis.runtime import Runtime

Progress = Callable[[str], None]


def packs_folder() -> Path:
    """The folder of the configurations that ship (``config/`` in the source tree)."""
    spec = find_spec("trellis.shipped")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("The shipped configurations (trellis.shipped) are not installed.")
    return Path(next(iter(spec.submodule_search_locations)))


def demo_file() -> Path:
    return packs_folder() / "demo" / "crm.yaml"


def load_definition(
    runtime: Runtime,
    path: Path,
    actor: Actor = SYSTEM,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Apply the configuration and records in ``path`` in one transaction; returns counts."""
    data = yaml.safe_load(path.read_text())
    say = progress or (lambda _text: None)
    counts = {"lists": 0, "entities": 0, "records": 0, "users": 0, "flows": 0}
    with runtime.transaction() as session:
        meta = runtime.metamodel(session, actor)
        for item in data.get("lists", []):
            meta.create_list(item["key"], item["label"], item.get("options", []))
            counts["lists"] += 1
        say(f"{counts['lists']} option lists")
        for item in data.get("entities", []):
            _define_entity(meta, item)
            counts["entities"] += 1
            say(f"entity type {item['key']}")
        maps = ConversionMaps(session, runtime.cache, actor)
        for item in data.get("conversions", []):
            maps.save(
                item["key"], item["source"], item["targets"], item.get("label", ""), create=True
            )
        for item in data.get("duplicate_rules", []):
            duplicates.add_rule(
                session, actor, runtime.model(session), item["entity"], item["fields"]
            )
        _people(runtime, session, actor, data, counts, say)
        flows = runtime.flows(session, actor)
        for item in data.get("flows", []):
            flows.create_flow({k: item[k] for k in ("key", "label", "entity", "trigger")})
            version = flows.add_version(item["key"], route=item["route"])
            flows.publish(item["key"], version.number)
            counts["flows"] += 1
        if counts["flows"]:
            say(f"{counts['flows']} flows")
        counts["records"] = _create_records(runtime.records(session, actor), data)
        say(f"{counts['records']} records")
    return counts


def _create_records(records: RecordService, data: dict[str, Any]) -> int:
    """The file's records, each entity type's in batches (``create_many``): a record naming
    an ``@ref`` of its own batch waits for that batch to be written."""
    refs: dict[str, int] = {}
    count = 0
    for entity, rows in (data.get("records") or {}).items():
        pending: list[dict[str, Any]] = []
        for row in rows:
            waiting = {r["_ref"] for r in pending if "_ref" in r}
            if any(isinstance(v, str) and v[1:] in waiting for v in row.values()):
                _write_batch(records, entity, pending, refs)
                pending = []
            pending.append(row)
            count += 1
        _write_batch(records, entity, pending, refs)
    return count


def _write_batch(
    records: RecordService, entity: str, rows: list[dict[str, Any]], refs: dict[str, int]
) -> None:
    items = [
        NewRecord(
            {k: _resolve(v, refs) for k, v in row.items() if not k.startswith("_")},
            row.get("_pipeline"),
            row.get("_stage"),
        )
        for row in rows
    ]
    for row, record in zip(rows, records.create_many(entity, items), strict=True):
        if "_ref" in row:
            refs[row["_ref"]] = record.id


def _people(
    runtime: Runtime,
    session: Any,
    actor: Actor,
    data: dict[str, Any],
    counts: dict[str, int],
    say: Progress,
) -> None:
    """Roles, their grants and users; each user's new password is said once."""
    from trellis.access.grants import create_role, set_grant
    from trellis.accounts import create_user

    for item in data.get("roles", []):
        create_role(session, actor, item["key"], item["label"])
    if data.get("grants"):
        model = runtime.model(session)
        for item in data["grants"]:
            set_grant(session, actor, model, item["role"], item["entity"], item["grant"])
    for item in data.get("users", []):
        password = secrets.token_urlsafe(12)
        create_user(
            session, item["username"], password, item["roles"], display_name=item.get("name", "")
        )
        counts["users"] += 1
        roles = ", ".join(r for r in item["roles"] if r != "user")
        say(f"user {item['username']} ({roles}) with the password {password}")


def _define_entity(meta: Any, item: dict[str, Any]) -> None:
    key = item["key"]
    meta.create_entity(key, item["label"], item.get("label_plural"), item.get("description", ""))
    for field in item.get("fields", []):
        options = {k: v for k, v in field.items() if k not in ("key", "label", "type")}
        meta.add_field(key, field["key"], field["label"], field["type"], **options)
    if item.get("title"):
        meta.update_entity(key, title_template=item["title"])
    if item.get("card"):  # the fields its kanban cards show
        meta.update_entity(key, card_fields=item["card"])
    for pipeline in item.get("pipelines", []):
        meta.create_pipeline(key, pipeline["key"], pipeline["label"], pipeline["stages"])
    for rule in item.get("rules", []):
        meta.add_rule(key, **rule)


def _resolve(value: Any, refs: dict[str, int]) -> Any:
    if isinstance(value, str) and value.startswith("@"):
        return refs[value[1:]]
    return value
