"""The record service: create, read, update, delete; who and when; versions; the audit log;
paging and sorting; every problem of a write at once."""

from __future__ import annotations

import pytest
from configured_fixtures import configured
from sqlalchemy import func, select

from trellis.accounts import Actor, create_user
from trellis.errors import BadRequest, Conflict, NotFound, ValidationFailed
from trellis.records.audit import AuditEvent
from trellis.records.query import Filter


@configured
def deals(factory):  # type: ignore[no-untyped-def]
    factory.entity(
        "deal",
        {"name": ("text", {"required": True}), "amount": "integer", "stage_note": "text"},
        title="{name}",
    )
    return factory


@configured
def alice(runtime) -> Actor:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        user = create_user(session, "alice", "alice-password", ["admin"])
        return Actor.of(user)


def test_create_read_update_delete_keep_who_and_when(deals, alice) -> None:  # type: ignore[no-untyped-def]
    created = deals.records("create", "deal", {"name": "Apollo", "amount": 5}, actor=alice)
    assert created.version == 1 and created.title == "Apollo"
    assert (created.created_by, created.owner_id) == (alice.user_id, alice.user_id)
    updated = deals.records("update", "deal", created.id, {"amount": 6}, version=1)
    assert updated.version == 2 and updated.values["amount"] == 6
    assert updated.updated_at >= created.updated_at
    assert (
        updated.created_by == alice.user_id and updated.updated_by is None
    )  # the system changed it
    deals.records("delete", "deal", created.id)
    with pytest.raises(NotFound):
        deals.records("get", "deal", created.id)


def test_a_stale_write_is_refused_and_nothing_is_written(deals) -> None:  # type: ignore[no-untyped-def]
    record = deals.record("deal", name="Apollo", amount=1)
    deals.records("update", "deal", record.id, {"amount": 2}, version=1)
    with pytest.raises(Conflict) as conflict:
        deals.records("update", "deal", record.id, {"amount": 3, "name": "Zeus"}, version=1)
    assert conflict.value.current == {"version": 2}
    current = deals.records("get", "deal", record.id)
    assert (current.values["amount"], current.values["name"], current.version) == (2, "Apollo", 2)


def test_the_version_must_be_given_as_a_number(deals) -> None:  # type: ignore[no-untyped-def]
    record = deals.record("deal", name="Apollo")
    with pytest.raises(BadRequest):
        deals.records("update", "deal", record.id, {"amount": 3}, version="1")


def test_every_problem_is_reported_at_once_by_field(deals) -> None:  # type: ignore[no-untyped-def]
    deals.meta(
        "add_rule",
        "deal",
        "validation",
        expression="amount is None or amount > 0",
        message="Positive, please.",
        field="amount",
    )
    with pytest.raises(ValidationFailed) as failure:
        deals.record("deal", name="", amount=-5, colour="red", id=3)
    assert failure.value.errors == {
        "name": ["Required."],
        "amount": ["Positive, please."],
        "colour": ["Unknown field."],
        "id": ["Read-only."],
    }


def test_audit_log_has_who_when_field_old_and_new(deals, alice) -> None:  # type: ignore[no-untyped-def]
    record = deals.records("create", "deal", {"name": "Apollo"}, actor=alice)
    deals.records(
        "update", "deal", record.id, {"amount": 10, "name": "Apollo 2"}, version=1, actor=alice
    )
    deals.records("update", "deal", record.id, {"amount": 10}, version=2, actor=alice)  # no change
    history = deals.records("history", "deal", record.id)
    rows = [(h["action"], h["field"], h["old"], h["new"], h["by"]) for h in history]
    assert rows == [
        ("create", "name", None, "Apollo", alice.user_id),
        ("update", "name", "Apollo", "Apollo 2", alice.user_id),
        ("update", "amount", None, 10, alice.user_id),
    ]
    assert all(h["at"].endswith("+00:00") for h in history)
    deals.records("delete", "deal", record.id, actor=alice)
    with deals.runtime.transaction() as session:
        actions = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.record_id == record.id)
            .order_by(AuditEvent.id)
        ).all()
    assert actions == ["create", "update", "delete"]


def test_a_rejected_write_leaves_no_audit_row(deals, runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        before = session.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(ValidationFailed):
        deals.record("deal", name="")
    with runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_paging_sorting_and_bounds(deals) -> None:  # type: ignore[no-untyped-def]
    for number, name in enumerate(["c", "a", "b", "a"]):
        deals.record("deal", name=name, amount=number)
    page = deals.records("list", "deal", sort=["name", "-amount"], page=1, per_page=3)
    assert page.total == 4 and [(r.values["name"], r.values["amount"]) for r in page.items] == [
        ("a", 3),
        ("a", 1),
        ("b", 2),
    ]
    second = deals.records("list", "deal", sort=["name", "-amount"], page=2, per_page=3)
    assert [r.values["name"] for r in second.items] == ["c"]
    for bad in ({"per_page": 201}, {"per_page": 0}, {"page": 0}, {"page": "x"}):
        with pytest.raises(BadRequest):
            deals.records("list", "deal", **bad)
    with pytest.raises(BadRequest):
        deals.records("list", "deal", sort=["nothing"])
    with pytest.raises(BadRequest) as unknown:
        deals.records(
            "list",
            "deal",
            filters=[Filter("nothing", "eq", "1"), Filter("amount", "contains", "1")],
        )
    assert set(unknown.value.errors) == {"nothing", "amount"}


def test_system_fields_can_be_filtered(deals, alice) -> None:  # type: ignore[no-untyped-def]
    mine = deals.records("create", "deal", {"name": "mine"}, actor=alice)
    deals.record("deal", name="system's")
    page = deals.records("list", "deal", filters=[Filter("owner", "eq", str(alice.user_id))])
    assert [r.id for r in page.items] == [mine.id]
    page = deals.records("list", "deal", filters=[Filter("id", "gt", str(mine.id))])
    assert page.total == 1


def test_unique_fields_are_checked(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text", "tin": ("text", {"unique": True})})
    factory.record("company", name="A", tin="EE1")
    with pytest.raises(ValidationFailed) as failure:
        factory.record("company", name="B", tin="EE1")
    assert "tin" in failure.value.errors
    other = factory.record("company", name="C", tin="EE2")
    factory.records(
        "update", "company", other.id, {"name": "C2"}, version=1
    )  # keeping its own value


def test_defaults_fill_new_records(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "task",
        {
            "title_text": "text",
            "done": ("boolean", {"default": False}),
            "points": ("integer", {"default": 3}),
        },
    )
    record = factory.record("task", title_text="x")
    assert record.values["done"] is False and record.values["points"] == 3
    with pytest.raises(ValidationFailed) as bad_default:
        factory.meta("add_field", "task", "size", "Size", "integer", default="big")
    assert "default" in bad_default.value.errors
