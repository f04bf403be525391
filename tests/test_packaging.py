"""The platform/ -> trellis rename is not auto-discovered: every subpackage must be listed,
and templates, static files and migrations must land in the wheel."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_no_init_in_platform_folder() -> None:
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_every_subpackage_is_listed() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {
        "trellis." + ".".join(p.parent.relative_to(ROOT / "platform").parts)
        for p in (ROOT / "platform").rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages"


@pytest.mark.slow
def test_wheel_has_templates_static_and_migrations(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("trellis-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "trellis/app.py" in names
    assert "trellis/migrations/env.py" in names
    assert "trellis/migrations/script.py.mako" in names
    assert any(n.startswith("trellis/migrations/versions/0001") for n in names)
    # config packs: the published schema and the packs that ship
    assert "trellis/packs/pack.schema.json" in names
    for pack in ("crm", "hr"):
        on_disk = [
            p.relative_to(ROOT / "config" / pack) for p in (ROOT / "config" / pack).rglob("*.yaml")
        ]
        assert on_disk, pack
        for path in on_disk:
            assert f"trellis/shipped/{pack}/{path.as_posix()}" in names, path
    assert "trellis/access/common-passwords.txt" in names  # the password policy needs it
    for folder in ("admin/templates", "admin/static", "web/templates", "web/static", "templates"):
        on_disk = [
            p.relative_to(ROOT / "platform").as_posix()
            for p in (ROOT / "platform" / folder).rglob("*")
            if p.is_file()
        ]
        assert on_disk, f"{folder} has files"
        for path in on_disk:
            assert f"trellis/{path}" in names, path
