"""``create_many`` looks up the stored holders of a batch's unique values with one statement
per unique field (``records/unique_batch.py``), not one per record: the problems it reports
are those of ``create`` for each record in turn, for every type that can be unique, values
the ``eq`` filter finds equal though written otherwise, holders the caller may not see, and
values taken earlier in the batch."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from configured_fixtures import configured
from sqlalchemy import event

from trellis.access.grants import create_role, set_grant
from trellis.access.probes import PENDING
from trellis.accounts import SYSTEM, Actor, User, create_user
from trellis.errors import ValidationFailed
from trellis.records import unique_batch
from trellis.records.checks import TAKEN_UNSEEN
from trellis.records.service import RowsInvalid

UNIQUE: dict[str, Any] = {
    "code": "text",
    "mail": "email",
    "tel": "phone",
    "site": "url",
    "kind": ("list", {"settings": {"list": "kind"}}),
    "num": "integer",
    "rate": ("decimal", {"settings": {"precision": 12, "scale": 2}}),
    "price": ("money", {"settings": {"currencies": ["EUR", "USD"]}}),
    "day": "date",
    "at": "datetime",
    "company": ("reference", {"settings": {"target": "company"}}),
    "person": "user",
}
FIELDS = {"name": ("text", {"required": True})} | {
    key: (spec, {"unique": True})
    if isinstance(spec, str)
    else (spec[0], {**spec[1], "unique": True})
    for key, spec in UNIQUE.items()
}


@configured
def things(factory):  # type: ignore[no-untyped-def]
    """A thing whose fields of every type that can be unique are unique, one stored thing
    holding a value in each, a clerk (who reads every thing but sees the code only on
    their own) with a thing of their own, and a loner (who reads only their own)."""
    factory.entity("company", {"name": "text"}, title="{name}")
    factory.entity("thing", FIELDS, title="{name}", lists={"kind": ["red", "blue"]})
    company = factory.record("company", name="Acme")
    with factory.runtime.transaction() as session:
        model = factory.runtime.model(session)
        ann = create_user(session, "ann", "ann-password-12", [])
        for role, grant in (
            ("maker", {"create": True, "read": "own"}),
            ("peek", {"read": "all", "fields": {"code": "hidden"}}),
        ):
            create_role(session, SYSTEM, role, role.title())
            set_grant(session, SYSTEM, model, role, "thing", grant)
        clerk = create_user(session, "clerk", "clerk-password-1", ["maker", "peek"])
        loner = create_user(session, "loner", "loner-password-1", ["maker"])
    factory.record(
        "thing",
        name="Stored",
        code="A-1",
        mail="ann@example.com",
        tel="+44 20 7946 0000",
        site="https://example.com/a",
        kind="red",
        num=7,
        rate="12.50",
        price={"amount": "10.00", "currency": "EUR"},
        day="2026-01-02",
        at="2026-01-02T10:00:00Z",
        company=company.id,
        person=ann.id,
    )
    factory.record("thing", Actor.of(clerk), name="Clerk's", code="C-1")
    return {"ann": ann.id, "company": company.id, "clerk": clerk.id, "loner": loner.id}


def _one_by_one(runtime, actor, batch):  # type: ignore[no-untyped-def]
    """The problems ``create`` reports for each record of ``batch`` created in turn (the
    refused ones not stored), and the probes noted; nothing kept."""
    problems: dict[int, Any] = {}
    with runtime.transaction() as session:
        records = runtime.records(session, actor)
        for index, data in enumerate(batch):
            try:
                records.create("thing", data)
            except ValidationFailed as exc:
                problems[index] = exc.errors
        probes = list(session.info.get(PENDING, []))
        session.rollback()
        session.info.pop(PENDING, None)
    return problems, probes


def _in_order(problems: dict[int, Any]) -> list[Any]:
    """``problems`` with the order of records and of fields in each (as the report lists
    them), which comparing dicts ignores."""
    return [(index, list(errors.items())) for index, errors in problems.items()]


def _batch(runtime, actor, batch):  # type: ignore[no-untyped-def]
    """The problems ``create_many`` reports for ``batch`` by index, and the probes noted."""
    with runtime.transaction() as session:
        with pytest.raises(RowsInvalid) as failure:
            runtime.records(session, actor).create_many("thing", batch)
        probes = list(session.info.get(PENDING, []))
        session.info.pop(PENDING, None)
    return _in_order(failure.value.rows), probes


def test_stored_values_of_every_type_are_refused_as_create_refuses_them(things, runtime) -> None:  # type: ignore[no-untyped-def]
    batch = [
        {"name": "spaced", "code": " A-1 "},  # trimmed: the stored code
        {"name": "lower", "code": "a-1"},  # another text
        {"name": "upper", "mail": "ANN@example.com"},
        {"name": "mail", "mail": "ann@example.com"},
        {"name": "tel", "tel": "+44 20 7946 0000"},
        {"name": "site", "site": "https://example.com/a"},
        {"name": "kind", "kind": "red"},
        {"name": "num", "num": "7"},
        {"name": "rate", "rate": "12.5"},  # 12.50
        {"name": "price", "price": {"amount": "10", "currency": "USD"}},  # the eq is on amount
        {"name": "day", "day": "2026-01-02"},
        {"name": "at", "at": "2026-01-02T11:00:00+01:00"},  # the same moment
        {"name": "company", "company": things["company"]},
        {"name": "by name", "person": "ann"},
        {"name": "by id", "person": things["ann"]},
        {"name": "new", "code": "N-1", "num": 8, "rate": "0.1"},
        {"name": "again", "code": "N-1", "num": 8, "rate": "0.10"},  # taken in the batch
        {"name": "", "code": "A-1", "num": 7, "day": "2026-01-03"},
        {"name": "free", "code": "F-1", "price": {"amount": "10.01"}, "day": "2026-01-03"},
    ]
    expected, _ = _one_by_one(runtime, SYSTEM, batch)
    with _selects_on_things(runtime) as seen:
        found, _ = _batch(runtime, SYSTEM, batch)
    assert found == _in_order(expected)
    # one statement per unique field given, and one per record for the date and time only
    # (compared with a naive column in the session's time zone: left to the per-record check)
    assert sum(" IN (" in statement for statement in seen) == len(UNIQUE) - 1
    assert sum("LIMIT" in statement for statement in seen) == 1
    taken = {key for errors in expected.values() for key in errors}
    assert taken == set(UNIQUE) | {"name"}  # every type refused somewhere
    assert 1 not in expected and 2 not in expected and 18 not in expected
    assert expected[0] == {"code": ["Another Thing has this Code already."]}
    assert expected[9] == {"price": ["Another Thing has this Price already."]}
    assert list(expected[17]) == ["code", "num", "name"]  # (required rules come last)


def test_holders_the_caller_may_not_see_are_not_confirmed(things, runtime) -> None:  # type: ignore[no-untyped-def]
    clerk, loner = (_actor(runtime, things[name]) for name in ("clerk", "loner"))
    batch = [
        {"name": "a", "code": "A-1"},  # the code is hidden on the stored thing
        {"name": "c", "code": "C-1"},  # the clerk's own
        {"name": "d", "code": "D-1"},
        {"name": "d again", "code": "D-1"},
        {"name": "n", "num": 7},  # readable, not hidden
    ]
    for actor in (clerk, loner):
        expected, expected_probes = _one_by_one(runtime, actor, batch)
        found, probes = _batch(runtime, actor, batch)
        assert found == _in_order(expected)
        assert probes == expected_probes
    expected, _ = _one_by_one(runtime, clerk, batch)
    assert expected == {
        0: {"code": [TAKEN_UNSEEN]},
        1: {"code": ["Another Thing has this Code already."]},
        3: {"code": ["Another Thing has this Code already."]},
        4: {"num": ["Another Thing has this Num already."]},
    }
    expected, probes = _one_by_one(runtime, loner, batch)
    assert expected == {
        0: {"code": [TAKEN_UNSEEN]},  # neither the stored thing nor the clerk's readable
        1: {"code": [TAKEN_UNSEEN]},
        3: {"code": ["Another Thing has this Code already."]},
        4: {"num": [TAKEN_UNSEEN]},
    }
    assert [p.fields for p in probes] == [("code",), ("code",), ("num",)]


def _actor(runtime, user_id):  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return Actor.of(session.get(User, user_id))


@contextlib.contextmanager
def _selects_on_things(runtime) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """The SELECTs on the thing table run in the block."""
    with runtime.transaction() as session:
        table = runtime.model(session).entities["thing"].table.name
    seen: list[str] = []

    def keep(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and f"FROM {table}" in statement:
            seen.append(" ".join(statement.split()))

    event.listen(runtime.engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(runtime.engine, "before_cursor_execute", keep)


@pytest.mark.parametrize("size", [3, 40])
def test_a_batch_looks_up_each_unique_field_once(things, runtime, size) -> None:  # type: ignore[no-untyped-def]
    """The SELECTs on the thing table: one per unique field given, whatever the batch's
    size (the per-record check ran one per record and field)."""
    batch = [{"name": f"n{i}", "code": f"X-{i}", "num": 100 + i} for i in range(size)]
    with _selects_on_things(runtime) as seen, runtime.transaction() as session:
        runtime.records(session).create_many("thing", batch)
    assert len(seen) == 2, seen
    assert all(" IN (" in statement for statement in seen), seen


def test_values_beyond_a_statement_are_looked_up_in_further_statements(
    things, runtime, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """(SQLite bounds the values of one statement): 10 codes, 4 a statement, 3 statements;
    the stored codes found in the first and the last."""
    monkeypatch.setattr(unique_batch, "CHUNK", 4)
    batch = [{"name": f"n{i}", "code": f"Y-{i}"} for i in range(10)]
    batch[0]["code"], batch[9]["code"] = "A-1", "C-1"
    expected, _ = _one_by_one(runtime, SYSTEM, batch)
    with _selects_on_things(runtime) as seen:
        found, _ = _batch(runtime, SYSTEM, batch)
    assert found == _in_order(expected)
    assert list(expected) == [0, 9]
    assert len(seen) == 3 and all(" IN (" in statement for statement in seen), seen
