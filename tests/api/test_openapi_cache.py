"""``GET /api/openapi.json`` with nothing changed costs a cache lookup: the document is built
and serialised once per configuration stamp and view, and a worker keeps the documents of
the current configuration only (with 200 entity types each one is tens of MB)."""

from __future__ import annotations

import json

from trellis.api import openapi


def test_the_document_is_serialised_once_per_stamp_and_old_stamps_are_dropped(  # type: ignore[no-untyped-def]
    admin, factory, app, monkeypatch
) -> None:
    factory.entity("deal", {"name": "text"})
    made: list[int] = []
    real = openapi.serialise
    monkeypatch.setattr(openapi, "serialise", lambda document: made.append(1) or real(document))
    first = admin.get("/api/openapi.json")
    assert first.status_code == 200 and first.content_type == "application/json"
    assert "/api/records/deal" in first.json["paths"]
    again = admin.get("/api/openapi.json")
    assert again.get_data() == first.get_data() and len(made) == 1  # nothing changed
    assert json.loads(first.get_data()) == first.json
    factory.meta("add_field", "deal", "size", "Size", "integer")
    changed = admin.get("/api/openapi.json")
    assert "size" in changed.json["components"]["schemas"]["DealRecord"]["properties"]
    assert len(made) == 2
    cache = app.extensions["trellis.openapi"]
    stamps = {key[0] for key in cache._documents}
    assert len(stamps) == 1  # the first configuration's document is gone
    assert set(cache._bodies) <= set(cache._documents)
