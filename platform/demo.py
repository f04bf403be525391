"""Loading a configuration with sample records from a YAML file, through the services.

Used by ``trellis init --demo``. The file lists option lists, entity types (fields,
pipelines, rules) and records; a record's ``_ref`` names it for ``"@ref"`` references,
``_pipeline``/``_stage`` place it.
"""

from __future__ import annotations

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
    spec = find_spec("trellis.packs")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("The shipped configurations (trellis.packs) are not installed.")
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
    counts = {"lists": 0, "entities": 0, "records": 0}
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
