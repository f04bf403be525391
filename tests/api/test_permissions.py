"""One permission policy on every path. These tests try to get around it and fail to."""

from __future__ import annotations

import pytest


@pytest.fixture
def crm(factory, client, admin_headers, make_user, token_for):  # type: ignore[no-untyped-def]
    """Companies and deals; ``sam`` (role sales) reads and changes own deals only, cannot see
    a deal's margin and cannot change its probability; ``ivy`` has no grants at all."""
    factory.entity("company", {"name": "text"}, title="{name}")
    factory.entity(
        "deal",
        {
            "name": "text",
            "margin": "integer",
            "probability": "integer",
            "company": ("reference", {"settings": {"target": "company"}}),
        },
        title="{name}",
    )
    assert (
        client.post(
            "/api/meta/roles", json={"key": "sales", "label": "Sales"}, headers=admin_headers
        ).status_code
        == 201
    )
    grant = {
        "create": True,
        "read": "own",
        "update": "own",
        "delete": "none",
        "fields": {"margin": "hidden", "probability": "read_only"},
    }
    assert (
        client.put(
            "/api/meta/roles/sales/permissions/deal", json=grant, headers=admin_headers
        ).status_code
        == 200
    )
    make_user("sam", ["sales"])
    make_user("ivy", ["user"])
    sam, ivy = token_for("sam"), token_for("ivy")
    company = client.post(
        "/api/records/company", json={"name": "Secret Corp"}, headers=admin_headers
    ).json
    theirs = client.post(
        "/api/records/deal",
        json={
            "name": "Big secret deal",
            "margin": 900,
            "probability": 10,
            "company": company["id"],
        },
        headers=admin_headers,
    ).json
    mine = client.post(
        "/api/records/deal", json={"name": "Small deal", "company": company["id"]}, headers=sam
    )
    assert mine.status_code == 201, mine.json
    return {
        "admin": admin_headers,
        "sam": sam,
        "ivy": ivy,
        "theirs": theirs,
        "mine": mine.json,
        "company": company,
    }


def test_lists_search_and_totals_show_only_own_records(client, crm) -> None:  # type: ignore[no-untyped-def]
    listing = client.get("/api/records/deal", headers=crm["sam"]).json
    assert [d["name"] for d in listing["items"]] == ["Small deal"] and listing["total"] == 1
    assert client.get("/api/records/deal?q=secret", headers=crm["sam"]).json["total"] == 0
    assert (
        client.get(f"/api/records/deal?id={crm['theirs']['id']}", headers=crm["sam"]).json["total"]
        == 0
    )
    assert (
        client.get("/api/records/deal?owner__isnull=false", headers=crm["sam"]).json["total"] == 1
    )


def test_someone_elses_record_is_a_404_everywhere(client, crm) -> None:  # type: ignore[no-untyped-def]
    other = crm["theirs"]["id"]
    for path in (
        f"/api/records/deal/{other}",
        f"/api/records/deal/{other}/history",
        f"/api/records/deal/{other}/links",
    ):
        assert client.get(path, headers=crm["sam"]).status_code == 404, path
    response = client.patch(
        f"/api/records/deal/{other}", json={"name": "mine now", "version": 1}, headers=crm["sam"]
    )
    assert response.status_code == 404
    assert client.post(
        f"/api/records/deal/{other}/stage", json={"stage": "x"}, headers=crm["sam"]
    ).status_code in (400, 404)
    assert client.delete(f"/api/records/deal/{other}", headers=crm["sam"]).status_code == 404
    assert (
        client.get(f"/api/records/deal/{other}", headers=crm["admin"]).json["name"]
        == "Big secret deal"
    )


def test_a_hidden_field_cannot_be_read_or_probed(client, crm) -> None:  # type: ignore[no-untyped-def]
    mine = client.get(f"/api/records/deal/{crm['mine']['id']}", headers=crm["sam"]).json
    assert "margin" not in mine
    assert "margin" not in client.get("/api/records/deal", headers=crm["sam"]).json["items"][0]
    for query in ("margin__gt=100", "margin=900", "sort=-margin", "margin__isnull=true"):
        response = client.get(f"/api/records/deal?{query}", headers=crm["sam"])
        assert response.status_code == 400, query
        assert "Unknown" in str(response.json["errors"])
    written = client.patch(
        f"/api/records/deal/{crm['mine']['id']}",
        json={"margin": 5, "version": 1},
        headers=crm["sam"],
    )
    assert written.status_code == 422 and written.json["errors"] == {"margin": ["Unknown field."]}
    history = client.get(f"/api/records/deal/{crm['mine']['id']}/history", headers=crm["sam"]).json[
        "items"
    ]
    assert all(item["field"] != "margin" for item in history)
    document = client.get("/api/openapi.json", headers=crm["sam"]).json
    assert "margin" not in document["components"]["schemas"]["DealRecord"]["properties"]
    entity = client.get("/api/meta/entities/deal", headers=crm["sam"]).json
    assert "margin" not in [f["key"] for f in entity["fields"]]


def test_a_read_only_field_is_readable_but_not_writable(client, crm) -> None:  # type: ignore[no-untyped-def]
    record = client.get(f"/api/records/deal/{crm['mine']['id']}", headers=crm["sam"]).json
    assert "probability" in record
    response = client.patch(
        f"/api/records/deal/{crm['mine']['id']}",
        json={"probability": 99, "version": record["version"]},
        headers=crm["sam"],
    )
    assert response.status_code == 422 and response.json["errors"] == {
        "probability": ["Read-only."]
    }
    created = client.post(
        "/api/records/deal", json={"name": "x", "probability": 1}, headers=crm["sam"]
    )
    assert created.status_code == 422


def test_references_to_unreadable_records_carry_no_title(client, crm) -> None:  # type: ignore[no-untyped-def]
    record = client.get(f"/api/records/deal/{crm['mine']['id']}", headers=crm["sam"]).json
    assert record["company"] == {"id": crm["company"]["id"], "title": None}
    links = client.get(f"/api/records/deal/{crm['mine']['id']}/links", headers=crm["sam"]).json[
        "items"
    ]
    assert links == []  # the company is not readable for sam
    admin_links = client.get(
        f"/api/records/company/{crm['company']['id']}/links", headers=crm["admin"]
    ).json["items"]
    assert {link["id"] for link in admin_links} == {crm["mine"]["id"], crm["theirs"]["id"]}


def test_delete_outside_the_grant_is_refused_and_nothing_changes(client, crm) -> None:  # type: ignore[no-untyped-def]
    response = client.delete(f"/api/records/deal/{crm['mine']['id']}", headers=crm["sam"])
    assert response.status_code == 403
    assert (
        client.get(f"/api/records/deal/{crm['mine']['id']}", headers=crm["sam"]).status_code == 200
    )


def test_no_grant_means_nothing_visible(client, crm) -> None:  # type: ignore[no-untyped-def]
    ivy = crm["ivy"]
    assert client.get("/api/records/deal", headers=ivy).status_code == 404
    assert client.get(f"/api/records/deal/{crm['mine']['id']}", headers=ivy).status_code == 404
    assert client.post("/api/records/deal", json={"name": "x"}, headers=ivy).status_code == 404
    assert client.get("/api/meta/entities", headers=ivy).json["items"] == []
    assert "/api/records/deal" not in client.get("/api/openapi.json", headers=ivy).json["paths"]


def test_only_administrators_change_the_configuration(client, crm) -> None:  # type: ignore[no-untyped-def]
    sam = crm["sam"]
    attempts = [
        ("POST", "/api/meta/entities", {"key": "hack", "label": "Hack"}),
        ("POST", "/api/meta/entities/deal/fields", {"key": "x", "label": "X", "type": "text"}),
        ("DELETE", "/api/meta/entities/deal/fields/name", None),
        ("POST", "/api/meta/lists", {"key": "l", "label": "L"}),
        ("POST", "/api/meta/roles", {"key": "r", "label": "R"}),
        ("PUT", "/api/meta/roles/sales/permissions/deal", {"read": "all"}),
        ("POST", "/api/meta/entities/deal/rules", {"kind": "required", "field": "name"}),
        ("GET", "/api/meta/roles", None),
    ]
    for method, path, body in attempts:
        response = client.open(path, method=method, json=body, headers=sam)
        assert response.status_code == 403, (method, path, response.json)
    entity = client.get("/api/meta/entities/deal", headers=crm["admin"]).json
    assert [f["key"] for f in entity["fields"] if not f["archived"]] == [
        "name",
        "margin",
        "probability",
        "company",
    ]
    assert client.get("/api/records/deal", headers=sam).json["total"] == 1  # still own only


def test_admin_may_do_everything(client, crm) -> None:  # type: ignore[no-untyped-def]
    admin = crm["admin"]
    assert client.get("/api/records/deal", headers=admin).json["total"] == 2
    record = client.get(f"/api/records/deal/{crm['theirs']['id']}", headers=admin).json
    assert record["margin"] == 900
    assert client.delete(f"/api/records/deal/{crm['mine']['id']}", headers=admin).status_code == 204


def test_a_title_made_of_a_hidden_field_does_not_show_it(
    client, factory, admin_headers, make_user, token_for
) -> None:  # type: ignore[no-untyped-def]
    factory.entity("vault", {"code": "text", "note": "text"}, title="{code}")
    client.post("/api/meta/roles", json={"key": "guard", "label": "Guard"}, headers=admin_headers)
    grant = {
        "create": True,
        "read": "all",
        "update": "none",
        "delete": "none",
        "fields": {"code": "hidden"},
    }
    client.put("/api/meta/roles/guard/permissions/vault", json=grant, headers=admin_headers)
    make_user("gus", ["guard"])
    secret = client.post(
        "/api/records/vault", json={"code": "TOP-SECRET", "note": "x"}, headers=admin_headers
    ).json
    seen = client.get(f"/api/records/vault/{secret['id']}", headers=token_for("gus")).json
    assert seen["title"] == f"Vault #{secret['id']}" and "TOP-SECRET" not in str(seen)
