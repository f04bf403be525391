"""Property-based checks of the whole API against its own OpenAPI document (schemathesis):
no 5xx for any generated input, and every response matches the document."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import (
    allow_header_conformance,
    negative_data_rejection,
    positive_data_acceptance,
)

from trellis.accounts import create_user
from trellis.app import create_app
from trellis.cli import initialise


@pytest.fixture(scope="module")
def demo_app(new_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator:  # type: ignore[no-untyped-def]
    """One app with the demo CRM for the whole module (schemathesis runs many cases)."""
    folder = tmp_path_factory.mktemp("schemathesis")
    with new_database(folder, demo=True) as url:
        app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(folder), "SECRET_KEY": "t"})
        yield from _with_demo(app)


def _with_demo(app):  # type: ignore[no-untyped-def]
    runtime = app.extensions["trellis"]
    with app.app_context():
        initialise(runtime, demo=True)
    with runtime.transaction() as session:
        create_user(session, "robot", "robot-password", ["admin"])
    yield app
    runtime.dispose()


@pytest.fixture(scope="module")
def admin_headers(demo_app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    response = demo_app.test_client().post(
        "/api/auth/token", json={"username": "robot", "password": "robot-password"}
    )
    return {"Authorization": f"Bearer {response.json['token']}"}


@pytest.fixture(scope="module")
def api_schema(demo_app, admin_headers):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_wsgi("/api/openapi.json", demo_app, headers=admin_headers)


def test_document_is_valid_openapi_31(demo_app, admin_headers) -> None:  # type: ignore[no-untyped-def]
    document = demo_app.test_client().get("/api/openapi.json", headers=admin_headers).json
    validate(document)
    assert document["openapi"] == "3.1.0"
    lead = document["components"]["schemas"]["LeadRecord"]["properties"]
    assert lead["source"]["anyOf"] or lead["source"]
    assert "/api/records/deal/{id}/stage" in document["paths"]


# revoking the token in use would turn every later case into a 401
REACHED: list[int] = []
schema = schemathesis.pytest.from_fixture("api_schema").exclude(
    method="DELETE", path="/api/auth/token"
)


#: checks that every operation passes but these, each left out for a reason the document
#: cannot answer yet; issue 11 deliverables 1 and 3 (routes declared with their schemas, the
#: document complete) remove them. A pattern matches an operation's label.
LEFT_OUT = [
    (
        r"GET /api/records/\w+",
        positive_data_acceptance,
        "equals-filters are all strings, so an empty or malformed value is valid in the document",
    ),
    (
        r"POST /api/records/\w+",
        positive_data_acceptance,
        "record create schemas lack required, enums and bounds from field settings",
    ),
    (r"POST /api/records/\w+/import", positive_data_acceptance, "the CSV body is not described"),
    (
        r"POST /api/records/\w+/\{id\}/convert",
        positive_data_acceptance,
        "conversion targets are free-form objects in the document",
    ),
    (
        r"(POST|PATCH|PUT) /api/meta/.*",
        positive_data_acceptance,
        "metamodel bodies are bare objects in the document until the routes are declared with "
        "trellis.api.meta_schemas; a body naming configuration that does not exist (a field, "
        "a list, an expression's names) stays the server's 422",
    ),
    (
        r"GET /api/records/\w+",
        negative_data_rejection,
        "some filter operands are bounded more tightly in the document than on the server "
        "(a negative id or an empty stage is accepted and matches nothing)",
    ),
    (
        r"PATCH /api/records/\w+/\{id\}|POST /api/records/\w+/\{id\}/stage",
        positive_data_acceptance,
        "a stage move obeys the stage rules (next stages, fields required from a stage on), "
        "which the document does not express",
    ),
    (
        r"GET /api/meta/entities/\{entity\}/pipelines/\{pipeline\}",
        allow_header_conformance,
        "OPTIONS on a pipeline advertises DELETE, which the document lacks",
    ),
]


def left_out(label: str) -> list:  # type: ignore[type-arg]
    return [check for pattern, check, _why in LEFT_OUT if re.fullmatch(pattern, label)]


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_matches_its_document(case, admin_headers) -> None:  # type: ignore[no-untyped-def]
    response = case.call_and_validate(
        headers=admin_headers, excluded_checks=left_out(case.operation.label)
    )
    REACHED.append(response.status_code)


def test_the_cases_reached_the_api_as_the_administrator() -> None:
    """Guards the test above against passing vacuously (e.g. every case a 401)."""
    assert len(REACHED) > 100
    assert sum(status < 300 for status in REACHED) > 50
