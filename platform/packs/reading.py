"""Reading a pack's files: YAML or JSON into plain JSON data, with the line of every value.

YAML is composed into nodes (PyYAML), so each mapping key and each sequence item keeps its
line; keys are taken as written (``on:`` is the key ``"on"``, not YAML 1.1's ``True``), only
``true`` and ``false`` are booleans (``no`` is text, as in YAML 1.2), and
dates become ISO text, so what comes out is plain JSON data. JSON is parsed with the json
module; its lines come from composing the same text as YAML (which JSON nearly always is),
else only a syntax error has a line.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from trellis.packs.problems import PathPart, Problem, json_path

Path = tuple[PathPart, ...]
#: a file larger than this is refused (a pack is configuration, not data)
MAX_FILE_BYTES = 5_000_000


@dataclass
class SourceFile:
    """One file of a pack, parsed: its data and the line of each path in it."""

    name: str
    data: Any = None
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, else of the nearest enclosing path that has one."""
        parts = tuple(path)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get((), None)

    def problem(self, path: Path, message: str) -> Problem:
        return Problem(self.name, self.line_of(path), json_path(path), message)


class Unreadable(Exception):
    """The file does not parse: ``problem`` says where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def parse_file(name: str, raw: bytes) -> SourceFile:
    """``raw`` parsed as YAML or JSON (by the name's suffix); :class:`Unreadable` if not."""
    if len(raw) > MAX_FILE_BYTES:
        raise Unreadable(Problem(name, None, "$", f"Larger than {MAX_FILE_BYTES:,} bytes."))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unreadable(Problem(name, None, "$", "Not UTF-8 text.")) from None
    if name.endswith(".json"):
        return _parse_json(name, text)
    return _parse_yaml(name, text)


def _parse_yaml(name: str, text: str) -> SourceFile:
    try:
        node = _compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise Unreadable(Problem(name, line, "$", f"Not valid YAML: {reason}.")) from None
    source = SourceFile(name)
    if node is None:
        source.lines[()] = 1
        return source
    try:
        source.data = _build(node, (), source.lines)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise Unreadable(Problem(name, line, "$", f"Not valid YAML: {reason}.")) from None
    return source


def _parse_json(name: str, text: str) -> SourceFile:
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise Unreadable(Problem(name, exc.lineno, "$", f"Not valid JSON: {exc.msg}.")) from None
    except _TwiceGiven as exc:
        raise Unreadable(Problem(name, None, "$", f"Not valid JSON: {exc}.")) from None
    source = SourceFile(name, data)
    try:
        node = _compose(text)
        lines: dict[Path, int] = {}
        if node is not None and _build(node, (), lines) == data:
            source.lines = lines
    except (yaml.YAMLError, ValueError, TypeError):
        source.lines = {(): 1}
    return source


#: libyaml's parser where PyYAML was built with it (the same nodes, marks and tags, about
#: ten times faster); the pure-Python one otherwise
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str) -> yaml.Node | None:
    """The node tree of ``text``. A text libyaml refuses is composed again by the
    pure-Python parser, so that the reason and line reported are always the same."""
    try:
        return yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        if _FAST_LOADER is yaml.SafeLoader:
            raise
    return yaml.compose(text, Loader=yaml.SafeLoader)


class _TwiceGiven(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _TwiceGiven(f"the key {key!r} is given twice")
        found[key] = value
    return found


_constructor = yaml.SafeLoader("")


def _build(node: yaml.Node, path: Path, lines: dict[Path, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        _constructor.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.MarkedYAMLError(
                    problem="a key must be plain text", problem_mark=key_node.start_mark
                )
            key = str(key_node.value)
            if key in result:
                raise yaml.MarkedYAMLError(
                    problem=f"the key {key!r} is given twice", problem_mark=key_node.start_mark
                )
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, (*path, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, n), lines) for n, item in enumerate(node.value)]
    if node.tag == "tag:yaml.org,2002:bool" and node.value.lower() not in ("true", "false"):
        return node.value  # YAML 1.2: yes, no, on, off are text (an option key "no")
    value = _constructor.construct_object(node, deep=True)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
