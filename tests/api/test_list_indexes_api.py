"""List indexes through the metamodel API: declared with ``PATCH /api/meta/entities/<key>``
(the whole set), shown with the entity type, refused with what is wrong."""

from __future__ import annotations

import pytest
from api_helpers import assert_problem
from sqlalchemy import inspect

WON = {"key": "won_recent", "filters": ["status"], "sort": "created_at", "include": ["amount"]}


@pytest.fixture
def deal(admin):  # type: ignore[no-untyped-def]
    admin.ok(
        "POST",
        "/api/meta/lists",
        {
            "key": "status",
            "label": "Status",
            "options": [{"key": "open", "label": "Open"}, {"key": "won", "label": "Won"}],
        },
        201,
    )
    admin.ok("POST", "/api/meta/entities", {"key": "deal", "label": "Deal"}, 201)
    for body in (
        {"key": "name", "label": "Name", "type": "text"},
        {"key": "amount", "label": "Amount", "type": "money"},
        {"key": "status", "label": "Status", "type": "list", "settings": {"list": "status"}},
    ):
        admin.ok("POST", "/api/meta/entities/deal/fields", body, 201)
    return admin


def index_columns(runtime) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    with runtime.engine.connect() as conn:
        # a statement first: SQLite's PRAGMAs read a pooled connection's cached schema without
        # checking whether another connection (the app's) changed it
        conn.exec_driver_sql("SELECT 1 FROM rec_deal LIMIT 0").all()
        found = inspect(conn).get_indexes("rec_deal")
    return {ix["name"]: ix["column_names"] for ix in found if ix["name"].startswith("lx_")}


def test_an_administrator_declares_shows_and_removes_list_indexes(deal, runtime) -> None:  # type: ignore[no-untyped-def]
    body = deal.ok("PATCH", "/api/meta/entities/deal", {"list_indexes": [WON]})
    assert body["list_indexes"] == [WON]
    assert deal.ok("GET", "/api/meta/entities/deal")["list_indexes"] == [WON]
    assert index_columns(runtime) == {
        "lx_rec_deal_won_recent": ["status", "created_at", "id", "amount_amount"]
    }
    body = deal.ok(
        "PATCH", "/api/meta/entities/deal", {"list_indexes": [{"key": "by_name", "sort": "name"}]}
    )
    assert body["list_indexes"] == [
        {"key": "by_name", "filters": [], "sort": "name", "include": []}
    ]
    assert index_columns(runtime) == {"lx_rec_deal_by_name": ["name", "id"]}
    assert deal.ok("PATCH", "/api/meta/entities/deal", {"list_indexes": []})["list_indexes"] == []
    assert index_columns(runtime) == {}


def test_a_bad_list_index_is_a_problem_naming_it(deal, runtime) -> None:  # type: ignore[no-untyped-def]
    response = deal.patch(
        "/api/meta/entities/deal", {"list_indexes": [{"key": "x", "filters": ["nope"]}]}
    )
    body = assert_problem(response, 422, "list_indexes")
    assert body["errors"]["list_indexes"] == ["List index 'x': unknown field 'nope'."]
    response = deal.patch("/api/meta/entities/deal", {"list_indexes": [{"key": "x", "sort": 3}]})
    assert_problem(response, 422)
    response = deal.patch("/api/meta/entities/deal", {"list_indexes": [{"sort": "name"}]})
    assert_problem(response, 422)
    assert index_columns(runtime) == {}


def test_only_administrators_declare_list_indexes(deal, user) -> None:  # type: ignore[no-untyped-def]
    response = user("ann", ["user"]).patch("/api/meta/entities/deal", {"list_indexes": [WON]})
    assert response.status_code in (403, 404)
