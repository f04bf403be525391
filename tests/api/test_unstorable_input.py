"""Input no database can store or no later step can use is refused up front, with a problem,
never a 500 (issue 9 item 14): lone surrogates anywhere in a JSON body, ids past BIGINT, keys
with ``__`` or a trailing newline, title templates with a format spec."""

from __future__ import annotations

import pytest
from configured_fixtures import configured

LONE = '"\\ud800"'  # JSON text for a string holding one lone surrogate


@configured
def deal(factory):  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text"}, title="{name}")
    factory.entity("company", {"name": "text"}, title="{name}")
    return factory


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/auth/token", '{"username": ' + LONE + ', "password": "p"}'),
        ("POST", "/api/records/deal", '{"name": ' + LONE + "}"),
        ("POST", "/api/records/deal", "{" + LONE + ': "x"}'),
        ("PATCH", "/api/meta/entities/deal/fields/name", '{"label": ' + LONE + "}"),
        ("POST", "/api/meta/entities", '{"key": "x", "label": "X", "description": ' + LONE + "}"),
        (
            "POST",
            "/api/meta/conversions",
            '{"key": "c", "source": "deal", "targets": {"company": {"fields": {'
            + LONE
            + ': "name"}}}}',
        ),
        ("POST", "/api/records/deal", '{"name": ["a", {"b": ' + LONE + "}]}"),
    ],
)
def test_a_lone_surrogate_anywhere_in_a_body_is_a_400(
    deal, client, admin, method, path, body
) -> None:  # type: ignore[no-untyped-def]
    response = client.open(
        path,
        method=method,
        data=body,
        content_type="application/json",
        headers=admin.headers,
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert "surrogate" in response.json["detail"]
    assert deal.records("list", "deal").total == 0


@pytest.mark.parametrize(
    "path",
    [
        "/api/meta/entities/deal/duplicate-rules/9223372036854775808",
        "/api/meta/entities/deal/rules/99999999999999999999999",
        "/api/meta/entities/deal/duplicate-rules/2147483648",  # past INTEGER: platform ids
        "/api/meta/entities/deal/rules/9223372036854775806",
        "/api/records/deal/9223372036854775808",
    ],
)
def test_ids_past_bigint_name_nothing(deal, admin, path: str) -> None:  # type: ignore[no-untyped-def]
    assert admin.delete(path).status_code == 404  # names nothing, whatever the method
    assert admin.get("/api/records/deal/9223372036854775807").status_code == 404


@pytest.mark.parametrize("key", ["a__gt", "name__in", "abc\n", "abc\r\n"])
def test_keys_with_a_double_underscore_or_a_line_end_are_refused(deal, admin, key: str) -> None:  # type: ignore[no-untyped-def]
    field = admin.post(
        "/api/meta/entities/deal/fields", json={"key": key, "label": "A", "type": "text"}
    )
    assert field.status_code == 422 and "key" in field.json["errors"]
    entity = admin.post("/api/meta/entities", json={"key": key, "label": "A"})
    assert entity.status_code == 422 and "key" in entity.json["errors"]
    if key.endswith("\n"):  # other keys ($ let a newline through in all of them)
        listing = admin.post("/api/meta/lists", json={"key": key, "label": "A", "options": []})
        assert listing.status_code == 422
        role = admin.post("/api/meta/roles", json={"key": key, "label": "A"})
        assert role.status_code == 422
    assert admin.get("/api/records/deal/export.csv").status_code in (404, 405)  # no such route
    assert admin.get("/api/records/deal?name__eq=x").status_code == 200


@pytest.mark.parametrize(
    "title", ["{name:>20000000}", "{name!r}", "{name:{name}}", "{name", "x" * 301]
)
def test_a_title_template_is_plain_field_keys_and_bounded(deal, admin, title: str) -> None:  # type: ignore[no-untyped-def]
    response = admin.patch("/api/meta/entities/deal", json={"title": title})
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "title_template" in response.json["errors"] or "title" in response.json["errors"]
    created = admin.post("/api/meta/entities", json={"key": "other", "label": "O", "title": title})
    assert created.status_code == 422
    assert admin.post("/api/records/deal", json={"name": "Apollo"}).json["title"] == "Apollo"
