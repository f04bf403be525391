"""A field's type changed through the API: the records API and the OpenAPI document follow."""

from __future__ import annotations

from api_helpers import assert_problem


def test_the_api_and_openapi_follow_a_type_change(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text", "homepage": "text"}, title="{name}")
    old = admin.ok("POST", "/api/records/company", {"name": "Old", "homepage": "not a url"}, 201)
    refused = assert_problem(
        admin.patch("/api/meta/entities/company/fields/homepage", {"type": "url"}), 422, "type"
    )
    assert "“not a url”" in refused["errors"]["type"][0]
    admin.ok("PATCH", f"/api/records/company/{old['id']}", {"homepage": None, "version": 1})
    changed = admin.ok("PATCH", "/api/meta/entities/company/fields/homepage", {"type": "url"})
    assert changed["type"] == "url" and changed["key"] == "homepage"
    schemas = admin.ok("GET", "/api/openapi.json")["components"]["schemas"]
    # a url is described by the pattern the server checks (an http(s) address)
    assert "https?://" in schemas["CompanyCreate"]["properties"]["homepage"]["pattern"]
    bad = admin.post("/api/records/company", {"name": "X", "homepage": "nope"})
    assert_problem(bad, 422, "homepage")
    good = admin.ok(
        "POST", "/api/records/company", {"name": "Y", "homepage": "https://y.example"}, 201
    )
    assert good["homepage"] == "https://y.example"
    key = assert_problem(
        admin.patch("/api/meta/entities/company/fields/homepage", {"key": "site"}), 422, "key"
    )
    assert key["errors"]["key"] == ["Cannot be changed once the field exists."]
