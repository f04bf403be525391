"""A conversion into three targets reads the duplicate rules of all of them at once and
records its three links in one INSERT (it read the rules once per target and inserted the
links one by one), with the same links and candidates as before."""

from __future__ import annotations

from sqlalchemy import event, select

from trellis.access.models import RecordLink
from trellis.conversion.convert import LINK_KIND, convert


def test_one_read_of_the_rules_and_one_insert_of_the_links(runtime, demo, new_lead) -> None:  # type: ignore[no-untyped-def]
    lead = new_lead()
    other = new_lead(email="someone@initech.example", first_name="Samir")
    statements: list[str] = []

    def note(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()).lower())

    targets = {"contact": {}, "company": {"tin": "EE102030405"}, "deal": {}}
    with runtime.transaction() as session:
        first = convert(runtime.records(session), "lead", other["id"], targets)
    assert first.ok, first.errors
    event.listen(runtime.engine, "before_cursor_execute", note)
    try:
        with runtime.transaction() as session:
            result = convert(runtime.records(session), "lead", lead["id"], dict(targets))
    finally:
        event.remove(runtime.engine, "before_cursor_execute", note)
    assert result.ok, result.errors
    assert (
        len([s for s in statements if s.startswith("select") and "from duplicate_rule" in s]) == 1
    )
    assert len([s for s in statements if s.startswith("insert into record_link")]) == 1
    # the company of the first conversion is a candidate by its tax number and name
    assert [c["id"] for c in result.duplicates["company"]] == [first.records["company"].id]
    with runtime.transaction() as session:
        links = session.execute(
            select(RecordLink.to_entity, RecordLink.to_id, RecordLink.created_at)
            .where(RecordLink.kind == LINK_KIND, RecordLink.from_id == lead["id"])
            .order_by(RecordLink.to_entity)
        ).all()
    assert [(e, i) for e, i, _at in links] == sorted((t, r.id) for t, r in result.records.items())
    assert all(at is not None for _e, _i, at in links)
