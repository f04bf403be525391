"""The success stage guard (a lead reaches "converted" only through a conversion) refuses a
create or a move into the success stage as before, and reads nothing for a record going into a
stage that no pipeline of its entity type has as a success stage (it read the record's
pipeline back for every created record with a stage)."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from trellis.errors import ValidationFailed

REFUSED = "'Converted' is reached by converting the record (choose the targets)."
LEAD = {
    "name": "Enquiry",
    "last_name": "Gibbons",
    "company_name": "Initech",
    "email": "peter@initech.example",
}


def test_the_success_stage_is_refused_outside_a_conversion(demo_crm, factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as created:
        factory.records("create", "lead", {**LEAD, "source": "website"}, stage="converted")
    assert created.value.errors["stage"] == [REFUSED]
    lead = factory.records("create", "lead", LEAD)
    with pytest.raises(ValidationFailed) as moved:
        factory.records("move_stage", "lead", lead.id, "converted", values={"source": "website"})
    assert moved.value.errors["stage"] == [REFUSED]


def test_no_read_back_for_a_stage_that_is_no_success(demo_crm, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    statements: list[str] = []

    def note(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()).lower())

    event.listen(runtime.engine, "before_cursor_execute", note)
    try:
        deal = factory.records("create", "deal", {"name": "Big deal"})
    finally:
        event.remove(runtime.engine, "before_cursor_execute", note)
    assert deal.stage is not None
    assert not [s for s in statements if s.startswith("select rec_deal.pipeline")]


def test_a_batch_into_the_success_stage_is_refused_too(demo_crm, factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as created:
        factory.records(
            "create_many", "lead", [{**LEAD, "source": "website"}] * 2, stage="converted"
        )
    assert created.value.errors == {"stage": [REFUSED]}


def test_asking_whether_the_guard_concerns_a_create_reads_the_model_no_second_time(  # type: ignore[no-untyped-def]
    demo_crm, factory, runtime
) -> None:
    statements: list[str] = []

    def note(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()).lower())

    event.listen(runtime.engine, "before_cursor_execute", note)
    try:
        factory.records("create", "deal", {"name": "Big deal"})
        with pytest.raises(ValidationFailed):
            factory.records("create", "lead", LEAD, stage="converted")
    finally:
        event.remove(runtime.engine, "before_cursor_execute", note)
    stamps = [s for s in statements if "from meta_state" in s]
    assert len(stamps) == 2  # (one a transaction, by the record service)
