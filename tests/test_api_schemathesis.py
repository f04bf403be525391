"""Property-based checks of the whole API against its own OpenAPI document (schemathesis):
no 5xx for any generated input, and every response matches the document."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

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


#: checks that every operation passes but these, each with what schemathesis found (SQLite
#: and PostgreSQL alike) and why the document does not yet answer it. Gone: the Allow
#: header of a pipeline (the document has its DELETE); on lists, a negative id/owner/version
#: or an empty stage/pipeline filter is now the server's 400, as the document's bounds say.
#: A pattern matches an operation's label.
LEFT_OUT = [
    (
        r"GET /api/records/\w+",
        positive_data_acceptance,
        "filter operands the document types too loosely: created_at/updated_at operands are "
        "`format: date-time`, which schemathesis does not enforce (it sends '0', a 400); "
        "reference and user filters are strings where the server takes a record id or a "
        "username",
    ),
    (
        r"GET /api/records/\w+",
        negative_data_rejection,
        "an empty operand of a configured field's filter (source__ne=, reason__ne=, "
        "website__contains=) is accepted by the server and matches records, while the "
        "document says minLength 1 (system fields agree now)",
    ),
    (
        r"POST /api/records/\w+",
        positive_data_acceptance,
        "record create schemas: a required text field allows '' (the server's 'Required.'), "
        "a required reference/user field allows null, and phone/email-like text types carry "
        "no pattern of what the server accepts",
    ),
    (
        r"POST /api/records/\w+/import",
        positive_data_acceptance,
        "the CSV body is bytes (format binary); the server needs UTF-8 text whose header names "
        "fields, which JSON Schema cannot say of a file (a generated PNG upload is a 400)",
    ),
    (
        r"POST /api/records/\w+/\{id\}/convert",
        positive_data_acceptance,
        "a conversion target's values are free-form objects in the document; a target's "
        "required fields (e.g. a company's tin) are the configuration's rule, a 422",
    ),
    (
        r"(POST|PUT) /api/meta/conversions.*",
        positive_data_acceptance,
        "a conversion map names entity types and fields that must exist (source '' is the "
        "server's 422), and PUT's body key must equal the path's (a 400): both depend on the "
        "live configuration or another parameter, which JSON Schema cannot express",
    ),
    (
        r"(POST|PATCH) /api/meta/entities/\{entity\}/fields.*",
        positive_data_acceptance,
        "a field's settings are an open object in the document; the server accepts only the "
        "settings of the field's type (an unknown setting is a 422)",
    ),
    (
        r"(POST|PATCH) /api/meta/entities/\{entity\}/pipelines.*",
        positive_data_acceptance,
        "a stage's position is `type: integer`, which schemathesis fills with a whole float "
        "(115242.0), refused by the server's whole-number check",
    ),
    (
        r"POST /api/meta/flows",
        positive_data_acceptance,
        "a flow names an entity type and, for a field trigger, a field that must exist "
        "(entity '' or trigger.field null with on=field is the server's 422): the live "
        "configuration, which JSON Schema cannot express",
    ),
    (
        r"POST /api/meta/flows/\{key\}/versions",
        positive_data_acceptance,
        "a version takes exactly one of route and bpmn, and the route's steps are checked by "
        "the flows service against the configuration (a 422 by JSON path); the document "
        "types route as an open object",
    ),
    (
        r"PATCH /api/records/\w+/\{id\}|POST /api/records/\w+/\{id\}/stage",
        positive_data_acceptance,
        "a stage move obeys the stage rules (next stages, fields required from a stage on) and "
        "PATCH with a pipeline needs a stage: rules of the configuration, which the document "
        "does not express",
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
