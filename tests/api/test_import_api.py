"""``POST /api/records/{e}/import``: CSV in, every problem by row out, all or nothing; the
policy decides which columns a caller may fill."""

from __future__ import annotations

from api_helpers import assert_problem


def test_import_creates_all_rows_or_reports_every_problem(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("contact", {"name": ("text", {"required": True}), "email": "email"})
    url = "/api/records/contact/import"
    bad = admin.raw("POST", url, "name,email\nAnn,ann@x.example\n,nope\n", "text/csv")
    body = assert_problem(bad, 422, "row 3")
    assert set(body["errors"]["row 3"]) == {"name", "email"}
    assert body["detail"] == "1 of 2 rows cannot be imported; nothing was imported."
    assert body["report"]["valid"] == 1 and body["report"]["created"] == 0
    assert admin.ok("GET", "/api/records/contact")["total"] == 0
    good = "name,email\nAnn,ann@x.example\nBob,\n"
    dry = admin.raw("POST", f"{url}?dry_run=true", good, "text/csv")
    assert dry.status_code == 200 and dry.json["valid"] == 2 and dry.json["ids"] == []
    done = admin.raw("POST", url, good, "text/csv")
    assert done.status_code == 201 and done.json["created"] == 2 and len(done.json["ids"]) == 2
    names = [r["name"] for r in admin.ok("GET", "/api/records/contact?sort=id")["items"]]
    assert names == ["Ann", "Bob"]
    assert_problem(admin.raw("POST", url, good, "application/json"), 400)
    assert_problem(admin.raw("POST", f"{url}?dry_run=maybe", good, "text/csv"), 400, "dry_run")
    upload = admin.client.post(
        url,
        data={"file": (__import__("io").BytesIO(b"name\nCid\n"), "c.csv")},
        headers=admin.headers,
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201 and upload.json["created"] == 1


def test_import_follows_the_permission_policy(admin, factory, user) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text", "margin": "integer", "probability": "integer"})
    admin.ok("POST", "/api/meta/roles", {"key": "sales", "label": "Sales"}, 201)
    rights = {
        "create": True,
        "read": "own",
        "update": "own",
        "delete": "none",
        "fields": {"margin": "hidden", "probability": "read_only"},
    }
    admin.ok("PUT", "/api/meta/roles/sales/permissions/deal", rights)
    sam, ivy = user("sam", ["sales"]), user("ivy", ["user"])
    url = "/api/records/deal/import"
    header = assert_problem(
        sam.raw("POST", url, "name,margin,probability\nA,1,2\n", "text/csv"), 422
    )
    assert set(header["errors"]["header"]) == {"margin", "probability"}
    done = sam.raw("POST", url, "name\nMine\n", "text/csv")
    assert done.status_code == 201
    assert sam.ok("GET", f"/api/records/deal/{done.json['ids'][0]}")["owner"] is not None
    assert_problem(ivy.raw("POST", url, "name\nTheirs\n", "text/csv"), 403)
    assert admin.ok("GET", "/api/records/deal")["total"] == 1


def test_match_updates_the_records_a_unique_field_finds(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text", "tin": ("text", {"unique": True})})
    acme = admin.ok("POST", "/api/records/company", {"name": "Acme", "tin": "EE1"}, 201)
    url = "/api/records/company/import?match=tin"
    done = admin.raw("POST", url, "tin,name\nEE1,Acme Ltd\nEE2,Globex\n", "text/csv")
    assert done.status_code == 201, done.json
    assert (done.json["updated"], done.json["created"]) == (1, 1)
    assert done.json["updated_ids"] == [acme["id"]]
    assert admin.ok("GET", f"/api/records/company/{acme['id']}")["name"] == "Acme Ltd"
    wrong = admin.raw("POST", "/api/records/company/import?match=name", "name\nX\n", "text/csv")
    assert "match" in assert_problem(wrong, 422, "header")["errors"]["header"]
    document = admin.ok("GET", "/api/openapi.json")["paths"]["/api/records/company/import"]
    match = next(p for p in document["post"]["parameters"] if p["name"] == "match")
    assert match["schema"]["enum"] == ["tin"]
