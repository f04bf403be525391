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


def test_a_money_value_is_an_amount_with_a_currency_code_or_nothing(admin, factory) -> None:  # type: ignore[no-untyped-def]
    """schemathesis sent ``{"amount": null, "currency": {}}``: it was taken as EUR and the
    answer said ``"amount": "None"``. A currency must be a code (empty: the default), and an
    object without an amount is no value."""
    factory.entity("deal", {"name": "text", "price": "money"}, title="{name}")
    bad = admin.post("/api/records/deal", {"name": "A", "price": {"amount": None, "currency": {}}})
    assert_problem(bad, 422, "price")
    empty = admin.ok("POST", "/api/records/deal", {"name": "B", "price": {"amount": None}}, 201)
    assert empty["price"] is None
    assert admin.ok("GET", f"/api/records/deal/{empty['id']}")["price"] is None
    given = {"amount": "12.50", "currency": ""}
    default = admin.ok("POST", "/api/records/deal", {"name": "C", "price": given}, 201)
    assert default["price"] == {"amount": "12.50", "currency": "EUR"}
    bare = admin.ok("POST", "/api/records/deal", {"name": "D", "price": 7}, 201)
    assert bare["price"] == {"amount": "7.00", "currency": "EUR"}
