"""A conversion writes the audit rows of its targets and of the source's move in one INSERT
at its end, in the order they were made (their stage visits in one more), and moves the
source as it read it at the start (no second SELECT), with the same outcome as before when
the source changed in between: an automation of the session's (read again) or a concurrent
writer (PostgreSQL: read again on the stale UPDATE). Rows held back never outlive a
savepoint rolled back inside the conversion, and a history read during it shows them."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, event, select, text

from tests.conftest import PG_URL
from trellis.conversion.convert import convert
from trellis.records.audit import AuditEvent, StageVisit

TARGETS = {"contact": {}, "company": {"tin": "EE102030405"}, "deal": {}}


def _audit_rows(runtime, after_id: int = 0):  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return [
            (e.entity, e.record_id, e.action, e.by, e.via, e.changes)
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.id > after_id).order_by(AuditEvent.id)
            )
        ]


def _visits(runtime, *records: tuple[str, int]):  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return [
            (v.entity, v.record_id, v.pipeline, v.stage, v.left_at is not None)
            for v in session.scalars(select(StageVisit).order_by(StageVisit.id))
            if (v.entity, v.record_id) in records
        ]


def _last_audit_id(runtime) -> int:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0


def _convert(runtime, lead_id: int, statements: list[str] | None = None, tin: str = "EE102030405"):  # type: ignore[no-untyped-def]
    def note(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()).lower())  # type: ignore[union-attr]

    if statements is not None:
        event.listen(runtime.engine, "before_cursor_execute", note)
    try:
        with runtime.transaction() as session:
            targets = {**TARGETS, "company": {"tin": tin}}
            result = convert(runtime.records(session), "lead", lead_id, targets)
    finally:
        if statements is not None:
            event.remove(runtime.engine, "before_cursor_execute", note)
    assert result.ok, result.errors
    return result


def test_the_audit_rows_are_those_of_each_write_in_one_insert(runtime, demo, new_lead) -> None:  # type: ignore[no-untyped-def]
    lead = new_lead(phone="+372 5555 0101")
    # the first conversion compiles and caches what it reads
    warm = new_lead(email="bill@globex.example", company_name="Globex")
    _convert(runtime, warm["id"], tin="EE999999999")
    before = _last_audit_id(runtime)
    statements: list[str] = []
    result = _convert(runtime, lead["id"], statements)
    company, contact, deal = (result.records[t].id for t in ("company", "contact", "deal"))
    assert _audit_rows(runtime, before) == [
        (
            "company",
            company,
            "create",
            None,
            None,
            {
                "name": [None, "Initech"],
                "tin": [None, "EE102030405"],
                "phone": [None, "+372 5555 0101"],
                "email": [None, "peter@initech.example"],
            },
        ),
        (
            "contact",
            contact,
            "create",
            None,
            None,
            {
                "first_name": [None, "Peter"],
                "last_name": [None, "Gibbons"],
                "email": [None, "peter@initech.example"],
                "phone": [None, "+372 5555 0101"],
                "source": [None, "website"],
                "company": [None, company],
            },
        ),
        (
            "deal",
            deal,
            "create",
            None,
            None,
            {
                "name": [None, "Enquiry from Initech"],
                "amount": [None, {"amount": "12000.00", "currency": "EUR"}],
                "contact": [None, contact],
                "company": [None, company],
                "source": [None, "website"],
                "pipeline": [None, "sales"],
                "stage": [None, "new"],
            },
        ),
        ("lead", lead["id"], "stage", None, None, {"stage": ["new", "converted"]}),
    ]
    # the deal's visit of its first stage, the lead's of "new" left and of "converted"
    assert _visits(runtime, ("deal", deal), ("lead", lead["id"])) == [
        ("lead", lead["id"], "leads", "new", True),
        ("deal", deal, "sales", "new", False),
        ("lead", lead["id"], "leads", "converted", False),
    ]
    # one INSERT of the four rows (there were four) and one of the two visits (two), the
    # lead read once (it was read again by its move) with the link check along
    assert len([s for s in statements if s.startswith("insert into audit_event")]) == 1
    assert len([s for s in statements if s.startswith("insert into stage_visit")]) == 1
    assert not [s for s in statements if s.startswith("select record_link.id")], statements
    assert len([s for s in statements if s.startswith("select rec_lead.id")]) == 1, statements
    # BEGIN, the stamps, the lead with its link check, SAVEPOINT, two duplicate checks,
    # three INSERTs, the lead's UPDATE, its visit left, the stage visits, the audit rows,
    # the links, RELEASE (and COMMIT where the driver sends it): 21 before
    assert len([s for s in statements if s != "commit"]) <= 15, "\n".join(
        s[:90] for s in statements
    )


def test_a_dry_run_and_a_refused_conversion_write_no_audit_row(  # type: ignore[no-untyped-def]
    runtime, demo, new_lead
) -> None:
    lead = new_lead()
    before = _last_audit_id(runtime)
    with runtime.transaction() as session:
        dry = convert(runtime.records(session), "lead", lead["id"], dict(TARGETS), dry_run=True)
    assert dry.ok, dry.errors
    with runtime.transaction() as session:
        refused = convert(
            runtime.records(session), "lead", lead["id"], {**TARGETS, "deal": {"name": ""}}
        )
    assert not refused.ok
    assert _audit_rows(runtime, before) == []
    _convert(runtime, lead["id"])
    assert [r[:3] for r in _audit_rows(runtime, before)][-1] == ("lead", lead["id"], "stage")


def test_a_source_changed_in_the_session_during_the_conversion_is_read_again(  # type: ignore[no-untyped-def]
    runtime, demo, new_lead
) -> None:
    """A subscriber that updates the lead when the company is made: the move sees the new
    version (moving the version read at the start would be refused as stale)."""
    lead = new_lead()

    def touch_the_lead(session, ev) -> None:  # type: ignore[no-untyped-def]
        if ev.entity == "company":
            records = runtime.records(session)
            version = records.get("lead", lead["id"]).version
            records.update("lead", lead["id"], {"phone": "+372 5555 0202"}, version=version)

    runtime.events.subscribe("created", touch_the_lead)
    before = _last_audit_id(runtime)
    result = _convert(runtime, lead["id"])
    assert result.source.stage == "converted"
    assert result.source.values["phone"] == "+372 5555 0202"
    assert result.source.version == 3
    # the lead's update comes in its place, after the company's row
    assert [(e, a) for e, _i, a, *_ in _audit_rows(runtime, before)] == [
        ("company", "create"),
        ("lead", "update"),
        ("contact", "create"),
        ("deal", "create"),
        ("lead", "stage"),
    ]


def test_held_rows_never_outlive_a_savepoint_rolled_back_inside(  # type: ignore[no-untyped-def]
    runtime, demo, new_lead
) -> None:
    """A subscriber writes a record in a savepoint of its own and rolls it back (as a flow's
    failed actions are): its audit row goes with it; the conversion's rows all stay."""
    lead = new_lead()
    other = new_lead(email="bill@globex.example", company_name="Globex")

    def write_and_roll_back(session, ev) -> None:  # type: ignore[no-untyped-def]
        if ev.entity == "contact":
            savepoint = session.begin_nested()
            records = runtime.records(session)
            version = records.get("lead", other["id"]).version
            records.update("lead", other["id"], {"phone": "+372 5555 0303"}, version=version)
            savepoint.rollback()

    runtime.events.subscribe("created", write_and_roll_back)
    before = _last_audit_id(runtime)
    result = _convert(runtime, lead["id"])
    assert [(e, i, a) for e, i, a, *_ in _audit_rows(runtime, before)] == [
        ("company", result.records["company"].id, "create"),
        ("contact", result.records["contact"].id, "create"),
        ("deal", result.records["deal"].id, "create"),
        ("lead", lead["id"], "stage"),
    ]


def test_a_history_read_during_the_conversion_shows_the_rows_so_far(  # type: ignore[no-untyped-def]
    runtime, demo, new_lead
) -> None:
    lead = new_lead()
    seen: list[list[dict]] = []

    def read_history(session, ev) -> None:  # type: ignore[no-untyped-def]
        if ev.entity == "deal":
            company = session.info["trellis.known_records"]
            company_id = next(i for (e, i) in company if e == "company")
            seen.append(runtime.records(session).history("company", company_id))

    runtime.events.subscribe("created", read_history)
    _convert(runtime, lead["id"])
    assert [(h["action"], h["field"], h["new"]) for h in seen[0]][:2] == [
        ("create", "name", "Initech"),
        ("create", "tin", "EE102030405"),
    ]


def test_a_new_target_moved_during_the_conversion_leaves_its_held_visit(  # type: ignore[no-untyped-def]
    runtime, demo, new_lead
) -> None:
    """A subscriber moves the new deal on at once: its first visit (held) is written before
    it is closed, and the stage history read during the conversion shows it."""
    lead = new_lead()
    seen = []

    def move_on(session, ev) -> None:  # type: ignore[no-untyped-def]
        if ev.entity == "deal":
            records = runtime.records(session)
            records.move_stage("deal", ev.record_id, "proposal")
            seen.extend(
                (v.stage, v.left_at is not None)
                for v in records.stage_history("deal", ev.record_id)
            )

    runtime.events.subscribe("created", move_on)
    deal = _convert(runtime, lead["id"]).records["deal"].id
    assert seen == [("new", True), ("proposal", False)]
    assert _visits(runtime, ("deal", deal)) == [
        ("deal", deal, "sales", "new", True),
        ("deal", deal, "sales", "proposal", False),
    ]


@pytest.mark.skipif(not PG_URL, reason="a concurrent writer needs PostgreSQL")
def test_a_concurrent_writer_changing_the_source_is_read_again(  # type: ignore[no-untyped-def]
    runtime, demo, new_lead, database_url
) -> None:
    """Another connection changes and commits the lead while the conversion runs (after the
    conversion read it): the move reads it again and moves it, keeping the change, as when
    the move read the lead itself."""
    lead = new_lead()
    other = create_engine(database_url)

    def concurrent_change(session, ev) -> None:  # type: ignore[no-untyped-def]
        if ev.entity == "deal":
            with other.begin() as conn:
                conn.execute(
                    text(
                        "UPDATE rec_lead SET version = version + 1, phone = '+372 5555 0404' "
                        "WHERE id = :id"
                    ),
                    {"id": lead["id"]},
                )

    runtime.events.subscribe("created", concurrent_change)
    try:
        result = _convert(runtime, lead["id"])
    finally:
        other.dispose()
    assert result.source.stage == "converted"
    assert result.source.version == 3
    assert result.source.values["phone"] == "+372 5555 0404"
