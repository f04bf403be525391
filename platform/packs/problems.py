"""A pack's problems: each names its file, its line where the format tells it (YAML always;
JSON when it parses), its JSON path (``$.fields[2].settings.list``) and what is wrong."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from trellis.errors import ValidationFailed

PathPart = str | int


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}"

    def as_data(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message}


def json_path(parts: Iterable[PathPart]) -> str:
    """``("fields", 2, "type")`` -> ``$.fields[2].type``."""
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.isidentifier():
            text += f".{part}"
        else:
            text += f"[{json.dumps(part)}]"
    return text


class PackInvalid(ValidationFailed):
    """A pack with problems: nothing of it was applied. ``problems`` lists every one."""

    title = "The pack has problems"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(set(problems), key=_order)
        errors: dict[str, list[str]] = {}
        for p in self.problems:
            where = f"{p.file}:{p.line}" if p.line else p.file
            errors.setdefault(f"{where} {p.path}", []).append(p.message)
        count = len(self.problems)
        super().__init__(errors, f"The pack has {count} problem{'s' if count != 1 else ''}.")


def _order(problem: Problem) -> tuple[Any, ...]:
    return (problem.file, problem.line or 0, problem.path, problem.message)
