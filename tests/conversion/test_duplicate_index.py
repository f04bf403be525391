"""Duplicate checks are indexed equalities: every field a duplicate rule compares has an
index on its normalised value (kept by the schema planner), and the check's query uses it on
both databases, so a conversion costs the same with 50 or 50,000 contacts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from trellis.accounts import SYSTEM
from trellis.conversion import duplicates
from trellis.metamodel.migrator import read_record_tables


def indexes(runtime, table: str) -> set[str]:  # type: ignore[no-untyped-def]
    with runtime.engine.connect() as connection:
        return set(read_record_tables(connection, table)[table].indexes)


def plan_of_check(runtime, entity: str, values: dict[str, Any]) -> tuple[list, str]:  # type: ignore[no-untyped-def]
    """The candidates found for ``values`` and the database's plan for the check's query."""
    seen: list[tuple[str, Any]] = []

    def grab(conn, cursor, statement, params, context, many) -> None:  # type: ignore[no-untyped-def]
        if "lower(" in statement or "replace(" in statement:
            seen.append((statement, params))

    event.listen(runtime.engine, "before_cursor_execute", grab)
    try:
        with runtime.transaction() as session:
            found = duplicates.find_candidates(runtime.records(session), entity, values)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", grab)
    statement, params = seen[0]
    with runtime.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            return found, "\n".join(str(r[-1]) for r in rows)
        # a few demo rows: the planner would rightly read the table; may it use the index?
        connection.exec_driver_sql("SET enable_seqscan = off")
        rows = connection.exec_driver_sql("EXPLAIN " + statement, params)
        return found, "\n".join(r[0] for r in rows)


def test_the_check_uses_the_indexes_of_the_normalised_values(runtime, demo) -> None:  # type: ignore[no-untyped-def]
    assert {"nx_rec_contact_email_fold", "nx_rec_contact_phone_digits"} <= indexes(
        runtime, "rec_contact"
    )
    found, plan = plan_of_check(
        runtime, "contact", {"email": " ANN@Acme.example", "phone": "+372 (555) 0000"}
    )
    assert [(c["title"], c["matched"]) for c in found] == [("Ann Tamm", ["email"])]
    assert "nx_rec_contact_email_fold" in plan and "nx_rec_contact_phone_digits" in plan
    assert "SCAN rec_contact" not in plan and "Seq Scan" not in plan


def test_a_rule_creates_its_index_and_the_last_rule_of_a_field_drops_it(runtime, demo) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        model = runtime.model(session)
        one = duplicates.add_rule(session, SYSTEM, model, "company", ["phone", "email"])
        two = duplicates.add_rule(session, SYSTEM, model, "company", ["phone"])
        three = duplicates.add_rule(session, SYSTEM, model, "company", ["industry"])
        ids = one.id, two.id, three.id
    have = indexes(runtime, "rec_company")
    assert {"nx_rec_company_phone_digits", "nx_rec_company_email_fold"} <= have
    assert "ix_rec_company_industry" in have  # a list compares as stored: a plain index
    found, plan = plan_of_check(runtime, "company", {"phone": "+372 600 1000", "email": "x@y.z"})
    assert [c["title"] for c in found] == ["Acme Ltd"]
    assert "nx_rec_company_phone_digits" in plan
    with runtime.transaction() as session:
        duplicates.delete_rule(session, SYSTEM, "company", ids[0])
    have = indexes(runtime, "rec_company")
    assert "nx_rec_company_phone_digits" in have  # the second rule still compares it
    assert "nx_rec_company_email_fold" not in have
    with runtime.transaction() as session:
        duplicates.delete_rule(session, SYSTEM, "company", ids[1])
        duplicates.delete_rule(session, SYSTEM, "company", ids[2])
    assert not {"nx_rec_company_phone_digits", "ix_rec_company_industry"} & indexes(
        runtime, "rec_company"
    )


def test_a_compared_field_changes_type_and_is_purged_with_its_index(runtime, demo, factory) -> None:  # type: ignore[no-untyped-def]
    factory.meta("add_field", "contact", "skype", "Skype", "text")
    with runtime.transaction() as session:
        duplicates.add_rule(session, SYSTEM, runtime.model(session), "contact", ["skype"])
    assert "nx_rec_contact_skype_fold" in indexes(runtime, "rec_contact")
    factory.meta("update_field", "contact", "skype", type="phone")
    have = indexes(runtime, "rec_contact")
    assert "nx_rec_contact_skype_digits" in have and "nx_rec_contact_skype_fold" not in have
    factory.meta("archive_field", "contact", "skype")
    factory.meta("purge_field", "contact", "skype")
    assert not any("skype" in name for name in indexes(runtime, "rec_contact"))


def test_rules_from_before_the_indexes_get_them_when_the_database_is_upgraded(
    runtime, demo
) -> None:  # type: ignore[no-untyped-def]
    with runtime.engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX nx_rec_contact_email_fold")
    runtime.initialise()
    assert "nx_rec_contact_email_fold" in indexes(runtime, "rec_contact")
