"""Bearer tokens are looked up in one statement and kept a few seconds per process: a
revocation, a disabled user or new roles take effect at once in the process that made them
(whatever wrote them), within the cache's seconds in other processes, and an expiry at its
moment."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select, text, update

import trellis.access.bearers as bearers
from trellis.access.bearers import BearerCache
from trellis.access.credentials import change_roles, set_active
from trellis.access.models import ApiToken
from trellis.access.tokens import issue_token
from trellis.accounts import User, get_user
from trellis.app import get_runtime_of
from trellis.clock import utcnow


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def ann(client, make_user):  # type: ignore[no-untyped-def]
    """Bearer headers of ``ann`` (an administrator), already used once (so cached)."""
    make_user("ann", ["admin"])
    response = client.post("/api/auth/token", json={"username": "ann", "password": "ann-password"})
    headers = bearer(response.json["token"])
    assert client.get("/api/meta/entities", headers=headers).status_code == 200
    return headers


def auth_statements(seen: list[str]) -> list[str]:
    return [s for s in seen if "auth_" in s]


def test_a_token_is_looked_up_in_one_statement_then_kept(client, ann, app, statements) -> None:  # type: ignore[no-untyped-def]
    get_runtime_of(app).bearers.clear()
    statements.clear()
    assert client.get("/api/meta/entities", headers=ann).status_code == 200
    assert len(auth_statements(statements)) == 1  # token, user and roles in one query
    statements.clear()
    assert client.get("/api/meta/entities", headers=ann).status_code == 200
    assert auth_statements(statements) == []


def test_revoking_the_token_in_use_stops_it_at_once(client, ann) -> None:  # type: ignore[no-untyped-def]
    assert client.delete("/api/auth/token", headers=ann).status_code == 204
    assert client.get("/api/meta/entities", headers=ann).status_code == 401


@pytest.mark.parametrize("change", ["roles", "disabled", "plain SQL", "revoked_at"])
def test_a_change_made_in_this_process_stops_a_cached_token_at_once(  # type: ignore[no-untyped-def]
    client, ann, runtime, change
) -> None:
    with runtime.transaction() as session:
        user = get_user(session, "ann")
        if change == "roles":
            change_roles(session, user, ["user"])
        elif change == "disabled":
            set_active(session, user, False)
        elif change == "plain SQL":  # whatever writes the tables, not only the services
            session.execute(text("UPDATE auth_user SET is_active = :no"), {"no": False})
        else:
            session.execute(update(ApiToken).values(revoked_at=utcnow()))
    assert client.get("/api/meta/entities", headers=ann).status_code == 401


def test_new_roles_count_at_once_for_a_new_token(client, ann, runtime, token_for) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/meta/roles", headers=ann).status_code == 200
    with runtime.transaction() as session:
        change_roles(session, get_user(session, "ann"), ["user"])
    headers = token_for("ann")
    assert client.get("/api/meta/entities", headers=headers).status_code == 200
    assert client.get("/api/meta/roles", headers=headers).status_code == 403


def test_a_change_rolled_back_keeps_the_token(client, ann, runtime) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError), runtime.transaction() as session:
        session.execute(update(ApiToken).values(revoked_at=utcnow()))
        raise RuntimeError("changed my mind")
    assert client.get("/api/meta/entities", headers=ann).status_code == 200


def test_another_process_s_revocation_counts_within_the_cache_s_seconds(  # type: ignore[no-untyped-def]
    client, ann, app, settings
) -> None:
    cache = get_runtime_of(app).bearers
    cache.seconds = 0.5
    other = create_engine(settings["DATABASE_URL"])  # another process: no events reach here
    with other.begin() as conn:
        conn.execute(update(ApiToken).values(revoked_at=utcnow()))
    other.dispose()
    time.sleep(0.6)
    assert client.get("/api/meta/entities", headers=ann).status_code == 401


def test_a_cached_token_stops_at_its_expiry(client, make_user, runtime) -> None:  # type: ignore[no-untyped-def]
    make_user("bob", ["user"])
    with runtime.transaction() as session:
        user = session.scalar(select(User).where(User.username == "bob"))
        token, _row = issue_token(session, user, lifetime=timedelta(seconds=1.5))
    assert client.get("/api/meta/entities", headers=bearer(token)).status_code == 200
    time.sleep(1.6)  # well within the cache's seconds
    assert client.get("/api/meta/entities", headers=bearer(token)).status_code == 401


def test_a_lookup_that_raced_with_a_change_is_not_kept(runtime, make_user, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    make_user("cat", ["user"])
    with runtime.transaction() as session:
        token, _row = issue_token(session, get_user(session, "cat"))
    cache = BearerCache()
    found = bearers.find_bearer

    def racing(session, clear):  # type: ignore[no-untyped-def]
        answer = found(session, clear)
        bearers.forget_all()  # a change committed while the lookup ran
        return answer

    monkeypatch.setattr(bearers, "find_bearer", racing)
    with runtime.transaction() as session:
        assert cache.load(session, token) is not None  # this request goes on
    assert cache.get(token) is None  # but the next one looks again
    monkeypatch.setattr(bearers, "find_bearer", found)
    with runtime.transaction() as session:
        cache.load(session, token)
    assert cache.get(token) is not None


def test_a_lookup_in_a_snapshot_older_than_a_revocation_is_not_kept(client, ann, app) -> None:  # type: ignore[no-untyped-def]
    """A lookup in a transaction that began before a revocation committed in this process
    (SQLite reads its snapshot from before the commit) is not kept: the next request is
    refused at once."""
    runtime = get_runtime_of(app)
    clear = ann["Authorization"].removeprefix("Bearer ")
    runtime.bearers.clear()
    with runtime.transaction(read_only=True) as session:
        session.execute(select(ApiToken.id)).all()  # the transaction's snapshot
        with runtime.transaction() as other:  # another request revokes every token
            other.execute(update(ApiToken).values(revoked_at=utcnow()))
        runtime.bearers.load(session, clear)  # (what its snapshot says)
    assert runtime.bearers.get(clear) is None
    assert client.get("/api/meta/entities", headers=ann).status_code == 401
