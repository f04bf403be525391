"""``GET /api/records/<entity>``: a listed record's JSON is the record's own JSON (``GET`` of
it), for every field type, filled and empty: references with their target's title, users with
their names, times in UTC, decimals and money as text, options with their labels."""

from __future__ import annotations

from typing import Any

from trellis.accounts import create_user
from trellis.metamodel.fieldtypes import registry

FIELDS: dict[str, tuple[str, dict[str, Any], Any]] = {
    "t": ("text", {}, "Ann"),
    "lt": ("long_text", {}, "line 1\nline 2"),
    "i": ("integer", {}, 7),
    "d": ("decimal", {"settings": {"precision": 8, "scale": 3}}, "12.5"),
    "m": ("money", {"settings": {"scale": 2}}, {"amount": "10.5", "currency": "EUR"}),
    "b": ("boolean", {}, True),
    "dt": ("date", {}, "2026-11-24"),
    "ts": ("datetime", {}, "2026-11-24T10:30:00+02:00"),
    "e": ("email", {}, "ann@acme.example"),
    "p": ("phone", {}, "+372 555-0101"),
    "u": ("url", {}, "https://acme.example"),
    "c": ("list", {"settings": {"list": "colour"}}, "red"),
    "mc": ("multi_list", {"settings": {"list": "colour"}}, ["blue", "red"]),
    "r": ("reference", {"settings": {"target": "other"}}, None),
    "who": ("user", {}, None),
}


def test_a_listed_record_is_its_own_json_for_every_field_type(factory, admin, runtime) -> None:  # type: ignore[no-untyped-def]
    assert {spec[0] for spec in FIELDS.values()} == set(registry.names())
    factory.entity(
        "other", {"name": "text"}, title="{name}", lists={"colour": ["red", "green", "blue"]}
    )
    factory.entity("thing", {k: (t, o) for k, (t, o, _v) in FIELDS.items()}, title="{t} {i}")
    with runtime.transaction() as session:
        user = create_user(session, "ann", "ann-password-long", ["user"]).id
    other = factory.record("other", name="Target").id
    filled = {k: v for k, (_t, _o, v) in FIELDS.items()} | {"r": other, "who": user}
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
