"""Loading a pack folder or zip into :class:`~trellis.packs.content.PackContent`, with every
problem reported as (file, line, JSON path, message).

Each file is parsed (:mod:`.reading`), checked against its kind's part of the JSON Schema
(:mod:`.schema`), given its defaults (:func:`~trellis.packs.content.canonical`) and filed
under its object key, which must match the file's name (``pipelines/deal.sales.yaml`` holds
the pipeline ``sales`` of ``deal``). Cross-references between objects are checked afterwards
(:mod:`.references`); :func:`load_pack` does both and refuses a pack with any problem.
Files that are not YAML or JSON (a README) are ignored.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema

from trellis.packs.content import (
    KIND_OF_FOLDER,
    MANIFEST_FILE,
    SAMPLES_FOLDER,
    USERS_SAMPLES,
    Manifest,
    PackContent,
    canonical,
    file_name,
    object_key,
)
from trellis.packs.problems import PackInvalid, Problem
from trellis.packs.reading import SourceFile, Unreadable, parse_file
from trellis.packs.schema import validator_for

SUFFIXES = (".yaml", ".yml", ".json")
#: a zip is refused past these (a pack is configuration, not data)
MAX_FILES = 5_000
MAX_TOTAL_BYTES = 50_000_000


@dataclass
class LoadedPack:
    """A pack as read: its content (as far as it could be read), where each object came
    from, and the problems found so far."""

    content: PackContent
    sources: dict[tuple[str, str], SourceFile] = field(default_factory=dict)
    sample_sources: dict[str, SourceFile] = field(default_factory=dict)
    manifest_source: SourceFile | None = None
    problems: list[Problem] = field(default_factory=list)

    def problem(self, kind: str, key: str, path: tuple[Any, ...], message: str) -> Problem:
        """A problem of the object ``kind``/``key`` at ``path`` in its document."""
        source = self.sources.get((kind, key)) or SourceFile(file_name(kind, key))
        return source.problem(path, message)


def read_files(path: Path | str | bytes) -> dict[str, bytes]:
    """The files of a pack folder, a zip file or zip bytes, by their path in the pack."""
    if isinstance(path, bytes):
        return _zip_files(path)
    path = Path(path)
    if path.is_dir():
        return {
            p.relative_to(path).as_posix(): p.read_bytes()
            for p in sorted(path.rglob("*"))
            if p.is_file() and p.suffix in SUFFIXES and not _hidden(p.relative_to(path))
        }
    if path.is_file():
        return _zip_files(path.read_bytes())
    raise PackInvalid([Problem(str(path), None, "$", "No such folder or zip file.")])


def _hidden(relative: Path | PurePosixPath) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _zip_files(raw: bytes) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise PackInvalid([Problem("(zip)", None, "$", "Not a zip file.")]) from None
    entries = [i for i in archive.infolist() if not i.is_dir()]
    if len(entries) > MAX_FILES or sum(i.file_size for i in entries) > MAX_TOTAL_BYTES:
        raise PackInvalid([Problem("(zip)", None, "$", "Too large for a pack.")])
    names = [PurePosixPath(i.filename) for i in entries]
    if any(n.is_absolute() or ".." in n.parts for n in names):
        raise PackInvalid([Problem("(zip)", None, "$", "A path leaves the pack's folder.")])
    # a zip of the folder has the folder's name first: pack.yaml is where the pack starts
    roots = sorted((n.parent for n in names if n.name == MANIFEST_FILE), key=lambda p: len(p.parts))
    root = roots[0] if roots else PurePosixPath(".")
    files = {}
    for info, name in zip(entries, names, strict=True):
        if root != PurePosixPath(".") and root not in name.parents:
            continue
        relative = name.relative_to(root) if root != PurePosixPath(".") else name
        if relative.suffix in SUFFIXES and not _hidden(relative):
            files[relative.as_posix()] = archive.read(info)
    return files


def read_pack(path: Path | str | bytes) -> LoadedPack:
    """Read a pack (folder, zip file or zip bytes): the content of every file that could be
    read, and every problem of the files themselves (syntax, schema, names). Cross-references
    are :func:`trellis.packs.references.reference_problems`."""
    files = read_files(path)
    loaded = LoadedPack(PackContent(Manifest("", ""), {}, {}))
    objects: dict[str, dict[str, dict[str, Any]]] = {}
    samples: dict[str, list[dict[str, Any]]] = {}
    manifest = Manifest("", "")
    if MANIFEST_FILE not in files and "pack.yml" not in files and "pack.json" not in files:
        loaded.problems.append(Problem(MANIFEST_FILE, None, "$", "A pack needs a manifest."))
    for name in sorted(files):
        part, kind = _part_of(name)
        if part is None:
            loaded.problems.append(Problem(name, None, "$", _unknown_place(name)))
            continue
        try:
            source = parse_file(name, files[name])
        except Unreadable as exc:
            loaded.problems.append(exc.problem)
            continue
        problems = schema_problems(source, part)
        loaded.problems.extend(problems)
        if part == "manifest":
            loaded.manifest_source = source
            if not problems:
                manifest = _manifest(source.data)
        elif part in ("samples", "users"):
            entity = PurePosixPath(name).stem
            loaded.sample_sources[entity] = source
            if not problems:
                samples[entity] = source.data
        elif isinstance(source.data, dict):
            # filed even with problems, so what names it is not reported as missing and its
            # own references are checked as far as they can be
            _file_object(loaded, objects, kind, source)
    loaded.content = PackContent(manifest, objects, samples)
    return loaded


def _file_object(
    loaded: LoadedPack,
    objects: dict[str, dict[str, dict[str, Any]]],
    kind: str,
    source: SourceFile,
) -> None:
    document = canonical(kind, source.data)
    key = object_key(kind, document)
    expected = PurePosixPath(file_name(kind, key))
    actual = PurePosixPath(source.name)
    if actual.with_suffix("") != expected.with_suffix(""):
        where = ("fields",) if kind == "duplicate" else ("key",)
        loaded.problems.append(
            source.problem(where, f"The file of this {kind} is named {expected.name}.")
        )
        return
    if key in objects.get(kind, {}):
        loaded.problems.append(source.problem((), f"Another file defines the {kind} {key!r}."))
        return
    objects.setdefault(kind, {})[key] = document
    loaded.sources[(kind, key)] = source


def _part_of(name: str) -> tuple[str | None, str]:
    """Which part of the schema a file is checked with, and its kind (for objects)."""
    path = PurePosixPath(name)
    if len(path.parts) == 1:
        return ("manifest", "") if path.stem == "pack" else (None, "")
    if len(path.parts) != 2:
        return None, ""
    folder = path.parts[0]
    if folder == SAMPLES_FOLDER:
        return ("users" if path.stem == USERS_SAMPLES else "samples"), ""
    kind = KIND_OF_FOLDER.get(folder)
    return (kind, kind) if kind else (None, "")


def _unknown_place(name: str) -> str:
    path = PurePosixPath(name)
    if len(path.parts) == 1:
        return "Unknown file: a pack's top level holds only pack.yaml."
    known = ", ".join([*KIND_OF_FOLDER, SAMPLES_FOLDER])
    return f"Unknown folder {path.parts[0]!r} (known: {known})."


def _manifest(data: dict[str, Any]) -> Manifest:
    return Manifest(
        name=data["name"],
        version=str(data["version"]),
        title=data.get("title", ""),
        description=data.get("description", ""),
        trellis=data.get("trellis", ""),
        requires=dict(data.get("requires", {})),
    )


def schema_problems(source: SourceFile, part: str) -> list[Problem]:
    """Every place where ``source`` breaks its part of the pack's JSON Schema."""
    found = []
    for error in validator_for(part).iter_errors(source.data):
        found.extend(_described(source, error))
    return found


def _described(source: SourceFile, error: jsonschema.ValidationError) -> list[Problem]:
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(schema.get("properties", {}))
        return [
            source.problem((*path, name), "Unknown property.")
            for name in error.instance
            if name not in known
        ]
    if error.validator == "required":
        missing = [n for n in error.validator_value if n not in error.instance]
        return [source.problem((*path, n), "Required.") for n in missing]
    if error.validator == "type":
        wanted = error.validator_value
        names = wanted if isinstance(wanted, list) else [wanted]
        text = " or ".join(_TYPE_WORDS.get(n, n) for n in names)
        return [source.problem(path, f"Expected {text}.")]
    if error.validator == "enum":
        choices = ", ".join(map(str, error.validator_value))
        return [source.problem(path, f"Use one of: {choices}.")]
    if error.validator == "pattern" and schema.get("description"):
        return [
            source.problem(
                path, f"Does not match {error.validator_value}: {schema['description']}."
            )
        ]
    if error.validator == "minItems":
        return [source.problem(path, f"Give at least {error.validator_value}.")]
    if error.validator in ("oneOf", "anyOf") and error.context:
        best = jsonschema.exceptions.best_match(error.context)
        if best is not None:
            return _described(source, best)
    return [source.problem(path, error.message[:300])]


_TYPE_WORDS = {
    "object": "an object",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def load_pack(
    path: Path | str | bytes,
    live: dict[str, dict[str, dict[str, Any]]] | None = None,
    users: Iterable[str] = (),
    installed: dict[str, str] | None = None,
) -> PackContent:
    """The pack at ``path`` (folder, zip file or zip bytes), checked in full: its files and
    their cross-references (against the pack, plus ``live`` documents for what it needs from
    the installation, its ``users`` for flows' approvers and its ``installed`` packs for the
    manifest's requirements). :class:`PackInvalid` lists every problem."""
    from trellis.packs.references import reference_problems

    loaded = read_pack(path)
    problems = [*loaded.problems, *reference_problems(loaded, live, users, installed)]
    if problems:
        raise PackInvalid(problems)
    return loaded.content


def validate_pack(
    path: Path | str | bytes,
    live: dict[str, dict[str, dict[str, Any]]] | None = None,
    users: Iterable[str] = (),
    installed: dict[str, str] | None = None,
) -> list[Problem]:
    """Every problem of the pack at ``path`` (none: ``[]``), in file and line order."""
    try:
        load_pack(path, live, users, installed)
    except PackInvalid as exc:
        return exc.problems
    return []
