"""Entity keys whose names run together (``a1b`` and ``a1_b``, ``a_b`` and ``a__b``) still get
schemas of their own in the OpenAPI document."""

from __future__ import annotations

import pytest

from trellis.api.openapi_records import schema_name


@pytest.mark.parametrize(
    "keys",
    [("a1b", "a1_b"), ("a_b", "a__b"), ("ab", "a_b"), ("a_1", "a1"), ("a_", "a"), ("ab_", "a_b")],
)
def test_different_keys_give_different_schema_names(keys) -> None:  # type: ignore[no-untyped-def]
    assert len({schema_name(k) for k in keys}) == len(keys)


def test_readable_names_stay_as_they_were() -> None:
    assert schema_name("lead_source") == "LeadSource"
    assert schema_name("deal") == "Deal"
    assert schema_name("kind0") == "Kind0"


def test_entity_types_whose_names_run_together_each_get_their_schemas(factory, admin) -> None:  # type: ignore[no-untyped-def]
    factory.entity("a1b", {"name": "text"})
    factory.entity("a1_b", {"count": "integer"})
    document = admin.ok("GET", "/api/openapi.json")
    schemas = document["components"]["schemas"]
    one, other = (schemas[f"{schema_name(k)}Record"]["properties"] for k in ("a1b", "a1_b"))
    assert "name" in one and "count" not in one
    assert "count" in other and "name" not in other
    for key in ("a1b", "a1_b"):
        body = document["paths"][f"/api/records/{key}"]["post"]["requestBody"]
        ref = body["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{schema_name(key)}Create"
