"""Dependency floors lie past every published advisory, and constraints.txt satisfies them
(issue 9 item 17): an install that honours pyproject.toml alone never picks a version with a
known vulnerability."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).parent.parent
#: the first version after the last published advisory of each dependency that had one
FIXED = {
    "flask": "3.1.1",  # CVE-2025-47278 (fallback session signing key)
    "werkzeug": "3.1.5",  # CVE-2024-49766/49767, CVE-2025-66221, CVE-2026-21860
    "jinja2": "3.1.6",  # CVE-2024-56201/56326, CVE-2025-27516 (sandbox escapes)
    "simpleeval": "1.0.5",  # sandbox escapes through module attributes
    "waitress": "3.0.1",  # CVE-2024-49768/49769 (request smuggling, socket DoS)
    "marshmallow": "3.26.2",  # CVE-2025-68480 (Schema.load(many) DoS)
    "setuptools": "78.1.1",  # CVE-2025-47273 (path traversal in PackageIndex)
    "pytest": "9.0.3",  # predictable /tmp/pytest-of-<user> folder
}


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    texts = [
        *project["build-system"]["requires"],
        *project["project"]["dependencies"],
        *[r for group in project["project"]["optional-dependencies"].values() for r in group],
    ]
    return [Requirement(text) for text in texts]


def _floor(requirement: Requirement) -> Version | None:
    floors = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    return max(floors) if floors else None


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = Version(version.strip())
    return pins


def test_every_floor_is_past_the_known_advisories() -> None:
    floors = {r.name.lower(): _floor(r) for r in _requirements()}
    for name, fixed in FIXED.items():
        assert name in floors, f"{name} must be a direct dependency with a floor"
        assert floors[name] is not None and floors[name] >= Version(fixed), (
            f"{name}>={floors[name]} allows versions before the fix in {fixed}"
        )


def test_the_pinned_versions_satisfy_every_floor() -> None:
    pins = _pins()
    for requirement in _requirements():
        pinned = pins.get(requirement.name.lower())
        if pinned is not None:
            assert requirement.specifier.contains(pinned, prereleases=True), (requirement, pinned)
