"""First steps: a user without access is told so and whom to ask, an administrator gets
getting-started steps, and a date that does not parse says which form it expects."""

from __future__ import annotations

import pytest

from trellis.errors import ValidationFailed


def test_a_user_without_access_is_told_whom_to_ask(factory, user_with, runtime) -> None:  # type: ignore[no-untyped-def]
    from trellis.accounts import create_user

    factory.entity("deal", {"name": "text"})
    with runtime.transaction() as session:
        create_user(session, "boss", "boss-password", ["admin"], display_name="Mia Boss")
    clerk = user_with("clerk", ["user"])
    page = clerk.get("/").get_data(as_text=True)
    assert 'id="no-access"' in page
    assert "You have no access to any records yet." in page and "Ask Mia Boss" in page
    assert "Getting started" not in page


def test_an_administrator_gets_getting_started_steps(boss) -> None:  # type: ignore[no-untyped-def]
    page = boss.get("/").get_data(as_text=True)
    assert 'id="getting-started" open' in page  # nothing is set up yet: open
    assert 'href="/admin/entities/#new"' in page and 'href="/admin/roles/"' in page
    assert "You have no access" not in page


@pytest.mark.parametrize(
    ("type_name", "typed", "expected"),
    [
        ("date", "31.03.2026", "Not a date: use year-month-day, e.g. 2026-03-31."),
        ("datetime", "tomorrow", "use year-month-day and hours:minutes, e.g. 2026-03-31 14:30."),
    ],
)
def test_a_date_that_does_not_parse_says_the_expected_form(  # type: ignore[no-untyped-def]
    factory, boss, type_name, typed, expected
) -> None:
    factory.entity("task", {"name": "text", "due": type_name})
    with pytest.raises(ValidationFailed) as refused:
        factory.record("task", name="x", due=typed)
    assert expected in refused.value.errors["due"][0]
    page = boss.post("/records/task/new", data={"name": "x", "due": typed}).get_data(as_text=True)
    assert expected in page
