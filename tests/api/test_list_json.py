"""``GET /api/records/<entity>``: a listed record's JSON is the record's own JSON (``GET`` of
it), for every field type, filled and empty: references with their target's title, users with
their names, times in UTC, decimals and money as text, options with their labels."""

from __future__ import annotations

from every_field_type import FIELDS, every_type_entity, filled_values

from trellis.metamodel.fieldtypes import registry


def test_a_listed_record_is_its_own_json_for_every_field_type(factory, admin, runtime) -> None:  # type: ignore[no-untyped-def]
    assert {spec[0] for spec in FIELDS.values()} == set(registry.names())
    every_type_entity(factory)
    filled = filled_values(factory, runtime)
    other, user = filled["r"], filled["who"]
    made = [factory.record("thing", **filled).id, factory.record("thing").id]
    listed = admin.ok("GET", "/api/records/thing?sort=id")["items"]
    assert [item["id"] for item in listed] == made
    for item in listed:
        assert item == admin.ok("GET", f"/api/records/thing/{item['id']}")
    full = listed[0]
    assert full["r"] == {"id": other, "title": "Target"}
    assert full["who"]["id"] == user and full["who"]["username"] == "ann"
    assert full["ts"] == "2026-11-24T08:30:00+00:00"
    assert full["created_at"].endswith("+00:00")
    assert (full["d"], full["m"]) == ("12.500", {"amount": "10.50", "currency": "EUR"})
    assert all(listed[1][k] in (None, [], False) for k in FIELDS if k != "b")
