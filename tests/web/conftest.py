"""Fixtures for the end-user app: the demo CRM and signed-in test clients."""

from __future__ import annotations

import re

import pytest

from trellis.accounts import create_user

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


class Browser:
    """A Flask test client signed in through the login form; ``post`` adds the CSRF token."""

    def __init__(self, client, username: str) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
        response = client.post(
            "/login",
            data={
                "username": username,
                "password": f"{username}-password",
                "csrf_token": self.token,
            },
        )
        assert response.status_code == 302, response.get_data(as_text=True)

    def get(self, url: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.client.get(url, **kwargs)

    def post(self, url: str, data=None, **kwargs):  # type: ignore[no-untyped-def]
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, **kwargs)


@pytest.fixture
def demo(demo_crm) -> None:  # type: ignore[no-untyped-def]
    """The demo CRM."""


@pytest.fixture
def user_with(runtime, app):  # type: ignore[no-untyped-def]
    """``user_with(name, roles)``: a new user, signed in with a fresh test client."""

    def make(username: str, roles: list[str]) -> Browser:
        with runtime.transaction() as session:
            create_user(session, username, f"{username}-password", roles)
        return Browser(app.test_client(), username)

    return make


@pytest.fixture
def boss(user_with) -> Browser:  # type: ignore[no-untyped-def]
    return user_with("boss", ["admin"])
