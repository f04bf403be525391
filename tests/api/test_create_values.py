"""A record create body's values: what the document's schema of a property allows, the
server takes (201), and what it refuses, the server refuses (422); schemathesis found a
required name sent as '', a required user as null and a phone as '' (all the server's 422)."""

from __future__ import annotations

import jsonschema
import pytest
from configured_fixtures import configured

SAMPLES = [None, "", " ", "  kept  ", "a\nb", "a\x00b", "0", "+49 30 1234", "12", "root",
           "nobody-here", "http://example.org/a", "ftp://x.org", 7, 0, "x@y.org"]  # fmt: skip
BASE = {"name": "n", "employee": "root", "notes": "x"}


@configured
def person_type(factory, admin_headers):  # type: ignore[no-untyped-def]
    factory.entity(
        "person",
        {
            "name": ("text", {"required": True}),
            "nick": "text",
            "notes": ("long_text", {"required": True}),
            "phone": "phone",
            "site": "url",
            "employee": ("user", {"required": True}),
            "buddy": "user",
        },
    )


@pytest.fixture
def people(person_type, admin):  # type: ignore[no-untyped-def]
    return admin


def test_the_server_takes_exactly_the_values_the_document_allows(people) -> None:  # type: ignore[no-untyped-def]
    schema = people.ok("GET", "/api/openapi.json")["components"]["schemas"]["PersonCreate"]
    disagreements = []
    for key, _prop in schema["properties"].items():
        for value in SAMPLES:
            body = {**BASE, key: value}
            try:
                jsonschema.validate(body, schema)
                expected = 201
            except jsonschema.ValidationError:
                expected = 422
            if key in ("employee", "buddy") and expected == 201 and value not in ("root", None):
                expected = 422  # well formed, but no such user: the configuration's rule
            status = people.open("POST", "/api/records/person", body).status_code
            if isinstance(value, str) and "\x00" in value:
                expected = 400  # a NUL anywhere in a body is refused before the schema
            if status != expected:
                disagreements.append((key, value, status))
    assert disagreements == []
