"""Bearer tokens: issued for a password, stored hashed, expiring, revocable; failed logins
slowed down; every other /api call needs one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from trellis.access.models import ApiToken, LoginThrottle
from trellis.accounts import User
from trellis.clock import utcnow

PROBLEM = "application/problem+json"


def test_a_token_for_the_right_password(client, make_user, runtime) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    response = client.post("/api/auth/token", json={"username": "ann", "password": "ann-password"})
    assert response.status_code == 201
    token = response.json["token"]
    assert response.json["expires_at"].endswith("+00:00")
    with runtime.transaction() as session:
        rows = session.scalars(select(ApiToken)).all()
        assert len(rows) == 1 and token not in (rows[0].token_hash, rows[0].prefix)


@pytest.mark.parametrize(
    "body",
    [{"username": "ann", "password": "wrong"}, {"username": "nobody", "password": "x"}],
)
def test_wrong_credentials_are_a_401(client, make_user, body) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    response = client.post("/api/auth/token", json=body)
    assert response.status_code == 401 and response.mimetype == PROBLEM


def test_malformed_token_requests_are_400_or_422(client) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/api/auth/token", data="x", content_type="text/plain").status_code == 400
    response = client.post("/api/auth/token", json={"username": 5})
    assert response.status_code == 422 and set(response.json["errors"]) == {"username", "password"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/meta/entities"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/records/lead"),
        ("POST", "/api/records/lead"),
        ("DELETE", "/api/auth/token"),
        ("GET", "/api/meta/roles"),
    ],
)
def test_every_other_call_needs_a_valid_token(client, method, path) -> None:  # type: ignore[no-untyped-def]
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer trl_forged"},
        {"Authorization": "Basic eDp5"},
    ):
        response = client.open(path, method=method, headers=headers, json={})
        assert response.status_code == 401, (path, headers)
        assert response.mimetype == PROBLEM


def test_expired_revoked_and_disabled(client, make_user, token_for, runtime) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    headers = token_for("ann")
    assert client.get("/api/meta/entities", headers=headers).status_code == 200
    assert client.delete("/api/auth/token", headers=headers).status_code == 204
    assert client.get("/api/meta/entities", headers=headers).status_code == 401

    expiring = token_for("ann")
    with runtime.transaction() as session:
        for row in session.scalars(select(ApiToken).where(ApiToken.revoked_at.is_(None))):
            row.expires_at = utcnow() - timedelta(seconds=1)
    assert client.get("/api/meta/entities", headers=expiring).status_code == 401

    active = token_for("ann")
    with runtime.transaction() as session:
        session.scalar(select(User).where(User.username == "ann")).is_active = False
    assert client.get("/api/meta/entities", headers=active).status_code == 401
    refused = client.post("/api/auth/token", json={"username": "ann", "password": "ann-password"})
    assert refused.status_code == 401


def test_repeated_failures_pause_token_requests_for_that_user(client, make_user, runtime) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    for _ in range(5):
        client.post("/api/auth/token", json={"username": "ann", "password": "wrong"})
    paused = client.post("/api/auth/token", json={"username": "ann", "password": "ann-password"})
    assert paused.status_code == 429 and int(paused.headers["Retry-After"]) >= 1
    with runtime.transaction() as session:
        session.get(LoginThrottle, "ann").blocked_until = utcnow() - timedelta(seconds=1)
    assert (
        client.post(
            "/api/auth/token", json={"username": "ann", "password": "ann-password"}
        ).status_code
        == 201
    )
    with runtime.transaction() as session:
        assert session.get(LoginThrottle, "ann") is None  # a success clears the count
