"""The fast paths hold the one permission policy, through HTTP: a list page's statement
prepared for one caller (records.prepared, kept per entity type and shape) gives another
caller only the records their read scope covers and never the fields hidden from them, by
page, by cursor and after shapes were evicted; and a browser's signed-in session opens
nothing under ``/api`` (bearer tokens only, no CSRF check there), while forms still need
their CSRF token."""

from __future__ import annotations

import re
from typing import Any

import pytest
from api_helpers import Caller
from signed_in import sign_in

from trellis.app import get_runtime_of

OWN_ITEMS = {
    "create": True,
    "read": "own",
    "update": "own",
    "delete": "own",
    "fields": {"secret": "hidden"},
}
#: the list queries tried, each a shape of its own (filters, operators, sort, page kind)
QUERIES = (
    "",
    "name=x",
    "sort=score",
    "sort=-score&name=x",
    "score__gte=0",
    "score__in=1,2,3,4,5,6",
    "name__isnull=false",
    "per_page=2&page=2",
)


@pytest.fixture
def world(factory, admin, user) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Items of the administrator, of sam and of kim (own_items: read and change their own,
    ``secret`` hidden); each item's secret names its owner."""
    factory.entity("item", {"name": "text", "score": "integer", "secret": "text"})
    assert admin.post("/api/meta/roles", {"key": "own_items", "label": "Own"}).status_code == 201
    admin.ok("PUT", "/api/meta/roles/own_items/permissions/item", OWN_ITEMS)
    callers = {"admin": admin, "sam": user("sam", ["own_items"]), "kim": user("kim", ["own_items"])}
    ids: dict[str, set[int]] = {name: set() for name in callers}
    for name, count in (("admin", 4), ("sam", 3), ("kim", 2)):
        for i in range(count):
            body: dict[str, Any] = {"name": "x", "score": i + 1}
            if name == "admin":
                body["secret"] = f"secret-of-admin-{i}"
            created = callers[name].ok("POST", "/api/records/item", body, 201)
            ids[name].add(created["id"])
    return {"callers": callers, "ids": ids}


def readable(world: dict[str, Any], name: str) -> set[int]:
    ids = world["ids"]
    return set().union(*ids.values()) if name == "admin" else ids[name]


def listed(caller: Caller, query: str) -> dict[str, Any]:
    return caller.ok("GET", f"/api/records/item?{query}")  # type: ignore[no-any-return]


def walked(caller: Caller, query: str) -> list[int]:
    """Every id of the list by cursor, two a page."""
    seen: list[int] = []
    page = listed(caller, f"{query}&per_page=2")
    while True:
        seen += [r["id"] for r in page["items"]]
        assert len(seen) < 50
        if not page["next_cursor"]:
            return seen
        page = listed(caller, f"{query}&per_page=2&after={page['next_cursor']}")


def assert_only_theirs(world: dict[str, Any], name: str, page: dict[str, Any], query: str) -> None:
    mine = readable(world, name)
    got = {r["id"] for r in page["items"]}
    assert got <= mine, (name, query, got - mine)
    if "page=2" not in query:
        assert got == mine, (name, query)
        assert page["total"] == len(mine), (name, query, page["total"])
    if name != "admin":
        assert all("secret" not in r for r in page["items"]), (name, query)
        assert "secret-of" not in str(page), (name, query)


@pytest.mark.parametrize("max_shapes", [64, 2])
def test_a_page_prepared_for_one_caller_gives_another_only_what_they_may_read(  # type: ignore[no-untyped-def]
    world, app, monkeypatch, max_shapes
) -> None:
    """The administrator's list of each shape comes first (its statement prepared without a
    read condition), then each user's, then the administrator's again; with room for two
    shapes only, shapes are evicted and prepared again between the callers."""
    from trellis.records import prepared

    monkeypatch.setattr(prepared, "MAX_SHAPES", max_shapes)
    runtime = get_runtime_of(app)
    with runtime.transaction(read_only=True) as session:
        kept = runtime.model(session).entities["item"].page_statements
    kept.clear()
    callers = world["callers"]
    for query in QUERIES:
        for name in ("admin", "sam", "kim", "sam", "admin"):
            assert_only_theirs(world, name, listed(callers[name], query), query)
    for query in ("sort=score", "sort=-score&name=x", "score__gte=2"):
        for name in ("admin", "sam", "kim", "admin"):
            ids = walked(callers[name], query)
            assert len(ids) == len(set(ids)), (name, query)
            wanted = {
                i
                for i in readable(world, name)
                if callers["admin"].ok("GET", f"/api/records/item/{i}")["score"]
                >= (2 if "gte" in query else 0)
            }
            assert set(ids) == wanted, (name, query)
    assert len(kept) <= max_shapes
    # the hidden field is no filter or sort for a user, whatever the admin's shapes kept
    for query in ("secret=secret-of-admin-0", "sort=secret", "secret__isnull=false"):
        assert callers["admin"].get(f"/api/records/item?{query}").status_code == 200
        assert callers["sam"].get(f"/api/records/item?{query}").status_code == 400


def test_the_pages_of_a_signed_in_browser_show_a_user_only_their_own_after_an_admin(  # type: ignore[no-untyped-def]
    world, app
) -> None:
    """The web list and CSV export go through the same prepared pages."""
    callers = world["callers"]
    for query in ("sort=score", "name=x"):
        callers["admin"].ok("GET", f"/api/records/item?{query}")
    browser = app.test_client()
    sign_in(browser, "sam")
    for path in ("/records/item?sort=score", "/records/item/export.csv", "/records/item"):
        body = browser.get(path).get_data(as_text=True)
        assert "secret-of" not in body, path
        for other in world["ids"]["admin"] | world["ids"]["kim"]:
            assert f'/records/item/{other}"' not in body, (path, other)


def api_paths(app: Any, record_id: int) -> list[tuple[str, str]]:
    """(method, path) of every route under /api, its URL parameters filled in."""
    values = {"entity": "item", "record_id": record_id, "key": "item", "role": "own_items"}
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(
            r"<(?:([^:<>]+)(?:\([^)]*\))?:)?([^:<>]+)>",
            lambda m: str(values.get(m[2], 1 if m[1] and m[1].startswith("int") else "x")),
            rule.rule,
        )
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return found


def test_a_signed_in_browser_session_opens_nothing_under_the_api(world, app) -> None:  # type: ignore[no-untyped-def]
    """An administrator signed in through the login form: every API route answers 401 to a
    request carrying the session cookie (and its CSRF token) but no bearer token, and
    nothing changes; the same session's form still needs its CSRF token."""
    admin = world["callers"]["admin"]
    record_id = min(world["ids"]["admin"])
    before = admin.ok("GET", f"/api/records/item/{record_id}")
    browser = app.test_client()
    csrf = sign_in(browser, "root")
    assert browser.get("/records/item").status_code == 200  # the session is signed in
    paths = api_paths(app, record_id)
    assert len(paths) > 40
    for method, path in paths:
        if (method, path) == ("POST", "/api/auth/token"):
            continue  # public: a password gives a token
        answer = browser.open(
            path,
            method=method,
            json={"name": "changed", "version": before["version"]},
            headers={"X-CSRFToken": csrf},
        )
        assert answer.status_code == 401, (method, path, answer.status_code)
        assert "Set-Cookie" not in answer.headers, (method, path)
    assert admin.ok("GET", f"/api/records/item/{record_id}") == before
    # a form of the same session: refused without its CSRF token, taken with it
    form = {"name": "by form", "version": str(before["version"])}
    refused = browser.post(f"/records/item/{record_id}/edit", data=form)
    assert refused.status_code == 400
    assert admin.ok("GET", f"/api/records/item/{record_id}")["name"] == "x"
    taken = browser.post(f"/records/item/{record_id}/edit", data={**form, "csrf_token": csrf})
    assert taken.status_code in (302, 303), taken.get_data(as_text=True)[:500]
    assert admin.ok("GET", f"/api/records/item/{record_id}")["name"] == "by form"
