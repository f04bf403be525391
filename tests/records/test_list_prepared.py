"""List pages by statements prepared once per entity type and shape (records.prepared): the
same shape with other values, another caller, another page gives the rows it should, and the
permission policy (read scope, hidden fields) holds on that path."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from trellis.access.grants import create_role, set_grant
from trellis.accounts import SYSTEM, Actor, create_user
from trellis.errors import BadRequest
from trellis.records.query import Filter

SCORES = [5, 1, None, 3, 8, 2, 5, None, 9, 4, 7, 1]


@pytest.fixture
def items(factory):  # type: ignore[no-untyped-def]
    factory.entity(
        "item",
        {
            "name": ("text", {}),
            "score": ("integer", {}),
            "secret": ("text", {}),
            "done": ("boolean", {}),
            "price": ("money", {"settings": {"currencies": ["EUR"]}}),
        },
    )
    return [
        factory.record(
            "item",
            name=f"n{i % 3}",
            score=score,
            secret=f"s{i}",
            done=i % 2 == 0,
            price={"amount": str(i * 10), "currency": "EUR"} if i % 4 else None,
        )
        for i, score in enumerate(SCORES)
    ]


def listed(runtime, actor=SYSTEM, **kwargs: Any):  # type: ignore[no-untyped-def]
    with runtime.transaction(read_only=True) as session:
        return runtime.records(session, actor).list("item", **kwargs)


def statements(runtime) -> dict[Any, Any]:  # type: ignore[no-untyped-def]
    with runtime.transaction(read_only=True) as session:
        return runtime.model(session).entities["item"].page_statements


def ids(page) -> list[int]:  # type: ignore[no-untyped-def]
    return [r.id for r in page.items]


def test_one_statement_per_shape_gives_the_rows_of_each_requests_values(items, runtime) -> None:  # type: ignore[no-untyped-def]
    statements(runtime).clear()
    for low in (1, 4, 6, 10):
        page = listed(runtime, filters=[Filter("score", "gte", str(low))], sort=["-score"])
        wanted = [r for r in items if r.values["score"] is not None and r.values["score"] >= low]
        wanted.sort(key=lambda r: (r.values["score"], r.id), reverse=True)
        assert ids(page) == [r.id for r in wanted]
        assert (page.total, page.total_is_lower_bound) == (len(wanted), False)
    for name in ("n0", "n2"):
        page = listed(runtime, filters=[Filter("name", "eq", name)])
        assert ids(page) == sorted((r.id for r in items if r.values["name"] == name), reverse=True)
    for amount in ("30", "75"):
        page = listed(runtime, filters=[Filter("price", "lt", amount)], sort=["id"])
        wanted = [
            r.id
            for r in items
            if r.values["price"] is not None and r.values["price"][0] < int(amount)
        ]
        assert ids(page) == wanted
    # one statement for each of the three shapes, whatever the values
    assert len(statements(runtime)) == 3


def test_in_lists_of_any_length_share_one_statement(items, runtime) -> None:  # type: ignore[no-untyped-def]
    statements(runtime).clear()
    for chosen in ([items[0].id], [items[1].id, items[5].id, items[9].id], [10**9]):
        page = listed(runtime, filters=[Filter("id", "in", ",".join(map(str, chosen)))])
        assert ids(page) == sorted((i for i in chosen if i < 10**9), reverse=True)
    assert len(statements(runtime)) == 1


def test_operands_that_change_the_sql_make_shapes_of_their_own(items, runtime) -> None:  # type: ignore[no-untyped-def]
    statements(runtime).clear()
    empty = listed(runtime, filters=[Filter("score", "isnull", "true")])
    full = listed(runtime, filters=[Filter("score", "isnull", "false")])
    assert set(ids(empty)) == {r.id for r in items if r.values["score"] is None}
    assert set(ids(full)) == {r.id for r in items if r.values["score"] is not None}
    done = listed(runtime, filters=[Filter("done", "eq", "true")])
    open_ = listed(runtime, filters=[Filter("done", "eq", "false")])
    assert set(ids(done)) == {r.id for r in items if r.values["done"]}
    assert set(ids(open_)) == {r.id for r in items if not r.values["done"]}
    assert len(statements(runtime)) == 4


def test_pages_and_their_capped_counts_come_from_one_statement(items, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from trellis.records import service as record_service

    monkeypatch.setattr(record_service, "COUNT_CAP", 3)
    statements(runtime).clear()
    everyone = [r.id for r in sorted(items, key=lambda r: r.id, reverse=True)]
    seen = []
    for number in (1, 2, 3, 4, 5):
        page = listed(runtime, page=number, per_page=3)
        seen += ids(page)
        shown = (number - 1) * 3 + len(page.items)
        if shown < len(everyone):  # counted up to the cap, or past the page asked for
            assert page.total_is_lower_bound
            assert page.total == max(3, shown)
        else:
            assert (page.total, page.total_is_lower_bound) == (len(everyone), False)
    assert seen == everyone
    assert len(statements(runtime)) == 1


def test_each_caller_gets_their_own_records_from_one_statement(items, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        create_role(session, SYSTEM, "own_only", "Own only")
        grant = {
            "create": True,
            "read": "own",
            "update": "own",
            "delete": "none",
            "fields": {"secret": "hidden"},
        }
        set_grant(session, SYSTEM, runtime.model(session), "own_only", "item", grant)
        sam = Actor.of(create_user(session, "sam", "sam-password-1", ["own_only"]))
        kim = Actor.of(create_user(session, "kim", "kim-password-1", ["own_only"]))
    sams = [factory.record("item", actor=sam, name="x", score=i) for i in range(3)]
    kims = [factory.record("item", actor=kim, name="x", score=i) for i in range(2)]
    statements(runtime).clear()
    for actor, theirs in ((sam, sams), (kim, kims), (sam, sams)):
        page = listed(runtime, actor, filters=[Filter("name", "eq", "x")])
        assert ids(page) == sorted((r.id for r in theirs), reverse=True)
        assert (page.total, page.total_is_lower_bound) == (len(theirs), False)
        assert all("secret" not in r.values for r in page.items)
        # a hidden field is as unknown as one that does not exist, to filter or sort with
        for kwargs in ({"filters": [Filter("secret", "eq", "s1")]}, {"sort": ["secret"]}):
            with pytest.raises(BadRequest):
                listed(runtime, actor, **kwargs)
    assert len(statements(runtime)) == 1
    everyone = listed(runtime, filters=[Filter("name", "eq", "x")])
    assert len(everyone.items) == 5
    assert all("secret" in r.values for r in everyone.items)


def test_a_prepared_page_is_one_statement_that_builds_nothing_again(items, runtime) -> None:  # type: ignore[no-untyped-def]
    filters = [Filter("score", "gte", "2"), Filter("name", "ne", "n1")]
    listed(runtime, filters=filters, sort=["-score"])
    kept = next(iter(statements(runtime).values()))
    assert len(kept.selects) == 1  # one statement: the page, its count a column
    (direct,) = kept.direct(runtime.engine.dialect)
    built, ran = [], []

    def note(conn, clauseelement, multiparams, params, execution_options) -> None:  # type: ignore[no-untyped-def]
        built.append(clauseelement)

    def run(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        ran.append(statement)

    event.listen(runtime.engine, "before_execute", note)
    event.listen(runtime.engine, "before_cursor_execute", run)
    try:
        again = [Filter("score", "gte", "6"), Filter("name", "ne", "n0")]
        page = listed(runtime, filters=again, sort=["-score"])
    finally:
        event.remove(runtime.engine, "before_execute", note)
        event.remove(runtime.engine, "before_cursor_execute", run)
    # the kept statement, compiled once, runs on the driver's cursor: SQLAlchemy neither
    # executes a statement object for the page nor compiles one
    assert kept.direct(runtime.engine.dialect) == (direct,)
    assert not [s for s in built if "FROM rec_item" in str(s)]
    assert [s for s in ran if "FROM rec_item" in s] == [direct.compiled.string]
    wanted = [
        r.id
        for r in items
        if r.values["score"] is not None and r.values["score"] >= 6 and r.values["name"] != "n0"
    ]
    assert set(ids(page)) == set(wanted)
    assert [r.values["score"] for r in page.items] == sorted(
        (r.values["score"] for r in page.items), reverse=True
    )


def walk(runtime, actor=SYSTEM, per_page: int = 2, **kwargs: Any) -> list[int]:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    after = None
    for _ in range(50):
        page = listed(runtime, actor, per_page=per_page, after=after, **kwargs)
        seen += ids(page)
        after = page.next_cursor
        if after is None:
            return seen
    raise AssertionError("the cursor never reached the end")


@pytest.mark.parametrize("sort", [["-score"], ["score"], ["name", "-score"], ["-created_at"]])
def test_pages_by_cursor_are_prepared_with_the_cursors_values_bound(items, runtime, sort) -> None:  # type: ignore[no-untyped-def]
    statements(runtime).clear()
    for low in ("1", "4"):
        filters = [Filter("score", "gte", low)] if sort != ["-score"] else []
        whole = listed(runtime, filters=filters, sort=sort, per_page=100)
        assert walk(runtime, filters=filters, sort=sort) == ids(whole)
        assert walk(runtime, filters=filters, sort=sort, per_page=5) == ids(whole)
    # a shape per page kind and per which of the cursor's values are empty, not per value
    assert len(statements(runtime)) <= 6


def test_the_shapes_kept_are_bounded(items, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from trellis.records import prepared

    monkeypatch.setattr(prepared, "MAX_SHAPES", 3)
    statements(runtime).clear()
    sorts = [["score"], ["-score"], ["name"], ["-name"], ["id"]]
    for sort in sorts:
        assert len(listed(runtime, sort=sort).items) == len(items)
    kept = statements(runtime)
    assert len(kept) == 3
    assert [key[1][0] for key in kept] == [("name", False), ("name", True), ("id", False)]
