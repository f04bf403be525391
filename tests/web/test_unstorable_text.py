"""A NUL character in a page's URL (a search, a filter, a typed name) is a 400 that says what
is wrong, on both databases, never the database's error as a 500 (PostgreSQL refuses NUL in
any text, even as an operand); the API refuses it the same way (tests/api)."""

from __future__ import annotations

import pytest


@pytest.fixture
def deals(factory):  # type: ignore[no-untyped-def]
    factory.entity(
        "deal",
        {"name": "text", "kind": ("list", {"settings": {"list": "k"}})},
        title="{name}",
        lists={"k": ["a", "b"]},
    )
    factory.record("deal", name="Deal 1", kind="a")
    return factory


@pytest.mark.parametrize(
    "url",
    [
        "/records/deal?q=a%00b",
        "/records/deal?name=a%00b",
        "/records/deal?name__contains=a%00b",
        "/records/deal?kind=a%00b",
        "/records/deal?name__in=a%00b,c",
        "/records/deal/lookup?q=a%00b",
        "/records/deal/export.csv?q=a%00b",
        "/records/deal?a%00b=1",
        "/admin/?q=a%00b",
    ],
)
def test_a_nul_in_a_query_parameter_is_a_clear_400(deals, boss, url) -> None:  # type: ignore[no-untyped-def]
    response = boss.get(url)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "must not contain NUL characters" in page


def test_a_nul_in_a_page_path_is_a_404(deals, boss) -> None:  # type: ignore[no-untyped-def]
    assert boss.get("/records/de%00al").status_code == 404


def test_the_same_searches_without_nul_still_answer(deals, boss) -> None:  # type: ignore[no-untyped-def]
    assert "Deal 1" in boss.get("/records/deal?q=Deal").get_data(as_text=True)
    assert boss.get("/records/deal/lookup?q=Dea").json[0]["title"] == "Deal 1"
