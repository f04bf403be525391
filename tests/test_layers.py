"""The layers read top to bottom: app wires the layers, web/admin/api/cli sit on the services,
conversion on records, records on the metamodel; flows on records and the metamodel (a webhook's
record JSON lives with the records, not in the API). Every import counts, those inside functions
too (an import inside a function is how a cycle hides)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PLATFORM = Path(__file__).resolve().parent.parent / "platform"

#: folder (or module) -> the trellis modules it must never import
FORBIDDEN = {
    # the policy sits on the metamodel: the record service asks it, never the other way round
    "access": (
        "trellis.records",
        "trellis.conversion",
        "trellis.flows",
        "trellis.runtime",
        "trellis.app",
        "trellis.api",
        "trellis.web",
        "trellis.admin",
    ),
    "metamodel": ("trellis.records", "trellis.conversion", "trellis.runtime", "trellis.app"),
    "records": ("trellis.conversion", "trellis.runtime", "trellis.app", "trellis.api"),
    "conversion": ("trellis.runtime", "trellis.app", "trellis.api", "trellis.web"),
    "web": ("trellis.api", "trellis.app", "trellis.admin"),
    "admin": ("trellis.api", "trellis.app"),
    "api": ("trellis.web", "trellis.app", "trellis.admin"),
    "flows": (
        "trellis.api",
        "trellis.web",
        "trellis.admin",
        "trellis.app",
        "trellis.cli",
        "trellis.runtime",
    ),
    "runtime.py": ("trellis.app", "trellis.api", "trellis.web", "trellis.admin", "trellis.cli"),
}

#: every module stays small enough to read
MAX_LINES = 600


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _modules(part: str) -> list[Path]:
    target = PLATFORM / part
    return sorted(target.rglob("*.py")) if target.is_dir() else [target]


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_no_layer_imports_one_above_it(part: str) -> None:
    wrong = [
        f"{path.relative_to(PLATFORM)} imports {name}"
        for path in _modules(part)
        for name in sorted(_imports(path))
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[part])
    ]
    assert wrong == []


def test_only_the_command_entry_point_imports_the_app_factory() -> None:
    importers = {
        str(path.relative_to(PLATFORM))
        for path in PLATFORM.rglob("*.py")
        if any(n == "trellis.app" or n.startswith("trellis.app.") for n in _imports(path))
    }
    assert importers <= {"cli.py"}  # `trellis serve` builds the app


def test_every_platform_module_stays_under_600_lines() -> None:
    sizes = {
        str(p.relative_to(PLATFORM)): len(p.read_text().splitlines())
        for p in PLATFORM.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n >= MAX_LINES} == {}


def _imports_inside_functions(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.extend(
                f"{path.relative_to(PLATFORM)}:{inner.lineno}"
                for inner in ast.walk(node)
                if isinstance(inner, (ast.Import, ast.ImportFrom))
            )
    return found


def test_the_metamodel_imports_nothing_inside_a_function() -> None:
    """It sits below everything but the accounts and the database: nothing it needs waits for
    a function to be called."""
    assert [
        where for path in _modules("metamodel") for where in _imports_inside_functions(path)
    ] == []
