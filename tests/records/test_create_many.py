"""``RecordService.create_many``: the same records, audit rows, stage visits, side rows,
versions, events and messages as one ``create`` per record, in one INSERT per table; every
problem of every record reported by its index, and nothing written when there is any."""

from __future__ import annotations

from typing import Any

import pytest
from configured_fixtures import configured
from sqlalchemy import func, select

from trellis.access.grants import create_role, set_grant
from trellis.accounts import SYSTEM, Actor, create_user
from trellis.errors import BadRequest, PermissionDenied, ValidationFailed
from trellis.records.audit import AuditEvent, StageVisit
from trellis.records.service import NewRecord, RowsInvalid

FIELDS: dict[str, Any] = {
    "name": ("text", {"required": True}),
    "code": ("text", {"unique": True}),
    "notes": "long_text",
    "quantity": ("integer", {"settings": {"min": 0}}),
    "rate": ("decimal", {"settings": {"precision": 12, "scale": 2}}),
    "price": ("money", {"settings": {"currencies": ["EUR", "USD"]}}),
    "active": "boolean",
    "due": "date",
    "email": "email",
    "status": ("list", {"settings": {"list": "status"}}),
    "tags": ("multi_list", {"settings": {"list": "tag"}}),
    "company": ("reference", {"settings": {"target": "company"}}),
}

INPUTS: list[dict[str, Any]] = [
    {
        "name": "  Apollo ",
        "code": "A-1",
        "notes": "two\nlines",
        "quantity": "60",
        "rate": "12.5",
        "price": {"amount": "10.50", "currency": "USD"},
        "active": True,
        "due": "2026-11-24",
        "email": "a@example.com",
        "status": "won",
        "tags": ["blue", "red"],
    },
    {"name": "Zeus", "quantity": 3, "tags": []},
    {"name": "Hera", "code": "H-1", "price": {"amount": "1"}, "status": "open"},
]


@configured
def shop(factory):  # type: ignore[no-untyped-def]
    """Two entity types defined alike (``item_a`` and ``item_b``), so one can be filled by
    single creates and the other by a batch, and a company to refer to."""
    factory.entity("company", {"name": "text"}, title="{name}")
    for key in ("item_a", "item_b"):
        factory.entity(
            key,
            FIELDS,
            title="{name} {code}",
            pipelines={"sales": ["new", "won:success"]},
            lists={"status": ["open", "won"], "tag": ["red", "blue", "green"]},
        )
        factory.meta("add_rule", key, "required", field="email", when="quantity > 50")
        factory.meta(
            "add_rule",
            key,
            "validation",
            expression="rate is None or rate >= 0",
            message="No negative rates.",
        )
    company = factory.record("company", name="Acme")
    INPUTS[1]["company"] = company.id
    return factory


def _stored(runtime, entity: str, ids: list[int]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Everything stored about the records ``ids`` of ``entity``, ids replaced by their
    position and moments left out (they differ by the time it took)."""
    position = {record_id: n for n, record_id in enumerate(ids)}
    with runtime.transaction() as session:
        model = runtime.model(session)
        ent = model.entities[entity]
        moments = {"id", "created_at", "updated_at"}
        rows = session.execute(select(ent.table).where(ent.table.c.id.in_(ids)).order_by("id"))
        records = [
            {"#": position[r["id"]], **{k: v for k, v in r.items() if k not in moments}}
            for r in rows.mappings()
        ]
        side = ent.side_tables["tags"]
        tags = sorted(
            (position[r.record_id], r.value)
            for r in session.execute(select(side).where(side.c.record_id.in_(ids)))
        )
        audits = [
            (position[a.record_id], a.action, a.by, a.changes)
            for a in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity == entity, AuditEvent.record_id.in_(ids))
                .order_by(AuditEvent.id)
            )
        ]
        visits = [
            (position[v.record_id], v.pipeline, v.stage, v.entered_by, v.left_at)
            for v in session.scalars(
                select(StageVisit)
                .where(StageVisit.entity == entity, StageVisit.record_id.in_(ids))
                .order_by(StageVisit.id)
            )
        ]
    return {"records": records, "tags": tags, "audits": audits, "visits": visits}


def _events(runtime) -> list[tuple[str, int, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    seen: list[tuple[str, int, dict[str, Any]]] = []
    runtime.events.subscribe("*", lambda _s, e: seen.append((e.kind, e.record_id, e.changes)))
    return seen


class _Undo(Exception):
    pass


def _create_problems(runtime, entity, data, actor=SYSTEM, before=(), **placement):  # type: ignore[no-untyped-def]
    """What ``create`` reports for ``data`` (after creating ``before``), nothing kept."""
    try:
        with runtime.transaction() as session:
            records = runtime.records(session, actor)
            for earlier in before:
                records.create(entity, earlier)
            try:
                records.create(entity, data, **placement)
                problems = None
            except ValidationFailed as exc:
                problems = exc.errors
            except BadRequest as exc:  # not an object of values
                problems = {"_record": [exc.detail]}
            raise _Undo
    except _Undo:
        return problems


def test_a_batch_stores_exactly_what_single_creates_store(shop, runtime) -> None:  # type: ignore[no-untyped-def]
    events = _events(runtime)
    with runtime.transaction() as session:
        records = runtime.records(session)
        singles = [records.create("item_a", data) for data in INPUTS]
        singles.append(records.create("item_a", {"name": "Late"}, stage="won", owner_id=None))
    single_events = list(events)
    events.clear()
    with runtime.transaction() as session:
        batch = runtime.records(session).create_many(
            "item_b", [*INPUTS, NewRecord({"name": "Late"}, stage="won")]
        )
    assert len(batch) == len(singles) == 4
    for one, many in zip(singles, batch, strict=True):
        assert (many.values, many.version, many.title, many.pipeline, many.stage) == (
            one.values,
            one.version,
            one.title,
            one.pipeline,
            one.stage,
        )
        assert (many.created_by, many.owner_id) == (one.created_by, one.owner_id)
    assert batch[0].values["tags"] == ("red", "blue")  # the list's order, as create keeps it
    stored_singles = _stored(runtime, "item_a", [r.id for r in singles])
    assert _stored(runtime, "item_b", [r.id for r in batch]) == stored_singles
    assert stored_singles["audits"][0][3]["price"] == [None, {"amount": "10.50", "currency": "USD"}]
    # one event per record, in order, with the same changes
    ids_a = {r.id: n for n, r in enumerate(singles)}
    ids_b = {r.id: n for n, r in enumerate(batch)}
    assert [(k, ids_b[i], c) for k, i, c in events] == [
        (k, ids_a[i], c) for k, i, c in single_events
    ]


def test_without_a_handler_for_them_no_events_are_made_and_the_audit_is_the_same(  # type: ignore[no-untyped-def]
    shop, runtime
) -> None:
    seen: list[Any] = []
    asked: list[str] = []

    def only_item_a(_session: Any, _kind: str, entity: str) -> bool:
        asked.append(entity)
        return entity == "item_a"

    runtime.events.subscribe("created", lambda _s, e: seen.append(e), only_item_a)
    with runtime.transaction() as session:
        records = runtime.records(session)
        a = records.create_many("item_a", INPUTS)
        b = records.create_many("item_b", INPUTS)
    assert asked == ["item_a", "item_b"]  # once per batch
    assert [(e.entity, e.record_id) for e in seen] == [("item_a", r.id) for r in a]
    stored_a = _stored(runtime, "item_a", [r.id for r in a])
    assert _stored(runtime, "item_b", [r.id for r in b]) == stored_a
    # the event has each value as it is; the audit row has its stored form
    assert seen[0].changes["price"] == (None, a[0].values["price"])
    assert stored_a["audits"][0][3]["price"] == [None, {"amount": "10.50", "currency": "USD"}]
    assert set(seen[0].changes) == set(stored_a["audits"][0][3])


def test_every_problem_of_every_record_is_reported_by_index_and_nothing_is_written(
    shop, runtime
) -> None:  # type: ignore[no-untyped-def]
    bad = {
        1: {"name": "", "email": "nope", "quantity": 70, "rate": "-1"},
        3: {"name": "x", "colour": "red", "id": 4, "status": "gone"},
        4: {"name": "Copy", "code": "A-1"},  # the code of record 0 of the same batch
        5: "not an object",
    }
    far = {"name": "Far", "company": 999999}
    batch = [INPUTS[0], bad[1], INPUTS[1], bad[3], bad[4], bad[5], NewRecord(far, stage="nowhere")]
    with runtime.transaction() as session, pytest.raises(RowsInvalid) as failure:
        runtime.records(session).create_many("item_b", batch)
    # each record's problems are those `create` reports for it (record 4 after record 0)
    expected = {
        index: _create_problems(runtime, "item_b", data, before=[INPUTS[0]] if index == 4 else [])
        for index, data in bad.items()
    }
    expected[6] = _create_problems(runtime, "item_b", far, stage="nowhere")
    assert failure.value.rows == expected
    assert set(failure.value.errors) == {"1", "3", "4", "5", "6"}
    assert expected[4] == {"code": ["Another Item_B has this Code already."]}
    assert expected[1]["email"] and expected[1]["_record"] == ["No negative rates."]
    with runtime.transaction() as session:
        table = runtime.model(session).entities["item_b"].table
        assert session.scalar(select(func.count()).select_from(table)) == 0
        assert (
            session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.entity == "item_b")
            )
            == 0
        )


def test_a_placement_shared_by_records_is_checked_for_each_as_create_does(shop, runtime) -> None:  # type: ignore[no-untyped-def]
    """A batch works out each placement once; every record still gets its own problems."""
    asked = [
        ({"name": "a"}, "sales", "won"),
        ({"name": "b"}, None, "nowhere"),
        ({"name": "c"}, None, "nowhere"),
        ({"name": "d"}, "nope", None),
        ({"name": "e"}, ["sales"], None),
        ({"name": "f"}, ["sales"], None),
        ({"name": "g", "stage": "won"}, None, "nowhere"),
        ({"name": "h"}, "sales", "won"),
    ]
    batch = [NewRecord(data, pipeline, stage) for data, pipeline, stage in asked]
    with runtime.transaction() as session, pytest.raises(RowsInvalid) as failure:
        runtime.records(session).create_many("item_b", batch)
    expected = {
        index: problems
        for index, (data, pipeline, stage) in enumerate(asked)
        if (problems := _create_problems(runtime, "item_b", data, pipeline=pipeline, stage=stage))
    }
    assert failure.value.rows == expected
    assert set(expected) == {1, 2, 3, 4, 5, 6}
    assert expected[4] == expected[5] == {"pipeline": ["Expected a key (text)."]}
    with runtime.transaction() as session:
        created = runtime.records(session).create_many("item_b", [batch[0], batch[7]])
    assert [(r.pipeline, r.stage) for r in created] == [("sales", "won")] * 2


def test_defaults_are_filled_in_for_each_record_of_a_batch(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "note",
        {
            "heading": ("text", {"default": "Untitled"}),
            "tags": ("multi_list", {"settings": {"list": "tag"}, "default": ["red"]}),
        },
        lists={"tag": ["red", "blue"]},
    )
    with runtime.transaction() as session:
        records = runtime.records(session)
        single = records.create("note", {})
        batch = records.create_many("note", [{}, {"heading": "Own"}, {}])
    assert [r.values["heading"] for r in batch] == ["Untitled", "Own", "Untitled"]
    assert [r.values["tags"] for r in batch] == [single.values["tags"]] * 3
    assert len({id(r.values) for r in batch}) == 3  # (each record its own values)
    assert type(single.values["tags"]) is tuple  # (so the values to start from are shared)


def test_a_value_freed_by_a_refused_record_is_not_taken_in_the_batch(shop, runtime) -> None:  # type: ignore[no-untyped-def]
    """As with single creates: a refused record does not take its unique value."""
    with runtime.transaction() as session, pytest.raises(RowsInvalid) as failure:
        runtime.records(session).create_many(
            "item_b", [{"name": "", "code": "Z"}, {"name": "ok", "code": "Z"}]
        )
    assert failure.value.rows == {0: {"name": ["Required."]}}


def test_permissions_are_those_of_create(shop, runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        model = runtime.model(session)
        create_role(session, SYSTEM, "clerk", "Clerk")
        create_role(session, SYSTEM, "viewer", "Viewer")
        set_grant(
            session,
            SYSTEM,
            model,
            "clerk",
            "item_b",
            {"create": True, "read": "own", "fields": {"rate": "hidden", "code": "read_only"}},
        )
        set_grant(session, SYSTEM, model, "viewer", "item_b", {"read": "all"})
        clerk = Actor.of(create_user(session, "clerk", "clerk-password-1", ["clerk"]))
        viewer = Actor.of(create_user(session, "viewer", "viewer-password-1", ["viewer"]))
    inputs = [{"name": "a", "rate": "1"}, {"name": "b", "code": "X"}, {"name": "c"}]
    expected = {i: _create_problems(runtime, "item_b", d, clerk) for i, d in enumerate(inputs)}
    assert expected == {0: {"rate": ["Unknown field."]}, 1: {"code": ["Read-only."]}, 2: None}
    del expected[2]
    with runtime.transaction() as session, pytest.raises(RowsInvalid) as failure:
        runtime.records(session, clerk).create_many("item_b", inputs)
    assert failure.value.rows == expected
    with runtime.transaction() as session:
        created = runtime.records(session, clerk).create_many("item_b", [{"name": "c"}])
    assert (created[0].owner_id, created[0].created_by) == (clerk.user_id, clerk.user_id)
    assert "rate" not in created[0].values  # hidden from the clerk, as create shows it
    with runtime.transaction() as session:
        records = runtime.records(session, viewer)
        with pytest.raises(PermissionDenied) as one:
            records.create("item_b", {"name": "x"})
        with pytest.raises(PermissionDenied) as many:
            records.create_many("item_b", [{"name": "x"}])
        assert one.value.detail == many.value.detail


def test_an_empty_batch_writes_nothing(shop, runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        assert runtime.records(session).create_many("item_b", []) == []
