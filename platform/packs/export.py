"""Writing configuration as a pack: deterministic, so an export diffs cleanly in git.

One YAML file per object (:func:`~trellis.packs.content.file_name`), files in sorted order,
properties in a fixed order (the names of :data:`ORDER` first, the rest alphabetically, at
every depth), defaults left out (loading fills them in again), no ids and no timestamps:
exporting the same configuration twice gives the same bytes. Multi-line text (BPMN) is
written as a YAML block. Samples are never exported (they are not configuration); an
export over an earlier one keeps that pack's ``samples/`` folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from trellis.errors import ValidationFailed
from trellis.packs.content import (
    ENTITY_OWNED,
    FOLDERS,
    KINDS,
    MANIFEST_FILE,
    Manifest,
    file_name,
    without_defaults,
)

Documents = dict[str, dict[str, dict[str, Any]]]

#: properties in this order wherever they appear; any other after them, alphabetically
ORDER = (
    "name",
    "version",
    "title",
    "description",
    "trellis",
    "requires",
    "entity",
    "key",
    "id",
    "label",
    "label_plural",
    "type",
    "kind",
    "source",
    "field",
    "fields",
    "position",
    "required",
    "unique",
    "indexed",
    "default",
    "help_text",
    "settings",
    "card_fields",
    "list_indexes",
    "on",
    "stage",
    "trigger",
    "when",
    "from_stage",
    "expression",
    "message",
    "color",
    "active",
    "next_stages",
    "enter_roles",
    "flow_only",
    "create",
    "read",
    "update",
    "delete",
    "grants",
    "options",
    "stages",
    "pipeline",
    "values",
    "targets",
    "actions",
    "versions",
    "steps",
    "on_approved",
    "on_rejected",
)
_RANK = {name: rank for rank, name in enumerate(ORDER)}


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, multi-line text as ``|`` blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value and all(line == line.rstrip() for line in value.splitlines()):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _text)


def ordered(value: Any) -> Any:
    """``value`` with every object's properties in the export's order."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (_RANK.get(k, len(ORDER)), str(k)))
        return {k: ordered(value[k]) for k in keys}
    if isinstance(value, list):
        return [ordered(item) for item in value]
    return value


def dump_yaml(document: Any) -> bytes:
    """``document`` as YAML text (UTF-8), in the export's order."""
    text = yaml.dump(
        ordered(document),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return text.encode("utf-8")


def manifest_document(manifest: Manifest) -> dict[str, Any]:
    data = manifest.as_data()
    return {k: v for k, v in data.items() if v or k in ("name", "version")}


def pack_files(manifest: Manifest, documents: Documents) -> dict[str, bytes]:
    """The files of a pack of ``documents``, by path, in sorted order."""
    files = {MANIFEST_FILE: dump_yaml(manifest_document(manifest))}
    for kind in KINDS:
        for key, document in documents.get(kind, {}).items():
            files[file_name(kind, key)] = dump_yaml(without_defaults(kind, document))
    return dict(sorted(files.items()))


def select(documents: Documents, only: Iterable[str]) -> Documents:
    """The documents named in ``only``: ``kind:key``, or a key of any kind (an entity
    type's key brings its pipelines, rules and duplicate rules along). An unknown name is a
    :class:`ValidationFailed` naming it."""
    chosen: dict[str, set[str]] = {kind: set() for kind in KINDS}
    unknown = []
    for name in only:
        kind, _, key = name.partition(":") if ":" in name else ("", "", name)
        found = False
        for each in [kind] if kind else KINDS:
            if key in documents.get(each, {}):
                chosen[each].add(key)
                found = True
        if not kind or kind == "entity":
            for owned in ENTITY_OWNED:
                for object_key, doc in documents.get(owned, {}).items():
                    if doc.get("entity") == key and key in documents.get("entity", {}):
                        chosen[owned].add(object_key)
        if not found:
            unknown.append(name)
    if unknown:
        raise ValidationFailed({"only": [f"Nothing is called {n!r}." for n in unknown]})
    return {
        kind: {k: d for k, d in documents.get(kind, {}).items() if k in chosen[kind]}
        for kind in KINDS
    }


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write a pack's ``files`` into ``folder`` (new or empty, or an earlier export: its
    object files and manifest are replaced, its samples kept)."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MANIFEST_FILE).is_file():
            raise ValidationFailed(
                {"folder": [f"{folder} is not empty and holds no pack: choose another folder."]}
            )
        (folder / MANIFEST_FILE).unlink()
        for name in FOLDERS.values():
            for old in sorted((folder / name).glob("*")) if (folder / name).is_dir() else []:
                if old.is_file() and old.suffix in (".yaml", ".yml", ".json"):
                    old.unlink()
    for path, content in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
