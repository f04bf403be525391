"""The API against its own OpenAPI document (schemathesis, see fuzz_world.py): the record
operations of leads and deals other than their lists."""

from __future__ import annotations

import csv_bodies
from fuzz_world import (
    FUZZ_SETTINGS,
    configuration_dependent,
    issued_by_server,
    operations,
    positive_data_acceptance,
    positive_data_acceptance_but_configuration,
)

REACHED: list[int] = []


schema = operations("lead_and_deal_records")


# The body is the same in every file (see fuzz_world.py): Hypothesis derives a test's
# derandomized examples from its source.
@schema.parametrize()
@FUZZ_SETTINGS
def test_api_matches_its_document(case, admin_headers) -> None:  # type: ignore[no-untyped-def]
    excluded, additional = [], []
    if configuration_dependent(case) or issued_by_server(case):
        excluded.append(positive_data_acceptance)
        additional.append(positive_data_acceptance_but_configuration)
    with csv_bodies.csv_body(case):
        response = case.call_and_validate(
            headers=admin_headers, excluded_checks=excluded, additional_checks=additional
        )
    REACHED.append(response.status_code)


def test_the_cases_reached_the_api_as_the_administrator() -> None:
    """Guards the test above against passing vacuously (e.g. every case a 401)."""
    assert len(REACHED) > 100
    assert sum(status < 300 for status in REACHED) > 50
