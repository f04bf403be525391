"""Fixtures for API tests: users with roles and their bearer headers."""

from __future__ import annotations

import pytest

from trellis.accounts import create_user


@pytest.fixture
def make_user(runtime):  # type: ignore[no-untyped-def]
    def make(username: str, roles: list[str]) -> None:
        with runtime.transaction() as session:
            create_user(session, username, f"{username}-password", roles)

    return make


@pytest.fixture
def token_for(client):  # type: ignore[no-untyped-def]
    def token(username: str) -> dict[str, str]:
        response = client.post(
            "/api/auth/token", json={"username": username, "password": f"{username}-password"}
        )
        assert response.status_code == 201, response.json
        return {"Authorization": f"Bearer {response.json['token']}"}

    return token


@pytest.fixture
def admin_headers(make_user, token_for) -> dict[str, str]:  # type: ignore[no-untyped-def]
    make_user("root", ["admin"])
    return token_for("root")
