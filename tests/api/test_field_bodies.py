"""A field's body in the document is typed by its ``type``: ``FieldCreate`` is one variant
per field type, each with exactly the settings that type takes, built from the field types'
own settings schemas (the ones the service checks); what the configuration decides (a list
or an entity type that must exist, a key whose columns are free, a default of the field) is
declared ``x-configuration-dependent`` and is the only 422 a well-typed body gets."""

from __future__ import annotations

import jsonschema
import pytest
from api_helpers import Caller
from configured_fixtures import configured

from trellis.api.blueprint import CONFIGURATION_DEPENDENT, is_declared
from trellis.metamodel.fieldtypes import registry

FIELDS = "/api/meta/entities/{entity}/fields"


@configured
def source_list(factory, client, admin_headers):  # type: ignore[no-untyped-def]
    factory.entity("ticket", {"name": "text"})
    admin = Caller(client, admin_headers)
    admin.ok("POST", "/api/meta/lists", {"key": "source", "label": "Source"}, status=201)


@pytest.fixture
def document(source_list, admin):  # type: ignore[no-untyped-def]
    return admin.ok("GET", "/api/openapi.json")


def _valid(document, component: str, body) -> bool:  # type: ignore[no-untyped-def]
    schemas = document["components"]["schemas"]
    root = {**schemas[component], "components": {"schemas": schemas}}
    return jsonschema.Draft202012Validator(root).is_valid(body)


def test_field_create_is_one_variant_per_type_with_its_own_settings(document) -> None:  # type: ignore[no-untyped-def]
    schemas = document["components"]["schemas"]
    variants = [v["$ref"].rsplit("/", 1)[1] for v in schemas["FieldCreate"]["oneOf"]]
    assert len(variants) == len(registry.names())
    for name in registry.names():
        field_type = registry.get(name)
        component = "".join(p.capitalize() for p in name.split("_"))
        variant = schemas[f"{component}FieldCreate"]
        assert variant["properties"]["type"]["const"] == name
        assert variant["additionalProperties"] is False
        settings = schemas[f"{component}FieldSettings"]
        assert set(settings.get("properties", {})) == set(
            field_type.settings_schema.get("properties", {})
        )
        assert settings["additionalProperties"] is False
        assert ("settings" in variant["required"]) == bool(
            field_type.settings_schema.get("required")
        )
        assert (variant["properties"]["unique"].get("const") is False) == (
            not field_type.can_be_unique
        )


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"type": "text", "settings": {"max_length": 20}}, True),
        ({"type": "text", "settings": {"list": "source"}}, False),  # another type's setting
        ({"type": "list", "settings": {"list": "source"}}, True),
        ({"type": "list"}, False),  # a list field names its list
        ({"type": "boolean", "unique": True}, False),
        ({"type": "decimal", "settings": {"min": "NaN"}}, False),
        ({"type": "decimal", "settings": {"min": "-1.5", "max": 2}}, True),
    ],
)
def test_the_document_and_the_server_agree_on_settings(admin, document, body, valid) -> None:  # type: ignore[no-untyped-def]
    full = {"key": "extra", "label": "Extra", **body}
    assert _valid(document, "FieldCreate", full) == valid
    response = admin.post("/api/meta/entities/ticket/fields", json=full)
    if valid:
        assert response.status_code == 201, response.json
    else:
        assert response.status_code == 422, response.json


def test_a_bound_that_is_not_a_number_is_a_422_not_a_500(admin, document) -> None:  # type: ignore[no-untyped-def]
    for settings in ({"min": "NaN", "max": "1"}, {"min": 1, "max": "Infinity"}):
        body = {"key": "rate", "label": "Rate", "type": "decimal", "settings": settings}
        response = admin.post("/api/meta/entities/ticket/fields", json=body)
        assert response.status_code == 422, response.json
        assert set(response.json["errors"]) == {"settings"}


@pytest.mark.parametrize(
    ("method", "path", "body", "named"),
    [
        ("post", FIELDS, {"type": "list", "settings": {"list": "nothing"}}, "settings"),
        ("post", FIELDS, {"type": "reference", "settings": {"target": "nothing"}}, "settings"),
        ("post", FIELDS, {"type": "integer", "settings": {"min": 5, "max": 1}}, "settings"),
        ("post", FIELDS, {"type": "integer", "default": "many"}, "default"),
        ("patch", FIELDS + "/{field}", {"type": "boolean"}, "type"),
        ("patch", FIELDS + "/{field}", {"settings": {"min": 1}}, "settings"),
        (
            "patch",
            FIELDS + "/{field}",
            {"settings": {"max_length": 5}, "default": "too long"},
            "default",
        ),
    ],
)
def test_a_well_typed_field_body_is_refused_only_for_what_is_declared(  # type: ignore[no-untyped-def]
    admin, document, method, path, body, named
) -> None:
    full = {"key": "extra", "label": "Extra", **body} if method == "post" else body
    component = "FieldCreate" if method == "post" else "FieldPatch"
    assert _valid(document, component, full)
    url = path.format(entity="ticket", field="name")
    response = getattr(admin, method)(url, json=full)
    assert response.status_code == 422, response.json
    assert set(response.json["errors"]) == {named}
    assert is_declared(named, document["paths"][path][method][CONFIGURATION_DEPENDENT])
