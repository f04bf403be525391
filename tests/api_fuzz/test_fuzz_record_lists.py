"""The API against its own OpenAPI document (schemathesis, see fuzz_world.py): the record lists
(``GET /api/records/<entity>``) of every entity type."""

from __future__ import annotations

from fuzz_world import group_tests

test_api_matches_its_document, test_the_cases_reached_the_api_as_the_administrator = group_tests(
    "record_lists"
)
