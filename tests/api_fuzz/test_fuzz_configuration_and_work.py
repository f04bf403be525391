"""The API against its own OpenAPI document (schemathesis, see fuzz_world.py): every other
operation: sign-in, metamodel, packs, flows, tasks, notifications, the document."""

from __future__ import annotations

from pathlib import Path

from fuzz_world import GROUPS, group_of, group_tests
from openapi_spec_validator import validate


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


test_api_matches_its_document, test_the_cases_reached_the_api_as_the_administrator = group_tests(
    "configuration_and_work"
)
