"""The API against its own OpenAPI document (schemathesis, see fuzz_world.py): the record
operations of leads and deals other than their lists."""

from __future__ import annotations

from fuzz_world import group_tests

test_api_matches_its_document, test_the_cases_reached_the_api_as_the_administrator = group_tests(
    "lead_and_deal_records"
)
