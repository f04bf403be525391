"""The API against its own OpenAPI document (schemathesis, see fuzz_world.py): every other
operation: sign-in, metamodel, packs, flows, tasks, notifications, the document."""

from __future__ import annotations

from pathlib import Path

import csv_bodies
from fuzz_world import (
    FUZZ_SETTINGS,
    GROUPS,
    configuration_dependent,
    group_of,
    issued_by_server,
    operations,
    positive_data_acceptance,
    positive_data_acceptance_but_configuration,
)
from openapi_spec_validator import validate

REACHED: list[int] = []


def test_document_is_valid_openapi_31(demo_app, admin_headers) -> None:  # type: ignore[no-untyped-def]
    document = demo_app.test_client().get("/api/openapi.json", headers=admin_headers).json
    validate(document)
    assert document["openapi"] == "3.1.0"
    lead = document["components"]["schemas"]["LeadRecord"]["properties"]
    assert lead["source"]["anyOf"] or lead["source"]
    assert "/api/records/deal/{id}/stage" in document["paths"]


def test_every_operation_is_in_a_group_that_has_its_file(demo_app, admin_headers) -> None:  # type: ignore[no-untyped-def]
    """The groups' files together check every operation of the document."""
    document = demo_app.test_client().get("/api/openapi.json", headers=admin_headers).json
    found = {
        group_of(method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "patch", "delete"}
    }
    assert found == set(GROUPS)
    for group in GROUPS:
        assert (Path(__file__).parent / f"test_fuzz_{group}.py").is_file(), group


schema = operations("configuration_and_work")


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
