"""List indexes an administrator declares per entity type (filters, then sort, then id, then
the fields a list only reads): kept by the schema planner like any other index, used by the
page and by its capped count."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from configured_fixtures import configured
from list_tables import indexes, load_rows, plan_of
from sqlalchemy import event, inspect

from trellis.errors import BadRequest, ValidationFailed
from trellis.metamodel.fieldtypes import registry
from trellis.records import service as record_service
from trellis.records.query import Filter

WON_RECENT = {
    "key": "won_recent",
    "filters": ["status"],
    "sort": "created_at",
    "include": ["amount"],
}
INDEX = "lx_rec_item_won_recent"


@configured
def items(factory):  # type: ignore[no-untyped-def]
    factory.entity(
        "item",
        {
            "name": "text",
            "amount": ("money", {"indexed": True}),
            "status": ("list", {"settings": {"list": "status"}}),
            "tags": ("multi_list", {"settings": {"list": "status"}}),
        },
        lists={"status": ["open", "won", "lost"]},
    )


def declare(factory, *items: dict[str, Any]):  # type: ignore[no-untyped-def]
    return factory.meta("update_entity", "item", list_indexes=list(items))


def test_the_planner_creates_and_drops_a_declared_list_index(items, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    assert INDEX not in indexes(runtime)
    entity = declare(factory, WON_RECENT)
    assert entity.list_indexes == [WON_RECENT]
    assert indexes(runtime)[INDEX] == ["status", "created_at", "id", "amount_amount"]
    # a field it names goes: so does the index (the declaration stays); it comes back with it
    factory.meta("archive_field", "item", "status")
    assert INDEX not in indexes(runtime)
    factory.meta("restore_field", "item", "status")
    assert indexes(runtime)[INDEX] == ["status", "created_at", "id", "amount_amount"]
    # a changed declaration replaces the index; none left, none kept
    declare(factory, {**WON_RECENT, "include": []})
    assert indexes(runtime)[INDEX] == ["status", "created_at", "id"]
    declare(factory, {"key": "by_owner", "filters": ["owner"], "sort": "name"})
    found = indexes(runtime)
    assert INDEX not in found
    assert found["lx_rec_item_by_owner"] == ["owner_id", "name", "id"]
    declare(factory)
    assert not [name for name in indexes(runtime) if name.startswith("lx_")]
    if runtime.engine.dialect.name == "postgresql":  # empty values first, as the lists order
        declare(factory, WON_RECENT)
        with runtime.engine.connect() as conn:
            ix = {i["name"]: i for i in inspect(conn).get_indexes("rec_item")}
        assert ix[INDEX]["column_sorting"] == {
            "status": ("nulls_first",),
            "amount_amount": ("nulls_first",),
        }


def test_an_upgrade_brings_back_a_declared_list_index(items, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    declare(factory, WON_RECENT)
    with runtime.engine.begin() as conn:  # lost, as a restored backup may lose it
        conn.exec_driver_sql(f"DROP INDEX {INDEX}")
    runtime.initialise()
    assert indexes(runtime)[INDEX] == ["status", "created_at", "id", "amount_amount"]


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"key": "x", "filters": ["nope"]}, "List index 'x': unknown field 'nope'."),
        ({"key": "x", "filters": ["tags"]}, "List index 'x': the field 'Tags' cannot be indexed."),
        ({"key": "x"}, "List index 'x': name the fields a list filters on, or its sort."),
        ({"key": "X-1", "sort": "name"}, "List index 'X-1': Use a key of 1-30 lower-case"),
        ({"key": "x", "sort": ["name"]}, "List index 'x': sort is one field key."),
        ({"key": "x", "filters": "status"}, "List index 'x': filters and include are lists"),
        ({"key": "x", "sort": "name", "unique": True}, "List index 'x': unknown property unique."),
    ],
)
def test_a_bad_declaration_is_refused_with_what_is_wrong(
    items, factory, runtime, declared, message
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as refused:
        declare(factory, declared)
    assert refused.value.errors["list_indexes"][0].startswith(message)
    assert not [name for name in indexes(runtime) if name.startswith("lx_")]


def test_keys_are_unique_and_the_count_of_indexes_is_bounded(items, factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as refused:
        declare(factory, {"key": "a", "sort": "name"}, {"key": "a", "sort": "amount"})
    assert refused.value.errors["list_indexes"] == ["List index 'a': the key is used twice."]
    with pytest.raises(ValidationFailed) as refused:
        declare(factory, *({"key": f"a{n}", "sort": "name"} for n in range(9)))
    assert refused.value.errors["list_indexes"] == ["At most 8 list indexes per entity type."]


def test_a_declaration_whose_field_was_archived_can_stay_while_others_change(
    items, factory, runtime
) -> None:  # type: ignore[no-untyped-def]
    declare(factory, WON_RECENT)
    factory.meta("archive_field", "item", "status")
    by_name = {"key": "by_name", "sort": "name"}
    declare(factory, WON_RECENT, by_name)  # as stored: kept, waiting for its field
    assert "lx_rec_item_by_name" in indexes(runtime)
    with pytest.raises(ValidationFailed):  # a new one on the archived field is refused
        declare(factory, WON_RECENT, by_name, {"key": "other", "filters": ["status"]})


# -- the page and its capped count read the declared index -----------------------------------


@configured
def loaded(items, factory, runtime):  # type: ignore[no-untyped-def]
    """12,000 rows loaded in bulk with fresh statistics, so the planner judges the filters as
    on a large table."""
    load_rows(
        runtime,
        "item",
        lambda i: {
            "amount_amount": Decimal((i * 37) % 100_000),
            "amount_currency": "EUR",
            "status": ("open", "won", "lost")[i % 3],
        },
    )


FILTERS = [Filter("amount", "gte", "50000"), Filter("status", "eq", "won")]


def plans(runtime) -> list[str]:  # type: ignore[no-untyped-def]
    """The database's plans of the statements of one list call (the page, the count)."""
    seen: list[tuple[str, Any]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "FROM rec_item" in statement and "rec_item__" not in statement:
            seen.append((statement, parameters))

    event.listen(runtime.engine, "before_cursor_execute", keep)
    try:
        with runtime.transaction(read_only=True) as session:
            page = runtime.records(session).list(
                "item", filters=FILTERS, sort=["-created_at"], per_page=50
            )
    finally:
        event.remove(runtime.engine, "before_cursor_execute", keep)
    assert page.total == 1000 and page.total_is_lower_bound
    return [plan_of(runtime, statement, parameters) for statement, parameters in seen]


def test_the_page_and_its_count_read_the_declared_index(loaded, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    before = plans(runtime)
    assert len(before) == 1  # the page, with its capped count as a column
    assert INDEX not in before[0]
    declare(factory, WON_RECENT)
    [plan] = plans(runtime)
    if runtime.engine.dialect.name == "sqlite":
        page, count = plan.split("SCALAR SUBQUERY")
        assert f"USING INDEX {INDEX}" in page or f"USING COVERING INDEX {INDEX}" in page, plan
        assert "TEMP B-TREE" not in plan, plan
        assert f"USING COVERING INDEX {INDEX}" in count, plan  # the table is not read
    else:
        assert "Sort" not in plan, plan
        assert plan.count(INDEX) == 2, plan  # the page and its count


# -- what a list request costs in Python ------------------------------------------------------


def test_filter_operands_are_read_by_each_compiled_field_s_own_input(
    items, factory, runtime, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    factory.record("item", name="a", amount={"amount": "60000", "currency": "EUR"}, status="won")
    with runtime.transaction(read_only=True) as session:
        assert runtime.records(session).list("item", filters=FILTERS).total == 1
    built = []
    for name in ("money", "list"):
        field_type = type(registry.get(name))
        original = field_type.input_field
        monkeypatch.setattr(
            field_type,
            "input_field",
            lambda self, f, m, original=original: built.append(f.key) or original(self, f, m),
        )
    for _ in range(3):  # not one marshmallow field built per filter and request
        with runtime.transaction(read_only=True) as session:
            page = runtime.records(session).list("item", filters=FILTERS)
        assert page.total == 1 and page.items[0].values["name"] == "a"
    assert built == []
    with runtime.transaction(read_only=True) as session, pytest.raises(BadRequest):
        runtime.records(session).list("item", filters=[Filter("amount", "gte", "lots")])


@pytest.mark.parametrize("cap", [1, 2, 4, 5, 100])
def test_the_count_that_comes_with_a_page_keeps_the_capped_total(
    items, factory, runtime, monkeypatch, cap
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(record_service, "COUNT_CAP", cap)
    for i in range(7):
        factory.record("item", name=f"n{i}", status="won" if i % 3 else "open")
    won = [Filter("status", "eq", "won")]
    for filters, matching in (([], 7), (won, 4)):
        seen, after, page = 0, None, 1
        while True:  # by cursor and by page number, each page in its own request
            with runtime.transaction(read_only=True) as session:
                records = runtime.records(session)
                by_cursor = records.list("item", filters=filters, per_page=2, after=after)
                by_number = records.list("item", filters=filters, per_page=2, page=page)
            assert [r.id for r in by_cursor.items] == [r.id for r in by_number.items]
            shown = len(by_cursor.items)
            bound = max(cap, shown)
            expected = (bound, True) if matching > bound else (matching, False)
            assert (by_cursor.total, by_cursor.total_is_lower_bound) == expected
            bound = max(cap, seen + shown)
            expected = (bound, True) if matching > bound else (matching, False)
            if by_number.next_cursor is None:  # the last page: counted by what it read
                expected = (matching, False)
            assert (by_number.total, by_number.total_is_lower_bound) == expected
            seen += shown
            after, page = by_cursor.next_cursor, page + 1
            if after is None:
                break
        assert seen == matching


def test_a_page_by_cursor_brings_its_count_in_the_same_statement(items, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        factory.record("item", name=f"n{i}", status="won")
    with runtime.transaction(read_only=True) as session:
        first = runtime.records(session).list("item", per_page=2, sort=["-created_at"])
    statements: list[str] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "FROM rec_item" in statement and "rec_item__" not in statement:
            statements.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", keep)
    try:
        with runtime.transaction(read_only=True) as session:
            second = runtime.records(session).list(
                "item", per_page=2, sort=["-created_at"], after=first.next_cursor
            )
    finally:
        event.remove(runtime.engine, "before_cursor_execute", keep)
    assert (second.total, second.total_is_lower_bound) == (5, False)
    assert len(second.items) == 2 and len(statements) == 1, statements
