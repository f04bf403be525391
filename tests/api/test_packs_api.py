"""``/api/packs`` (issue 14, deliverable 5): a zip's plan (dry run), the apply, the upgrade
with a conflict decided by ``take``, installed packs with what was edited here, every
problem of a broken pack by file, line and JSON path, and uploads that are refused before
anything is unpacked (not a zip, a zip bomb, a path leaving the folder, too large)."""

from __future__ import annotations

import io
import os
import zipfile
from datetime import datetime, timedelta

import pytest
from api_helpers import assert_problem
from pack_zips import MANIFEST, TICKET, TICKET_V2, tickets_pack, zip_of


def post(caller, query: str, body: bytes, content_type: str = "application/zip"):  # type: ignore[no-untyped-def]
    return caller.raw("POST", f"/api/packs{query}", body, content_type)


def test_a_dry_run_answers_the_plan_and_changes_nothing_then_the_apply_does(admin) -> None:  # type: ignore[no-untyped-def]
    response = post(admin, "?dry_run=true", tickets_pack())
    assert response.status_code == 200, response.get_data(as_text=True)
    plan = response.json
    assert plan["dry_run"] is True and plan["applied"] is False and plan["applicable"] is True
    assert plan["pack"]["name"] == "tickets" and plan["installed_version"] is None
    by_name = {o["name"]: o for o in plan["objects"]}
    assert by_name["entity:ticket"]["action"] == "create"
    assert by_name["list:severity"]["action"] == "create"
    fields = next(c for c in by_name["entity:ticket"]["changes"] if c["path"] == "fields")
    assert [f["key"] for f in fields["after"]] == ["subject", "severity"]
    assert plan["counts"]["create"] == 2 and plan["conflicts"] == 0
    # nothing was applied
    assert admin.ok("GET", "/api/packs") == {"items": []}
    assert admin.get("/api/meta/entities/ticket").status_code == 404

    applied = post(admin, "", tickets_pack())
    assert applied.status_code == 200, applied.get_data(as_text=True)
    assert applied.json["applied"] is True and applied.json["dry_run"] is False
    entity = admin.ok("GET", "/api/meta/entities/ticket")
    assert [f["key"] for f in entity["fields"]] == ["subject", "severity"]
    installed = admin.ok("GET", "/api/packs")["items"]
    assert [(p["name"], p["version"], p["edited"]) for p in installed] == [("tickets", "1.0.0", [])]
    assert installed[0]["objects"] == 2 and installed[0]["title"] == "Tickets"
    # times as the document's date-time says (ISO 8601 in UTC), not Flask's HTTP dates
    for moment in ("installed_at", "updated_at"):
        assert datetime.fromisoformat(installed[0][moment]).utcoffset() == timedelta(0)
    # the record routes of the new type work at once
    admin.ok("POST", "/api/records/ticket", {"subject": "Printer"}, status=201)


def test_an_upgrade_with_a_conflict_is_refused_until_take_decides_it(admin) -> None:  # type: ignore[no-untyped-def]
    assert post(admin, "", tickets_pack()).status_code == 200
    # here, the subject's label is renamed; the pack's version 2 renames it differently
    admin.ok("PATCH", "/api/meta/entities/ticket/fields/subject", {"label": "Topic"})
    edited = admin.ok("GET", "/api/packs")["items"][0]["edited"]
    assert edited == [{"object": "entity:ticket", "paths": ["fields.subject.label"]}]

    upgrade = tickets_pack("2.0.0", TICKET_V2)
    plan = post(admin, "?dry_run=true", upgrade).json
    assert plan["installed_version"] == "1.0.0" and plan["applicable"] is False
    ticket = next(o for o in plan["objects"] if o["name"] == "entity:ticket")
    assert ticket["conflicts"] == [
        {
            "path": "fields.subject.label",
            "base": "Subject",
            "pack": "Summary",
            "local": "Topic",
            "taken": None,
        }
    ]
    assert any(c["path"] == "fields.due" for c in ticket["changes"])
    assert plan["problems"][0]["object"] == "entity:ticket"

    refused = post(admin, "", upgrade)
    body = assert_problem(refused, 409)
    assert body["problems"][0]["path"] == "fields.subject.label"
    assert "entity:ticket" in {o["kind"] + ":" + o["key"] for o in body["plan"]}
    assert admin.ok("GET", "/api/packs")["items"][0]["version"] == "1.0.0"
    assert "due" not in [f["key"] for f in admin.ok("GET", "/api/meta/entities/ticket")["fields"]]

    decided = post(admin, "?dry_run=true&take=entity:ticket=local", upgrade).json
    assert decided["applicable"] is True
    assert decided["objects"][0]["conflicts"][0]["taken"] == "local"
    # the form field says it too (as the admin page sends it)
    applied = admin.client.post(
        "/api/packs",
        data={"file": (io.BytesIO(upgrade), "tickets.zip"), "take": "entity:ticket=pack"},
        content_type="multipart/form-data",
        headers=admin.headers,
    )
    assert applied.status_code == 200, applied.get_data(as_text=True)
    fields = {f["key"]: f for f in admin.ok("GET", "/api/meta/entities/ticket")["fields"]}
    assert fields["subject"]["label"] == "Summary" and "due" in fields
    assert admin.ok("GET", "/api/packs")["items"][0]["version"] == "2.0.0"


def test_a_broken_pack_is_a_problem_listing_every_problem_by_file_line_and_path(admin) -> None:  # type: ignore[no-untyped-def]
    broken = zip_of(
        {
            "pack.yaml": MANIFEST.format(version="1.0.0"),
            "entities/ticket.yaml": TICKET.replace("settings: {list: severity}", "settngs: 1"),
            "lists/severity.yaml": "key: severity\nlabel: [not, text]\n",
        }
    )
    for query in ("?dry_run=true", ""):
        body = assert_problem(post(admin, query, broken), 422)
        problems = body["problems"]
        assert {(p["file"], p["path"]) for p in problems} >= {
            ("entities/ticket.yaml", "$.fields[1].settngs"),
            ("lists/severity.yaml", "$.label"),
        }
        where = next(p for p in problems if p["path"] == "$.fields[1].settngs")
        assert where["line"] == 5 and where["message"]
        assert all(set(p) == {"file", "line", "path", "message"} for p in problems)
    assert admin.ok("GET", "/api/packs") == {"items": []}
    assert admin.get("/api/meta/entities/ticket").status_code == 404


def test_a_change_the_services_refuse_is_listed_and_nothing_changes(admin) -> None:  # type: ignore[no-untyped-def]
    assert post(admin, "", tickets_pack()).status_code == 200
    admin.ok("POST", "/api/records/ticket", {"subject": "Printer"}, status=201)
    # version 2 turns the subject into a whole number: the stored text refuses it
    bad = tickets_pack("2.0.0", TICKET.replace("type: text", "type: integer"))
    plan = post(admin, "?dry_run=true", bad).json
    assert plan["applicable"] is False and plan["problems"]
    ticket = next(o for o in plan["objects"] if o["name"] == "entity:ticket")
    assert ticket["impact"], ticket
    body = assert_problem(post(admin, "", bad), 422)
    assert body["problems"][0]["object"] == "entity:ticket"
    assert admin.ok("GET", "/api/packs")["items"][0]["version"] == "1.0.0"


def test_only_administrators_read_and_apply_packs(admin, user) -> None:  # type: ignore[no-untyped-def]
    clerk = user("clerk", ["user"])
    assert_problem(clerk.get("/api/packs"), 403)
    assert_problem(post(clerk, "?dry_run=true", tickets_pack()), 403)
    assert_problem(post(clerk, "", tickets_pack()), 403)
    assert admin.ok("GET", "/api/packs") == {"items": []}


def _bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pack.yaml", MANIFEST.format(version="1.0.0"))
        archive.writestr("entities/ticket.yaml", b"#" * (30 * 1024 * 1024))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "name", "message"),
    [
        (b"PK\x03\x04 not really", "(zip)", "Not a zip file"),
        (
            zip_of({"pack.yaml": MANIFEST.format(version="1"), "../../etc/x.yaml": "a: 1"}),
            "../../etc/x.yaml",
            "leaves the pack's folder",
        ),
        (
            zip_of({"pack.yaml": MANIFEST.format(version="1"), "/etc/x.yaml": "a: 1"}),
            "/etc/x.yaml",
            "leaves the pack's folder",
        ),
        (_bomb(), "entities/ticket.yaml", "zip bomb"),
    ],
    ids=["not-a-zip", "dot-dot", "absolute", "bomb"],
)
def test_unsafe_uploads_are_refused_before_unpacking(admin, body, name, message) -> None:  # type: ignore[no-untyped-def]
    for query in ("?dry_run=true", ""):
        problem = assert_problem(post(admin, query, body), 422)
        assert [(p["file"], p["path"]) for p in problem["problems"]] == [(name, "$")]
        assert message in problem["problems"][0]["message"]
    assert admin.ok("GET", "/api/packs") == {"items": []}


def test_an_upload_past_the_limit_is_a_413_and_wrong_bodies_are_400s(app, admin) -> None:  # type: ignore[no-untyped-def]
    app.config["MAX_UPLOAD_LENGTH"] = 50_000
    big = zip_of({"pack.yaml": MANIFEST.format(version="1"), "x.bin": os.urandom(60_000)})
    assert len(big) > 50_000
    assert_problem(post(admin, "", big), 413)
    assert_problem(post(admin, "", tickets_pack(), "application/json"), 400)
    assert_problem(post(admin, "?dry_run=maybe", tickets_pack()), 400, "dry_run")
    assert_problem(post(admin, "?take=ticket=theirs", tickets_pack()), 400, "take")
    # a take that names no object with a conflict is not passed over silently
    body = post(admin, "?dry_run=true&take=entity:nothing=pack", tickets_pack()).json
    assert body["applicable"] is False and body["problems"][0]["object"] == "entity:nothing"


def test_the_document_describes_the_pack_routes(admin) -> None:  # type: ignore[no-untyped-def]
    document = admin.ok("GET", "/api/openapi.json")
    post_op = document["paths"]["/api/packs"]["post"]
    assert set(post_op["requestBody"]["content"]) == {"application/zip", "multipart/form-data"}
    assert {p["name"] for p in post_op["parameters"]} >= {"dry_run", "take"}
    plan = document["components"]["schemas"]["PackPlan"]
    assert {"objects", "counts", "conflicts", "problems", "applicable"} <= set(plan["required"])
    assert "413" in post_op["responses"] and "409" in post_op["responses"]
    listed = document["paths"]["/api/packs"]["get"]["responses"]["200"]
    assert listed["content"]["application/json"]["schema"]["$ref"].endswith("InstalledPackList")


def test_an_apply_with_a_take_about_no_conflict_is_a_declared_422_under_take(admin) -> None:  # type: ignore[no-untyped-def]
    """Whether a take names an object with a conflict depends on the installation: the
    refusal names the request's ``take`` (declared configuration-dependent), and nothing is
    applied; the multipart file part is documented as the pack's zip."""
    from trellis.api.blueprint import CONFIGURATION_DEPENDENT, is_declared

    response = post(admin, "?take=entity:nothing=pack", tickets_pack())
    problem = assert_problem(response, 422, "take")
    assert set(problem["errors"]) == {"take"}
    assert problem["problems"][0]["object"] == "entity:nothing"
    assert admin.ok("GET", "/api/packs")["items"] == []
    document = admin.ok("GET", "/api/openapi.json")
    post_op = document["paths"]["/api/packs"]["post"]
    assert is_declared("take", post_op[CONFIGURATION_DEPENDENT])
    form = post_op["requestBody"]["content"]["multipart/form-data"]
    assert form["encoding"]["file"]["contentType"] == "application/zip"
