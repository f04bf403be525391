"""Administrators declare list indexes on an entity type's "Lists" tab: the planner creates
the index on save, a bad one shows what is wrong, removing one drops its index."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect


@pytest.fixture
def deal(factory):  # type: ignore[no-untyped-def]
    factory.entity(
        "deal",
        {
            "name": "text",
            "amount": "money",
            "status": ("list", {"settings": {"list": "status"}}),
            "tags": ("multi_list", {"settings": {"list": "status"}}),
        },
        lists={"status": ["open", "won"]},
    )


def list_indexes(runtime) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    with runtime.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1 FROM rec_deal LIMIT 0").all()  # no cached schema
        found = inspect(conn).get_indexes("rec_deal")
    return {ix["name"]: ix["column_names"] for ix in found if ix["name"].startswith("lx_")}


def test_an_administrator_adds_and_removes_a_list_index(admin, deal, runtime) -> None:  # type: ignore[no-untyped-def]
    page = admin.get("/admin/entities/deal?tab=lists").get_data(as_text=True)
    assert 'id="list-index-form"' in page and "None declared." in page
    assert 'value="status"' in page and 'id="if-tags"' not in page  # no index on a multiple choice
    response = admin.post(
        "/admin/entities/deal/list-indexes/add",
        index_key="won_recent",
        index_filters=["status"],
        index_sort="created_at",
        index_include=["amount"],
    )
    assert response.status_code == 302
    assert list_indexes(runtime) == {
        "lx_rec_deal_won_recent": ["status", "created_at", "id", "amount_amount"]
    }
    page = admin.get("/admin/entities/deal?tab=lists").get_data(as_text=True)
    assert 'data-list-index="won_recent"' in page and "waiting" not in page
    response = admin.post("/admin/entities/deal/list-indexes/won_recent/delete")
    assert response.status_code == 302
    assert list_indexes(runtime) == {}
    assert 'data-list-index="won_recent"' not in admin.get(
        "/admin/entities/deal?tab=lists"
    ).get_data(as_text=True)


def test_a_bad_list_index_shows_what_is_wrong_and_keeps_what_was_typed(
    admin, deal, page_errors, runtime
) -> None:  # type: ignore[no-untyped-def]
    response = admin.post(
        "/admin/entities/deal/list-indexes/add", index_key="Won Recent", index_filters=["status"]
    )
    assert response.status_code == 422
    errors = page_errors(response)
    assert "Won Recent" in errors["list_indexes"][0] and "Use a key of" in errors["list_indexes"][0]
    assert 'value="Won Recent"' in response.get_data(as_text=True)
    assert list_indexes(runtime) == {}


def test_a_list_index_whose_field_is_archived_waits_for_it(admin, deal, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    admin.post(
        "/admin/entities/deal/list-indexes/add", index_key="by_status", index_filters=["status"]
    )
    factory.meta("archive_field", "deal", "status")
    assert list_indexes(runtime) == {}
    page = admin.get("/admin/entities/deal?tab=lists").get_data(as_text=True)
    assert "waiting" in page
