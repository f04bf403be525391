"""SQLite and PostgreSQL give the same answers (issue 9 item 13): a unique value written by two
transactions at once is a 422 for the second, not a 500; a column's type change does not break
pooled connections; a label longer than its column is a 422 on both databases."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from decimal import Decimal

import pytest

from trellis.access.grants import create_role, set_grant
from trellis.accounts import SYSTEM, Actor, create_user
from trellis.errors import ValidationFailed
from trellis.records.service import TAKEN_UNSEEN


def test_the_second_of_two_concurrent_creates_of_a_unique_value_is_a_422(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text", "tin": ("text", {"unique": True})})
    outcome: list[object] = []

    def second() -> None:
        try:
            with runtime.transaction() as session:
                outcome.append(runtime.records(session, SYSTEM).create("company", {"tin": "X1"}))
        except Exception as exc:  # the assertion below says what it was
            outcome.append(exc)

    with runtime.transaction() as first:
        runtime.records(first, SYSTEM).create("company", {"tin": "X1"})
        thread = threading.Thread(target=second)
        thread.start()  # passes the check (the first row is not committed) and waits on the index
        time.sleep(1.0)
    thread.join(timeout=30)
    (result,) = outcome
    assert isinstance(result, ValidationFailed), repr(result)
    assert result.errors == {"tin": ["Another Company has this Tin already."]}
    assert factory.records("list", "company").total == 1


def test_an_import_goes_on_after_a_unique_violation_inside_it(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text", "tin": ("text", {"unique": True})})
    with runtime.transaction() as session:
        service = runtime.records(session, SYSTEM)
        service._check_unique = lambda *args: None  # as if a concurrent writer won the race
        service.create("company", {"tin": "X1"})
        with pytest.raises(ValidationFailed) as failure:
            service.create("company", {"tin": "X1"})
        assert failure.value.errors == {"tin": ["Another Company has this Tin already."]}
        record = service.create("company", {"tin": "X2"})  # the transaction is still usable
        assert service.update("company", record.id, {"name": "B"}, version=1).version == 2
    assert factory.records("list", "company").total == 2


def test_a_lost_race_does_not_confirm_a_value_of_a_record_the_caller_cannot_read(
    factory, runtime
) -> None:  # type: ignore[no-untyped-def]
    """The race's loser hears what the check would have said: a value taken on a record it
    may not read is not confirmed."""
    factory.entity("company", {"name": "text", "tin": ("text", {"unique": True})})
    factory.record("company", tin="X1")  # owned by nobody the caller is
    with runtime.transaction() as session:
        create_role(session, SYSTEM, "own_only", "Own only")
        grant = {"create": True, "read": "own", "update": "own", "delete": "none"}
        set_grant(session, SYSTEM, runtime.model(session), "own_only", "company", grant)
        sam = Actor.of(create_user(session, "sam", "sam-password-1", ["own_only"]))
    with runtime.transaction() as session:
        service = runtime.records(session, sam)
        service._check_unique = lambda *args: None  # as if a concurrent writer won the race
        with pytest.raises(ValidationFailed) as failure:
            service.create("company", {"tin": "X1"})
    assert failure.value.errors == {"tin": [TAKEN_UNSEEN]}


def test_a_type_change_does_not_break_pooled_connections(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("item", {"name": "text", "qty": "integer"})
    factory.record("item", name="a", qty=3)

    def read_on_three_connections() -> list[object]:
        found = []
        # three transactions open at once: three connections (SQLite has one writer at a time)
        at_once = 1 if runtime.engine.dialect.name == "sqlite" else 3
        with ExitStack() as stack:
            for _ in range(at_once):
                session = stack.enter_context(runtime.transaction())
                for _ in range(8):  # psycopg prepares a statement after 5 uses
                    page = runtime.records(session, SYSTEM).list("item")
                found.append(page.items[0].values["qty"])
        return found

    assert set(read_on_three_connections()) == {3}
    factory.meta("update_field", "item", "qty", type="decimal", settings={"scale": 2})
    assert set(read_on_three_connections()) == {Decimal("3.00")}


@pytest.mark.parametrize("length", [101, 5000])
def test_labels_longer_than_their_column_are_a_422_everywhere(
    factory, runtime, length: int
) -> None:  # type: ignore[no-untyped-def]
    from trellis.access.grants import create_role
    from trellis.conversion.maps import ConversionMaps

    long = "L" * length
    factory.entity("lead", {"name": "text"})
    factory.entity("deal", {"name": "text"})
    attempts = {
        "role": lambda s: create_role(s, SYSTEM, "sales", long),
        "entity": lambda s: runtime.metamodel(s).create_entity("other", long),
        "title": lambda s: runtime.metamodel(s).update_entity("deal", title_template=long * 3),
        "field": lambda s: runtime.metamodel(s).add_field("deal", "x", long, "text"),
        "list": lambda s: runtime.metamodel(s).create_list("l", long, []),
        "conversion": lambda s: ConversionMaps(s, runtime.cache, SYSTEM).save(
            "m", "lead", {"deal": {"fields": {"name": "name"}}}, long, create=True
        ),
        "user": lambda s: create_user(s, "ann", "a-long-password-1", ["user"], display_name=long),
    }
    accepted = []
    for what, attempt in attempts.items():
        try:
            with runtime.transaction() as session:
                attempt(session)
        except ValidationFailed:
            continue  # refused by the service, before the column could
        accepted.append(what)
    assert accepted == []
