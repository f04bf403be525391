"""Lists at index speed: the capped total, keyset cursors, the list indexes the planner keeps,
and first-page queries that an index serves without sorting."""

from __future__ import annotations

from typing import Any

import pytest
from configured_fixtures import configured
from list_tables import indexes, load_rows, plan_of
from sqlalchemy import event, inspect

from trellis.access.grants import create_role, set_grant
from trellis.accounts import SYSTEM, Actor, create_user
from trellis.errors import BadRequest
from trellis.records import service as record_service
from trellis.records.query import Filter

SCORES = [3, None, 1, 1, None, 2, 3, 1, None, 2, 2, 3, None, 1, 3, 2, None, 1]


@configured
def items(factory):  # type: ignore[no-untyped-def]
    factory.entity(
        "item",
        {
            "name": ("text", {"indexed": True}),
            "score": ("integer", {"indexed": True}),
            "status": ("list", {"settings": {"list": "status"}, "indexed": True}),
        },
        lists={"status": ["open", "won"]},
    )
    made = []
    for i, score in enumerate(SCORES):
        name = None if i % 5 == 0 else f"n{i % 4}"  # ties and empty values
        status = "won" if i % 2 else "open"
        made.append(factory.record("item", name=name, score=score, status=status))
    return made


def walk(runtime, actor=SYSTEM, per_page: int = 4, **kwargs: Any) -> list[int]:  # type: ignore[no-untyped-def]
    """Every record of a list, read page after page by cursor, each page in its own request."""
    seen: list[int] = []
    after = None
    for _ in range(100):
        with runtime.transaction() as session:
            page = runtime.records(session, actor).list(
                "item", per_page=per_page, after=after, **kwargs
            )
        seen += [r.id for r in page.items]
        assert len(page.items) <= per_page
        after = page.next_cursor
        if after is None:
            return seen
    raise AssertionError("the cursor never reached the end")


def expected(records, key: str, descending: bool) -> list[int]:  # type: ignore[no-untyped-def]
    """The documented order: empty values first going up, last going down; then id the same
    way as the key."""

    def value(r):  # type: ignore[no-untyped-def]
        return r.values[key] if key in r.values else getattr(r, key)

    empty = [r for r in records if value(r) is None]
    full = [r for r in records if value(r) is not None]
    full.sort(key=lambda r: (value(r), r.id), reverse=descending)
    empty.sort(key=lambda r: r.id, reverse=descending)
    return [r.id for r in (full + empty if descending else empty + full)]


@pytest.mark.parametrize("key", ["score", "name", "created_at", "id"])
@pytest.mark.parametrize("descending", [False, True])
def test_a_cursor_walks_every_record_once_in_order_with_ties_and_empty_values(
    items, runtime, key: str, descending: bool
) -> None:  # type: ignore[no-untyped-def]
    sort = [f"-{key}" if descending else key]
    assert walk(runtime, sort=sort) == expected(items, key, descending)
    # offset paging gives the same order
    with runtime.transaction() as session:
        whole = runtime.records(session).list("item", sort=sort, per_page=100)
    assert [r.id for r in whole.items] == expected(items, key, descending)


def test_a_cursor_with_no_sort_is_newest_first_and_with_two_keys_still_exact(
    items, runtime
) -> None:  # type: ignore[no-untyped-def]
    assert walk(runtime) == sorted(r.id for r in items)[::-1]
    with runtime.transaction() as session:
        whole = runtime.records(session).list("item", sort=["score", "-name"], per_page=100)
    assert walk(runtime, sort=["score", "-name"], per_page=3) == [r.id for r in whole.items]


def test_a_cursor_keeps_the_filters_and_the_callers_scope(items, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        create_role(session, SYSTEM, "own_only", "Own only")
        grant = {"create": True, "read": "own", "update": "own", "delete": "none"}
        set_grant(session, SYSTEM, runtime.model(session), "own_only", "item", grant)
        sam = Actor.of(create_user(session, "sam", "sam-password-1", ["own_only"]))
    mine = [
        factory.record("item", actor=sam, name=f"s{i}", score=i % 3 or None, status="won")
        for i in range(7)
    ]
    filters = [Filter("score", "gte", "1")]
    got = walk(runtime, sam, per_page=2, sort=["-score"], filters=filters)
    wanted = [r for r in mine if r.values["score"] is not None]
    assert got == expected(wanted, "score", True)
    everyone = walk(runtime, per_page=5, sort=["-score"], filters=filters)
    assert set(got) < set(everyone)
    assert len(everyone) == len(set(everyone))


def test_a_cursor_from_another_sort_or_made_up_is_refused(items, runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        service = runtime.records(session)
        cursor = service.list("item", sort=["score"], per_page=2).next_cursor
        assert cursor
        for sort, bad in ((["-score"], cursor), (["score"], "bm90IGEgY3Vyc29y"), (["score"], "!")):
            with pytest.raises(BadRequest) as refused:
                service.list("item", sort=sort, after=bad)
            assert "after" in refused.value.errors


def test_the_total_is_counted_up_to_a_cap_unless_the_exact_count_is_asked(
    items, runtime, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(record_service, "COUNT_CAP", 5)
    n = len(SCORES)
    with runtime.transaction() as session:
        service = runtime.records(session)
        first = service.list("item", per_page=3)
        assert (first.total, first.total_is_lower_bound) == (5, True)
        exact = service.list("item", per_page=3, exact_total=True)
        assert (exact.total, exact.total_is_lower_bound) == (n, False)
        # past the cap: at least what was paged through
        deep = service.list("item", per_page=3, page=3)
        assert (deep.total, deep.total_is_lower_bound) == (9, True)
        # the last page knows the total without counting
        last = service.list("item", per_page=5, page=4)
        assert (last.total, last.total_is_lower_bound, last.next_cursor) == (n, False, None)
        few = service.list("item", filters=[Filter("score", "eq", "2")], per_page=3)
        assert (few.total, few.total_is_lower_bound) == (SCORES.count(2), False)


# -- the list indexes ------------------------------------------------------------------------


def test_the_planner_keeps_the_list_indexes_as_fields_come_and_go(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("item", {"name": "text", "code": ("text", {"indexed": True})})
    found = indexes(runtime)
    for name, columns in {
        "ix_rec_item_created_at": ["created_at", "id"],
        "ix_rec_item_updated_at": ["updated_at", "id"],
        "ix_rec_item_owner_id": ["owner_id", "id"],
        "ix_rec_item_pipeline_stage": ["pipeline", "stage", "updated_at", "id"],
        "ix_rec_item_code": ["code", "id"],
    }.items():
        assert found.get(name) == columns, name
    assert "ix_rec_item_name" not in found
    factory.meta("add_field", "item", "rank", "Rank", "integer", indexed=True)
    assert indexes(runtime)["ix_rec_item_rank"] == ["rank", "id"]
    factory.meta("archive_field", "item", "code")
    assert "ix_rec_item_code" not in indexes(runtime)
    factory.meta("restore_field", "item", "code")
    assert indexes(runtime)["ix_rec_item_code"] == ["code", "id"]
    factory.meta("update_field", "item", "rank", indexed=False)
    assert "ix_rec_item_rank" not in indexes(runtime)
    factory.meta("update_field", "item", "name", indexed=True)
    assert indexes(runtime)["ix_rec_item_name"] == ["name", "id"]
    if runtime.engine.dialect.name == "postgresql":
        with runtime.engine.connect() as conn:
            ix = {i["name"]: i for i in inspect(conn).get_indexes("rec_item")}
        assert ix["ix_rec_item_name"]["column_sorting"] == {"name": ("nulls_first",)}


# -- the first page is read through an index ---------------------------------------------------


def first_page_plan(runtime, **kwargs: Any) -> str:  # type: ignore[no-untyped-def]
    """The database's plan of the page query of ``RecordService.list(**kwargs)``."""
    seen: list[tuple[str, Any]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "FROM rec_item" in statement and "ORDER BY" in statement:
            seen.append((statement, parameters))

    event.listen(runtime.engine, "before_cursor_execute", keep)
    try:
        with runtime.transaction() as session:
            runtime.records(session).list("item", per_page=50, **kwargs)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", keep)
    statement, parameters = seen[0]
    return plan_of(runtime, statement, parameters)


@configured
def loaded(items, runtime):  # type: ignore[no-untyped-def]
    """12,000 more rows loaded in bulk (as an import does), then fresh statistics, so the
    planner judges the filters as it would on a large table."""
    load_rows(
        runtime,
        "item",
        lambda i: {
            "name": f"n{i % 50}" if i % 7 else None,
            "score": i % 100 if i % 11 else None,
            "status": ("open", "won", "lost")[i % 3],
        },
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"sort": ["-created_at"]},
        {"sort": ["-created_at"], "filters": [Filter("status", "eq", "won")]},
        {"sort": ["name"]},
        {"sort": ["-score"], "filters": [Filter("score", "gte", "2")]},
        {"sort": ["-updated_at"], "filters": [Filter("status", "in", "won,lost")]},
    ],
)
def test_the_first_page_is_read_in_index_order_without_sorting(loaded, runtime, kwargs) -> None:  # type: ignore[no-untyped-def]
    plan = first_page_plan(runtime, **kwargs)
    if runtime.engine.dialect.name == "sqlite":
        assert "TEMP B-TREE" not in plan, plan
        assert "USING INDEX" in plan or "SCAN rec_item" in plan, plan
    else:
        assert "Sort" not in plan, plan
        assert "Index" in plan, plan


def test_an_upgrade_brings_the_list_indexes_to_tables_of_older_versions(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("item", {"name": "text", "code": ("text", {"indexed": True})})
    factory.record("item", name="a", code="A")
    with runtime.engine.begin() as conn:  # as an older version left them
        for name in ("ix_rec_item_created_at", "ix_rec_item_owner_id", "ix_rec_item_code"):
            conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.exec_driver_sql("CREATE INDEX ix_rec_item_owner_id ON rec_item (owner_id)")
    assert "ix_rec_item_created_at" not in indexes(runtime)
    runtime.initialise()
    found = indexes(runtime)
    assert found["ix_rec_item_created_at"] == ["created_at", "id"]
    assert found["ix_rec_item_owner_id"] == ["owner_id", "id"]
    assert found["ix_rec_item_code"] == ["code", "id"]
    runtime.initialise()  # nothing left to do
    assert indexes(runtime) == found
