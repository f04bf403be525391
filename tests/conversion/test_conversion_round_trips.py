"""A conversion on PostgreSQL sends its savepoint with its first duplicate check, never sends
the RELEASE (the commit ends the savepoint) and sends its audit rows, stage visits and links
in one round trip: 12 round trips, was 16, with the same outcome (its atomicity and rows:
test_conversion_audit.py, test_conversion_scenario.py)."""

from __future__ import annotations

import pytest

from tests.round_trips import round_trips
from trellis.conversion.convert import convert

TARGETS = {"contact": {}, "company": {"tin": "EE102030405"}, "deal": {}}


def test_the_savepoint_goes_with_a_statement_and_the_release_not_at_all(  # type: ignore[no-untyped-def]
    runtime, demo, new_lead
) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("round trips to a server")
    lead, other = new_lead(), new_lead(email="bill@globex.example", company_name="Globex")
    with runtime.transaction() as session:  # the first one compiles and caches what it reads
        first = {**TARGETS, "company": {"tin": "EE999999999"}}
        assert convert(runtime.records(session), "lead", other["id"], first).ok
    with round_trips(runtime.engine) as trips, runtime.transaction() as session:
        result = convert(runtime.records(session), "lead", lead["id"], TARGETS)
    assert result.ok, result.errors
    alone = [trip[0] for trip in trips if len(trip) == 1]
    assert not [s for s in alone if s.startswith(("SAVEPOINT", "RELEASE"))], trips
    assert not [t for t in trips if any(s.startswith("RELEASE") for s in t)], trips
    # one savepoint: the move of the source has none of its own
    assert len([s for t in trips for s in t if s.startswith("SAVEPOINT")]) == 1, trips
    assert [t[1].split(" WHERE")[0] for t in trips if t[0].startswith("SAVEPOINT")] == [
        "SELECT rec_company.id FROM rec_company"
    ], trips
    # the audit rows, the stage visits and the links in one
    assert [t for t in trips if t[0].startswith("INSERT INTO audit_event")] == [
        [s for s in trips[-2] if s.startswith(("INSERT INTO audit_event", "INSERT INTO stage_"))]
        + [s for s in trips[-2] if s.startswith("INSERT INTO record_link")]
    ], trips
    assert len([s for s in trips[-2] if s.startswith("INSERT INTO record_link")]) == 3
    assert len(trips) <= 12, "\n".join(str([s[:70] for s in t]) for t in trips)  # 16 before
