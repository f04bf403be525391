"""The packs that ship (issue 14): ``config/crm`` (the reference scenario) and ``config/hr``
(vacation requests) validate with no problem, as folders and as zips; applied with their
samples on an empty installation, the sample users and records are there (links, stages,
owners), and the live configuration is what the packs say."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from trellis.accounts import User
from trellis.packs.loading import load_pack, validate_pack
from trellis.packs.snapshot import snapshot

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.mark.parametrize("name", ["crm", "hr"])
def test_the_shipped_pack_validates_with_no_problem(name: str) -> None:
    folder = CONFIG / name
    assert validate_pack(folder) == []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*.yaml")):
            archive.write(path, f"{name}/{path.relative_to(folder).as_posix()}")
    assert validate_pack(buffer.getvalue()) == []
    content = load_pack(folder)
    assert content.manifest.name == name and content.samples


def test_samples_name_options_of_their_lists_and_fill_required_fields(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(CONFIG / "crm", tmp_path / "crm")
    leads = tmp_path / "crm" / "samples" / "lead.yaml"
    leads.write_text(leads.read_text() + "- {name: Fair, source: fair}\n- {source: call}\n")
    problems = [(p.file, p.line, p.path, p.message) for p in validate_pack(tmp_path / "crm")]
    assert problems == [
        ("samples/lead.yaml", 4, "$[3].source", "'fair' is not an option of 'source'."),
        ("samples/lead.yaml", 5, "$[4]", "'name' is required."),
    ]


def test_the_shipped_packs_name_what_the_scenario_needs() -> None:
    crm = load_pack(CONFIG / "crm")
    assert set(crm.documents("entity")) == {"lead", "contact", "company", "deal"}
    assert set(crm.documents("conversion")) == {"lead_conversion"}
    assert set(crm.documents("flow")) == {"deal_approval"}
    assert len(crm.documents("duplicate")) == 4
    hr = load_pack(CONFIG / "hr")
    assert set(hr.documents("entity")) == {"vacation"}
    assert set(hr.documents("flow")) == {"vacation_approval"}
    assert {"team_lead", "employee"} <= set(hr.documents("role"))
    # the two packs own different objects: either can be installed alone
    for kind in crm.objects:
        assert not set(crm.documents(kind)) & set(hr.documents(kind)), kind


def test_the_packs_with_their_samples_on_an_empty_installation(runtime) -> None:  # type: ignore[no-untyped-def]
    from trellis.packs.apply import apply_pack

    said: list[str] = []
    for name in ("crm", "hr"):
        apply_pack(runtime, load_pack(CONFIG / name), samples=True, progress=said.append)
    passwords = [line for line in said if "with the password" in line]
    assert len(passwords) == 6  # hanna, ivan, jonas, mila, dora (crm) and emma (hr)
    with runtime.transaction(read_only=True) as session:
        users = {u.username: u for u in session.scalars(select(User))}
        assert users["mila"].role_keys == {"user", "sales_manager", "team_lead", "employee"}
        assert users["dora"].role_keys == {"user", "director", "hr_manager", "employee"}
        records = runtime.records(session)
        companies = {r.values["name"]: r for r in records.list("company").items}
        contacts = {r.values["first_name"]: r for r in records.list("contact").items}
        deals = {r.values["name"]: r for r in records.list("deal").items}
        assert len(records.list("lead").items) == 3
        acme = deals["Acme annual supply"]
        assert acme.values["company"] == companies["Acme Ltd"].id
        assert acme.values["contact"] == contacts["Ann"].id
        assert (acme.pipeline, acme.stage) == ("sales", "negotiation")
        assert (deals["Globex pilot"].pipeline, deals["Globex pilot"].stage) == (
            "wholesale",
            "quote",
        )
        vacations = records.list("vacation").items
        assert {users_by_id(users)[v.owner_id] for v in vacations} == {"emma", "dora"}
        live = snapshot(session)
    for name in ("crm", "hr"):
        for kind, documents in load_pack(CONFIG / name).objects.items():
            for key, document in documents.items():
                assert live[kind][key] == document, (kind, key)


def test_the_crm_pack_applies_without_samples_on_an_empty_installation(runtime) -> None:  # type: ignore[no-untyped-def]
    """A configuration pack depends on no installation data: the deal approval asks two of
    the board role's members, whoever they are, not sample users by name."""
    from trellis.packs.apply import apply_pack

    content = load_pack(CONFIG / "crm")
    (version,) = content.objects["flow"]["deal_approval"]["versions"]
    board = version["route"]["steps"][0]
    assert (board["approvers"], board["mode"], board["quorum"]) == ({"role": "board"}, "quorum", 2)
    apply_pack(runtime, content)
    with runtime.transaction(read_only=True) as session:
        assert not [u for u in session.scalars(select(User)) if u.username != "admin"]
        live = snapshot(session)
    assert live["flow"]["deal_approval"] == content.objects["flow"]["deal_approval"]


def users_by_id(users: dict[str, User]) -> dict[int, str]:
    return {u.id: name for name, u in users.items()}


def test_a_long_text_field_takes_its_stored_settings_back(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    """A long text's settings as stored (max_length 100,000 filled in) pass its own check,
    so a pack (or an API client) may send them back."""
    factory.entity("task", {"name": "text"})
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        meta.add_field("task", "notes", "Notes", "long_text")
        stored = dict(meta.field_row(meta.entity_row("task"), "notes").settings)
        assert stored == {"max_length": 100_000}
        meta.add_field("task", "more", "More notes", "long_text", settings=stored)
        changed = meta.update_field("task", "notes", settings={"pattern": "^[^<]*$"})
        assert changed.settings["max_length"] == 100_000


def test_a_pack_that_builds_on_an_installed_one(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Checked against this installation, a pack may name what an installed pack brought
    (here the hr pack's vacation requests), and the packs it requires must be installed in
    a version its range allows."""
    from trellis.packs import service
    from trellis.packs.apply import apply_pack

    apply_pack(runtime, load_pack(CONFIG / "hr"))
    (tmp_path / "roles").mkdir()
    (tmp_path / "pack.yaml").write_text(
        "name: payroll\nversion: 0.1.0\nrequires:\n  hr: '>=1.0,<2'\n  ledger: '>=1'\n"
        "  crm: '>=3'\n"
    )
    (tmp_path / "roles" / "payroll.yaml").write_text(
        "key: payroll\nlabel: Payroll\ngrants:\n  vacation: {read: all}\n"
    )
    alone = validate_pack(tmp_path)
    assert [(p.file, p.path) for p in alone] == [("roles/payroll.yaml", "$.grants.vacation")]
    with runtime.transaction(read_only=True) as session:
        here = service.validate(tmp_path, session)
    assert [(p.file, p.line, p.path, p.message) for p in here] == [
        (
            "pack.yaml",
            5,
            "$.requires.ledger",
            "Needs the pack 'ledger' (>=1); it is not installed here.",
        ),
        ("pack.yaml", 6, "$.requires.crm", "Needs the pack 'crm' (>=3); it is not installed here."),
    ]
