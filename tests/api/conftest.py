"""Fixtures for API tests: users with roles, their bearer tokens, and callers acting as them.

A user's password is ``<username>-password``.
"""

from __future__ import annotations

import pytest
from api_helpers import Caller
from configured_fixtures import configured
from sqlalchemy import event

from trellis.accounts import create_user
from trellis.app import get_runtime_of


@pytest.fixture
def make_user(runtime):  # type: ignore[no-untyped-def]
    """``make_user(name, roles)`` creates a user (through the accounts service); returns its id."""

    def make(username: str, roles: list[str]) -> int:
        with runtime.transaction() as session:
            return create_user(session, username, f"{username}-password", roles).id

    return make


@pytest.fixture
def token_for(client):  # type: ignore[no-untyped-def]
    """``token_for(name)``: bearer headers from ``POST /api/auth/token`` with the password."""

    def token(username: str) -> dict[str, str]:
        response = client.post(
            "/api/auth/token", json={"username": username, "password": f"{username}-password"}
        )
        assert response.status_code == 201, response.json
        return {"Authorization": f"Bearer {response.json['token']}"}

    return token


@pytest.fixture
def user(client, make_user, token_for):  # type: ignore[no-untyped-def]
    """``user(name, roles)``: a new user with those roles, as a :class:`Caller`."""

    def make(username: str, roles: list[str]) -> Caller:
        make_user(username, roles)
        return Caller(client, token_for(username))

    return make


@configured
def admin_headers(runtime, client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Bearer headers of ``root``, who has the ``admin`` role (made once into a template:
    see configured_fixtures.py). A ``@configured`` fixture that acts as the administrator
    asks for ``client`` and ``admin_headers`` and calls as ``Caller(client, admin_headers)``."""
    with runtime.transaction() as session:
        create_user(session, "root", "root-password", ["admin"])
    response = client.post(
        "/api/auth/token", json={"username": "root", "password": "root-password"}
    )
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


@pytest.fixture
def admin(client, admin_headers) -> Caller:  # type: ignore[no-untyped-def]
    """``root``, who has the ``admin`` role."""
    return Caller(client, admin_headers)


@pytest.fixture
def statements(app):  # type: ignore[no-untyped-def]
    """The statements the app's engine ran since the last ``clear()``."""
    seen: list[str] = []
    engine = get_runtime_of(app).engine
    listener = lambda conn, cursor, statement, *args: seen.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    yield seen
    event.remove(engine, "before_cursor_execute", listener)
