"""``GET /api/openapi.json`` with nothing changed costs a cache lookup: the document is built
and serialised once per configuration stamp and view, and a worker keeps the documents of
the current configuration only (with 200 entity types each one is tens of MB). After a
change, only the parts of the document the change touched are built again (each entity
type's schemas and routes are kept per compiled entity type, view and options), and the
document is always the one a build from scratch makes, byte for byte."""

from __future__ import annotations

import json

import pytest

from trellis.access.grants import grants_of, set_grant
from trellis.access.policy import load_access
from trellis.accounts import SYSTEM, Actor, get_user
from trellis.api import openapi, openapi_cache


def test_the_document_is_serialised_once_per_stamp_and_old_stamps_are_dropped(  # type: ignore[no-untyped-def]
    admin, factory, app, monkeypatch
) -> None:
    factory.entity("deal", {"name": "text"})
    made: list[int] = []
    real = openapi_cache.spliced_body
    monkeypatch.setattr(openapi_cache, "spliced_body", lambda *a: made.append(1) or real(*a))
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


@pytest.fixture
def from_scratch(app, runtime):  # type: ignore[no-untyped-def]
    """``from_scratch(username)``: the document as that user sees it, built with nothing
    kept, and the body ``jsonify`` makes of it."""

    def build(username: str | None) -> tuple[dict, bytes]:
        with app.test_request_context(), runtime.transaction(read_only=True) as session:
            actor = SYSTEM if username is None else Actor.of(get_user(session, username))
            static = openapi.static_document(app.extensions["trellis.api"].spec)
            document = openapi.build_document(
                static,
                runtime.model(session),
                load_access(session, actor),
                openapi._conversion_targets(session),
            )
            return document, openapi.serialise(document).encode()

    return build


def _hide(runtime, role: str, entity: str, field: str) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        grant = next(g for g in grants_of(session, role) if g["entity"] == entity)
        grant = {k: v for k, v in grant.items() if k not in ("role", "entity")}
        grant["fields"] = {**grant.get("fields", {}), field: "hidden"}
        set_grant(session, SYSTEM, runtime.model(session), role, entity, grant)


def test_after_each_change_the_document_is_the_one_built_from_scratch(  # type: ignore[no-untyped-def]
    demo_crm, admin, user, factory, runtime, from_scratch
) -> None:
    """The demo CRM (a lead converts into a company, a contact and a deal), seen by an
    administrator and by a sales manager, after changes that touch one entity type, a
    conversion target (the lead's request copies the target's create values), an option list
    several types use, an entity type's label and what a role may see."""
    sales = user("sam", ["sales_manager"])
    changes = [
        lambda: None,
        lambda: factory.meta("add_field", "vacation", "note", "Note", "text"),
        lambda: factory.meta("add_field", "contact", "nickname", "Nickname", "text"),
        lambda: factory.meta("add_option", "source", "fair", "Fair"),
        lambda: factory.meta("update_entity", "company", label="Organisation"),
        lambda: factory.meta("add_field", "lead", "budget", "Budget", "integer", required=True),
        lambda: _hide(runtime, "sales_manager", "contact", "phone"),
    ]
    seen: dict[str | None, list[bytes]] = {None: [], "sam": []}
    for change in changes:
        change()
        for caller, name in ((admin, None), (sales, "sam")):
            got = caller.get("/api/openapi.json")
            assert got.status_code == 200
            document, body = from_scratch(name)
            assert got.get_data() == body  # byte for byte
            assert got.json == document
            seen[name].append(got.get_data())
    # every configuration change showed to the administrator, the hidden field to sam
    assert len(set(seen[None][:-1])) == len(changes) - 1 and seen[None][-1] == seen[None][-2]
    assert seen["sam"][-1] != seen["sam"][-2]


@pytest.fixture
def built(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The keys of the entity types whose part of the document is built, as they are built."""
    keys: list[str] = []
    real = openapi._entity_fragment
    monkeypatch.setattr(
        openapi,
        "_entity_fragment",
        lambda entity, *rest: keys.append(entity.key) or real(entity, *rest),
    )
    return keys


def test_a_change_builds_again_only_the_entity_types_it_touched(  # type: ignore[no-untyped-def]
    demo_crm, admin, factory, app, built
) -> None:
    admin.get("/api/openapi.json")
    assert sorted(built) == ["company", "contact", "deal", "lead", "vacation"]
    for change, rebuilt in [
        (("add_field", "vacation", "note", "Note", "text"), ["vacation"]),
        # the lead converts into contacts: its conversion request carries their values
        (("add_field", "contact", "nickname", "Nickname", "text"), ["contact", "lead"]),
        (("add_option", "absence_type", "sabbatical", "Sabbatical"), ["vacation"]),
        (("add_option", "source", "fair", "Fair"), ["contact", "deal", "lead"]),
    ]:
        built.clear()
        factory.meta(*change)
        assert admin.get("/api/openapi.json").status_code == 200
        assert sorted(built) == rebuilt, change
    fragments = app.extensions["trellis.openapi"].fragments
    sizes = []
    for number in range(2 * fragments.keep):
        factory.meta("add_field", "vacation", f"extra{number}", "Extra", "text")
        admin.get("/api/openapi.json")
        sizes.append(len(fragments))
    # five entity types and the shared schemas, and the vacations' replaced parts of the
    # last few configurations only: no growth per change
    assert sizes[-1] == sizes[fragments.keep] <= 6 + fragments.keep


def test_another_view_keeps_its_parts_across_a_change(  # type: ignore[no-untyped-def]
    demo_crm, admin, user, factory, runtime, built
) -> None:
    """A sales manager's first request after a change an administrator saw first builds the
    changed entity type's part (and the lead's, which converts into it) only: their view of
    the others was kept."""
    sales = user("sam", ["sales_manager"])
    _hide(runtime, "sales_manager", "deal", "amount")  # their deals differ from the admin's
    sales.get("/api/openapi.json")
    admin.get("/api/openapi.json")
    factory.meta("add_field", "deal", "note", "Note", "text")
    admin.get("/api/openapi.json")
    built.clear()
    assert sales.get("/api/openapi.json").status_code == 200
    assert sorted(built) == ["deal", "lead"]  # leads convert into deals
