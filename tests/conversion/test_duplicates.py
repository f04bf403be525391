"""Duplicate rules as data: normalised matching, candidates in the dry run, linking."""

from __future__ import annotations


def test_rules_are_data(client, demo) -> None:  # type: ignore[no-untyped-def]
    rules = client.get("/api/meta/entities/company/duplicate-rules", headers=demo).json["items"]
    assert sorted(r["fields"] for r in rules) == [["name"], ["tin"]]
    bad = client.post(
        "/api/meta/entities/company/duplicate-rules", json={"fields": ["nothing"]}, headers=demo
    )
    assert bad.status_code == 422
    added = client.post(
        "/api/meta/entities/company/duplicate-rules",
        json={"fields": ["phone", "email"]},
        headers=demo,
    )
    assert added.status_code == 201
    assert (
        client.delete(
            f"/api/meta/entities/company/duplicate-rules/{added.json['id']}", headers=demo
        ).status_code
        == 204
    )


def test_email_case_and_phone_formatting_are_ignored(client, demo, new_lead) -> None:  # type: ignore[no-untyped-def]
    client.post(
        "/api/records/contact", json={"first_name": "Liis", "phone": "+372 555-0101"}, headers=demo
    )
    lead = new_lead(email=" ANN@acme.example ".strip().upper(), phone="3725550101")
    preview = client.post(
        f"/api/records/lead/{lead['id']}/convert",
        json={"targets": {"contact": {}}, "dry_run": True},
        headers=demo,
    ).json
    found = {c["title"]: c["matched"] for c in preview["duplicates"]["contact"]}
    assert found == {"Ann Tamm": ["email"], "Liis": ["phone"]}


def test_candidates_the_caller_may_not_read_are_not_listed(client, demo, new_lead, runtime) -> None:  # type: ignore[no-untyped-def]
    from trellis.accounts import create_user

    client.post("/api/meta/roles", json={"key": "sales", "label": "Sales"}, headers=demo)
    for entity in ("lead", "contact", "company", "deal"):
        grant = {"create": True, "read": "own", "update": "own", "delete": "none"}
        client.put(f"/api/meta/roles/sales/permissions/{entity}", json=grant, headers=demo)
    with runtime.transaction() as session:
        create_user(session, "sam", "sam-password", ["sales"])
    sam = {
        "Authorization": "Bearer "
        + client.post("/api/auth/token", json={"username": "sam", "password": "sam-password"}).json[
            "token"
        ]
    }
    lead = client.post(
        "/api/records/lead",
        json={"name": "x", "email": "ann@acme.example", "first_name": "Ann"},
        headers=sam,
    ).json
    preview = client.post(
        f"/api/records/lead/{lead['id']}/convert",
        json={"targets": {"contact": {}}, "dry_run": True},
        headers=sam,
    )
    assert preview.status_code == 200, preview.json
    assert "contact" not in preview.json["duplicates"]  # Ann Tamm belongs to someone else
