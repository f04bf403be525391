"""Every filter operand the document allows, the server takes; every one it refuses, the
server refuses (a 400): checked value by value against each list parameter's own schema, so
the document and the record service cannot drift apart (schemathesis found '0' for a date and
time, an e-mail '0', an empty option key)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import jsonschema
import pytest
from configured_fixtures import configured

SAMPLES = [
    "", " ", "0", "1", "-1", "1.5", "abc", " a b ", "true", "bug", "bug,idea", "bug,,idea",
    "1,2", "007", "root", "#1", "x@y.org", "2026-03-31", "2026-02-30", "2024-02-29",
    "2026-03-31T14:30", "2026-03-31 14:30:05+02:00", "2026-03-31T25:30",
]  # fmt: skip


@configured
def thing_types(factory, admin_headers):  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text"})
    factory.entity(
        "thing",
        {
            "name": "text",
            "notes": "long_text",
            "mail": "email",
            "phone": "phone",
            "site": "url",
            "count": "integer",
            "price": "decimal",
            "due": "date",
            "at": "datetime",
            "done": "boolean",
            "kind": ("list", {"settings": {"list": "kind"}}),
            "tags": ("multi_list", {"settings": {"list": "kind"}}),
            "company": ("reference", {"settings": {"target": "company"}}),
            "person": "user",
        },
        pipelines={"flow": ["new", "done:success"]},
        lists={"kind": ["bug", "idea"]},
    )


@pytest.fixture
def things(thing_types, admin):  # type: ignore[no-untyped-def]
    return admin


def _valid(schema: dict, text: str) -> bool:  # type: ignore[type-arg]
    """Whether a query-string ``text`` is an instance of ``schema`` (as a client reads it)."""
    kind = schema.get("type")
    value: object = text
    try:
        if kind == "integer":
            value = int(text)
        elif kind == "number":
            value = float(text)
        elif kind == "boolean":
            value = {"true": True, "false": False}[text]
    except (KeyError, ValueError):
        return False
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return False
    return True


def test_the_server_takes_exactly_the_operands_the_document_allows(things) -> None:  # type: ignore[no-untyped-def]
    document = things.ok("GET", "/api/openapi.json")
    parameters = document["paths"]["/api/records/thing"]["get"]["parameters"]
    filters = [
        p
        for p in parameters
        if p["name"] not in ("q", "sort", "page", "per_page", "after", "total")
    ]
    assert len(filters) > 60
    disagreements = []
    seen = set()
    for parameter in filters:
        field = parameter["name"].split("__")[0]
        schema = json.dumps(parameter["schema"], sort_keys=True)
        if (field, schema) in seen:  # eq, ne, lt... of one field take the same operand
            continue
        seen.add((field, schema))
        for text in SAMPLES:
            expected = 200 if _valid(parameter["schema"], text) else 400
            query = urlencode({parameter["name"]: text})
            status = things.open("GET", f"/api/records/thing?{query}").status_code
            if status != expected:
                disagreements.append((parameter["name"], text, status))
    assert disagreements == []
