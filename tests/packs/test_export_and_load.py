"""Export and loading (issue 14): the live configuration exported as a pack loads back into
the very documents the snapshot gives; exporting twice gives the same bytes; a zip of the
folder loads as the folder does; ``--only`` picks objects."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from trellis.errors import ValidationFailed
from trellis.flows.automations import save_automation
from trellis.packs import service
from trellis.packs.content import Manifest
from trellis.packs.loading import load_pack
from trellis.packs.snapshot import snapshot

MANIFEST = Manifest("crm", "1.0.0", "CRM", "", ">=0.1")


def _with_automation(runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        save_automation(
            session,
            runtime.model(session),
            "qualified_note",
            {
                "entity": "lead",
                "trigger": {"on": "stage", "stage": "qualified", "when": "amount > 10"},
                "actions": [{"type": "set_fields", "values": {"comments": "qualified"}}],
            },
            create=True,
        )


def _export(runtime, folder: Path, only=None):  # type: ignore[no-untyped-def]
    with runtime.transaction(read_only=True) as session:
        return service.export(session, folder, MANIFEST, only)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.yaml")}


def test_export_loads_back_as_the_snapshot_and_twice_is_the_same_bytes(
    runtime, demo_crm, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _with_automation(runtime)
    first, second = tmp_path / "one", tmp_path / "two"
    written = _export(runtime, first)
    _export(runtime, second)
    assert _files(first) == _files(second) == written
    assert "pipelines/deal.sales.yaml" in written
    assert "rules/lead.phone_without_email.yaml" in written
    assert "duplicates/company.tin.yaml" in written and "flows/deal_approval.yaml" in written
    text = written["entities/deal.yaml"].decode()
    assert "id:" not in text.replace("_id", "") and "created_at" not in text
    with runtime.transaction(read_only=True) as session:
        live = snapshot(session)
        users = service.installation_users(session)
    content = load_pack(first, users=users)
    assert content.objects == live
    assert content.manifest == MANIFEST
    # an export over an earlier one: the same files (stale ones gone), its samples kept
    (first / "samples").mkdir()
    (first / "samples" / "users.yaml").write_text("- {username: zoe, roles: [board]}\n")
    (first / "lists" / "gone.yaml").write_text("key: gone\nlabel: Gone\n")
    _export(runtime, first)
    assert {k: v for k, v in _files(first).items() if not k.startswith("samples/")} == written
    assert (first / "samples" / "users.yaml").exists()
    # a zip of the folder (with the folder's name inside) loads as the folder does
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in written.items():
            archive.writestr(f"crm-1.0.0/{name}", data)
        archive.writestr("crm-1.0.0/README.md", "not part of the pack")
    assert load_pack(buffer.getvalue(), users=users).objects == live


def test_only_exports_the_named_objects(runtime, demo_crm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    written = _export(runtime, tmp_path / "part", ["lead", "list:source", "industry"])
    assert sorted(written) == [
        "entities/lead.yaml",
        "lists/industry.yaml",
        "lists/source.yaml",
        "pack.yaml",
        "pipelines/lead.leads.yaml",
        "rules/lead.phone_without_email.yaml",
        "rules/lead.source_when_qualified.yaml",
    ]
    assert load_pack(tmp_path / "part").objects["entity"].keys() == {"lead"}
    with pytest.raises(ValidationFailed) as refused:
        _export(runtime, tmp_path / "none", ["lead", "nothing"])
    assert refused.value.errors == {"only": ["Nothing is called 'nothing'."]}


def test_a_folder_that_is_not_a_pack_is_not_written_over(runtime, demo_crm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValidationFailed):
        _export(runtime, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_the_commands_export_and_validate(app, demo_crm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = app.test_cli_runner()
    folder = tmp_path / "pack"
    result = runner.invoke(
        args=["pack", "export", str(folder), "--name", "crm", "--version", "2.0.0"]
    )
    assert result.exit_code == 0, result.output
    assert "pack.yaml" in {p.name for p in folder.iterdir()}
    assert "version: 2.0.0" in (folder / "pack.yaml").read_text()
    result = runner.invoke(args=["pack", "validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert "no problems" in result.output
    (folder / "lists" / "source.yaml").write_text("key: source\nlabel: [Source\n")
    result = runner.invoke(args=["pack", "validate", str(folder)])
    assert result.exit_code != 0
    assert "lists/source.yaml:3: $: Not valid YAML" in result.output  # where it ends
