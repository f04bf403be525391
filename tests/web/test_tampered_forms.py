"""A tampered form is a 400 page, never a 500 (issue 9 item 14)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("version", ["abc", "", "1e3", "99999999999999999999999", "\u0661"])
def test_an_edit_form_with_a_bad_version_is_a_400(factory, boss, version: str) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text"})
    record = factory.record("deal", name="Apollo")
    response = boss.post(
        f"/records/deal/{record.id}/edit", data={"name": "Changed", "version": version}
    )
    assert response.status_code == 400
    assert factory.records("get", "deal", record.id).values["name"] == "Apollo"
    saved = boss.post(f"/records/deal/{record.id}/edit", data={"name": "Changed", "version": "1"})
    assert saved.status_code == 302


def test_a_record_id_past_bigint_is_a_404(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text"})
    assert boss.get("/records/deal/9223372036854775808").status_code == 404
    assert boss.get("/records/deal/9223372036854775808/edit").status_code == 404


def test_form_and_query_text_that_is_not_utf8_is_never_a_500(factory, boss) -> None:  # type: ignore[no-untyped-def]
    """A surrogate's UTF-8-like bytes (%ED%A0%80) in a form or a query string never reach the
    database as a lone surrogate: the form parser replaces what is not UTF-8."""
    factory.entity("deal", {"name": "text"})
    body = f"csrf_token={boss.token}&name=%ED%A0%80x"
    created = boss.client.post(
        "/records/deal/new", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert created.status_code in (302, 400, 422)
    for record in factory.records("list", "deal").items:
        assert not any(0xD800 <= ord(c) <= 0xDFFF for c in record.values["name"])
    assert boss.get("/records/deal?q=%ED%A0%80").status_code == 200
