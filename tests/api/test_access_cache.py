"""What a user's roles grant is kept a few seconds per process (access.remembered): a GET by a
user who is not an administrator reads no permission tables once it is kept, and a grant
change, a hidden field or a role taken away counts at once in the process that made it
(whatever wrote it), within the cache's seconds in other processes."""

from __future__ import annotations

import time

import pytest
from api_helpers import Caller, assert_problem
from signed_in import sign_in
from sqlalchemy import create_engine, select, text

from trellis.access.credentials import change_roles
from trellis.access.grants import set_grant
from trellis.access.models import RolePermission
from trellis.access.policy import load_access
from trellis.accounts import SYSTEM, Actor, Role, get_user
from trellis.app import get_runtime_of

READ_ALL = {"read": "all"}


@pytest.fixture
def rita(factory, admin, user, runtime):  # type: ignore[no-untyped-def]
    """``rita`` (roles reader and helper) may read every item; the helper role grants nothing.
    Returns her as a Caller, after one GET of the item (so her token and rights are kept)."""
    factory.entity("item", {"name": "text", "notes": "text"}, title="{name}")
    for key in ("reader", "helper"):
        assert admin.post("/api/meta/roles", {"key": key, "label": key}).status_code == 201
    admin.ok("PUT", "/api/meta/roles/reader/permissions/item", READ_ALL)
    item = admin.ok("POST", "/api/records/item", {"name": "Bolt", "notes": "secret"}, 201)
    caller = user("rita", ["reader", "helper"])
    caller.url = f"/api/records/item/{item['id']}"
    assert caller.ok("GET", caller.url)["notes"] == "secret"
    return caller


def permission_statements(seen: list[str]) -> list[str]:
    return [s for s in seen if "auth_role" in s or "permission" in s]


def test_a_non_administrator_s_get_reads_no_permission_table(rita, app, statements) -> None:  # type: ignore[no-untyped-def]
    get_runtime_of(app).rights.clear()
    statements.clear()
    assert rita.ok("GET", rita.url)["name"] == "Bolt"
    assert len(permission_statements(statements)) == 3  # roles, grants, field rules
    statements.clear()
    assert rita.ok("GET", rita.url)["name"] == "Bolt"
    assert permission_statements(statements) == []
    # the token and rights are kept: the record, and the metamodel stamp on PostgreSQL (a
    # SQLite reader keeps the stamp while nothing was committed; its BEGIN goes to the driver)
    sqlite = get_runtime_of(app).engine.dialect.name == "sqlite"
    assert len(statements) == (1 if sqlite else 2), statements
    assert all(s.startswith("SELECT") for s in statements), statements


def set_item_grant(runtime, role: str, grant: dict) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        set_grant(session, SYSTEM, runtime.model(session), role, "item", grant)


@pytest.mark.parametrize("change", ["grant", "hidden field", "plain SQL", "role deleted"])
def test_a_change_made_in_this_process_counts_at_once(rita, runtime, change) -> None:  # type: ignore[no-untyped-def]
    if change == "grant":
        set_item_grant(runtime, "reader", {"read": "none"})
    elif change == "hidden field":
        set_item_grant(runtime, "reader", {**READ_ALL, "fields": {"notes": "hidden"}})
        assert "notes" not in rita.ok("GET", rita.url)
        return
    else:
        with runtime.transaction() as session:
            if change == "plain SQL":  # whatever writes the tables, not only the services
                session.execute(text("UPDATE auth_permission SET read = 'none'"))
            else:
                session.execute(
                    text(
                        "DELETE FROM auth_user_role WHERE role_id IN "
                        "(SELECT id FROM auth_role WHERE key = 'reader')"
                    )
                )
                session.execute(text("DELETE FROM auth_permission"))
                session.execute(text("DELETE FROM auth_role WHERE key = 'reader'"))
    assert_problem(rita.get(rita.url), 404)


def test_a_role_taken_away_counts_at_once_for_another_holder_too(  # type: ignore[no-untyped-def]
    rita, user, runtime, client, token_for
) -> None:
    url = rita.url
    rob: Caller = user("rob", ["reader", "helper"])  # the same roles: the same kept rights
    assert rob.ok("GET", url)["name"] == "Bolt"
    with runtime.transaction() as session:
        change_roles(session, get_user(session, "rita"), ["helper"])  # ends her tokens
    rita = Caller(client, token_for("rita"))
    assert_problem(rita.get(url), 404)
    assert rob.ok("GET", url)["name"] == "Bolt"
    set_item_grant(runtime, "helper", READ_ALL)
    assert rita.ok("GET", url)["name"] == "Bolt"


def test_a_change_rolled_back_keeps_the_rights(rita, runtime) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError), runtime.transaction() as session:
        session.execute(text("UPDATE auth_permission SET read = 'none'"))
        raise RuntimeError("changed my mind")
    assert rita.ok("GET", rita.url)["name"] == "Bolt"


def test_another_process_s_grant_change_counts_within_the_cache_s_seconds(  # type: ignore[no-untyped-def]
    rita, app, settings
) -> None:
    get_runtime_of(app).rights.seconds = 0.5
    other = create_engine(settings["DATABASE_URL"])  # another process: no events reach here
    with other.begin() as conn:
        conn.execute(text("UPDATE auth_permission SET read = 'none'"))
    other.dispose()
    assert rita.ok("GET", rita.url)["name"] == "Bolt"  # kept: the change is not seen yet
    time.sleep(0.6)
    assert_problem(rita.get(rita.url), 404)


def test_users_holding_the_same_roles_share_rights_but_not_ownership(rita, app) -> None:  # type: ignore[no-untyped-def]
    runtime = get_runtime_of(app)
    with runtime.transaction() as session:
        first = runtime.access(session, Actor(1, "a", frozenset({"reader"})))
        second = runtime.access(session, Actor(2, "b", frozenset({"reader"})))
    assert first.grants is second.grants  # one entry
    assert (first.actor.user_id, second.actor.user_id) == (1, 2)
    assert first.allows("read", "item", 2) and first.can("read", "item")


def test_a_user_s_access_is_made_once_and_a_change_still_counts_at_once(rita, app) -> None:  # type: ignore[no-untyped-def]
    """Requests by the same user are handed the one Access kept with their roles' rights (an
    administrator's too), built on none of them; a grant change in this process still
    counts on the next request."""
    runtime = get_runtime_of(app)
    rita_now = Actor(5, "rita", frozenset({"reader", "helper"}))
    root = Actor(1, "root", frozenset({"admin"}))
    with runtime.transaction(read_only=True) as session:
        first = runtime.access(session, rita_now)
        administrator = runtime.access(session, root)
    with runtime.transaction(read_only=True) as session:
        assert runtime.access(session, Actor(5, "rita", frozenset({"reader", "helper"}))) is first
        assert runtime.access(session, root) is administrator and administrator.unrestricted
        other = runtime.access(session, Actor(6, "olga", frozenset({"reader", "helper"})))
        assert other is not first and other.grants is first.grants
    assert first.can("read", "item")
    set_item_grant(runtime, "reader", {"read": "none"})
    with runtime.transaction(read_only=True) as session:
        after = runtime.access(session, rita_now)
    assert after is not first and not after.can("read", "item")


def test_pages_the_configuration_and_the_document_share_the_one_cache(  # type: ignore[no-untyped-def]
    rita, app, statements
) -> None:
    """Not only the record routes: the configuration's routes, the OpenAPI document, the
    conversion maps and the web pages ask the runtime's cache too (they called the
    permission tables on every request)."""
    get_runtime_of(app).rights.clear()
    statements.clear()
    rita.ok("GET", "/api/meta/entities")
    assert len(permission_statements(statements)) == 3  # loaded once, then kept
    statements.clear()
    for path in ("/api/meta/entities", "/api/meta/entities/item", "/api/meta/lists"):
        rita.ok("GET", path)
    for path in ("/api/meta/conversions", "/api/openapi.json", rita.url):
        rita.ok("GET", path)
    assert permission_statements(statements) == []
    browser = app.test_client()  # rita signed in through the login form
    sign_in(browser, "rita")
    statements.clear()
    assert browser.get("/").status_code == 200
    assert browser.get("/records/item").status_code == 200
    # (the signed-in user is loaded with their roles: that query stays, the rights are kept)
    assert [s for s in statements if "permission" in s] == []


def test_a_transaction_sees_its_own_grant_changes_and_keeps_none_of_them(rita, app) -> None:  # type: ignore[no-untyped-def]
    """Roles and grants changed in a transaction (a pack, then its flows' approver checks)
    count in it at once, flushed or not; rolled back, they were never kept."""
    runtime = get_runtime_of(app)
    reader = Actor(None, "role:reader", frozenset({"reader"}))
    with runtime.transaction() as session:
        assert load_access(session, reader).can("read", "item")  # kept by the rita fixture
    with pytest.raises(RuntimeError), runtime.transaction() as session:
        row = session.scalar(select(RolePermission).join(Role).where(Role.key == "reader"))
        row.read = "none"  # not flushed yet
        assert not load_access(session, reader).can("read", "item")
        session.flush()
        assert not load_access(session, reader).can("read", "item")
        raise RuntimeError("rolled back")
    with runtime.transaction() as session:
        assert load_access(session, reader).can("read", "item")
    assert rita.ok("GET", rita.url)["name"] == "Bolt"


def test_rights_read_in_a_snapshot_older_than_a_change_are_not_kept(rita, app) -> None:  # type: ignore[no-untyped-def]
    """A request whose transaction began before another request of this process committed
    a grant change (on SQLite it reads a snapshot from before the commit, on PostgreSQL it
    may) and first asks for the rights after that commit: it gets the rights of its snapshot,
    and they are not kept, so the next request sees the change at once."""
    runtime = get_runtime_of(app)
    rita_now = Actor(5, "rita", frozenset({"reader", "helper"}))
    runtime.rights.clear()
    with runtime.transaction(read_only=True) as session:
        session.execute(text("SELECT count(*) FROM auth_permission")).scalar()  # snapshot
        set_item_grant(runtime, "reader", {"read": "none"})  # another request, committed
        load_access(session, rita_now)  # (what its snapshot says: either is right here)
    with runtime.transaction(read_only=True) as session:
        assert not load_access(session, rita_now).can("read", "item")
    assert_problem(rita.get(rita.url), 404)
