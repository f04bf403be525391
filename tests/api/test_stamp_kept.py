"""An API GET on SQLite skips the metamodel stamp statement while no other connection has
committed (``PRAGMA data_version``), and a configuration change made elsewhere (another
worker: the ``runtime`` fixture has its own engine) shows on the very next request."""

from __future__ import annotations

from trellis.app import get_runtime_of


def test_a_change_by_another_worker_shows_on_the_next_get(factory, admin, app, statements) -> None:  # type: ignore[no-untyped-def]
    factory.entity("item", {"name": "text"}, title="{name}")
    url = f"/api/records/item/{admin.ok('POST', '/api/records/item', {'name': 'Bolt'}, 201)['id']}"
    assert "size" not in admin.ok("GET", url)
    statements.clear()
    assert "size" not in admin.ok("GET", url)
    sqlite = get_runtime_of(app).engine.dialect.name == "sqlite"
    stamps = [s for s in statements if "meta_state" in s]
    assert len(stamps) == (0 if sqlite else 1), statements
    factory.meta("add_field", "item", "size", "Size", "integer")  # another worker's commit
    statements.clear()
    assert admin.ok("GET", url)["size"] is None
    assert len([s for s in statements if "meta_state" in s]) == 1  # read again, then kept
    statements.clear()
    assert admin.ok("GET", url)["size"] is None
    assert len([s for s in statements if "meta_state" in s]) == (0 if sqlite else 1)


def test_a_change_through_this_worker_shows_on_the_next_get(factory, admin) -> None:  # type: ignore[no-untyped-def]
    factory.entity("item", {"name": "text"}, title="{name}")
    url = f"/api/records/item/{admin.ok('POST', '/api/records/item', {'name': 'Bolt'}, 201)['id']}"
    assert "size" not in admin.ok("GET", url)
    assert "size" not in admin.ok("GET", url)
    field = {"key": "size", "label": "Size", "type": "integer"}
    admin.ok("POST", "/api/meta/entities/item/fields", field, 201)
    assert admin.ok("GET", url)["size"] is None
