"""Fixtures for the admin UI: a signed-in administrator's test client."""

from __future__ import annotations

import re

import pytest
from admin_pages import errors_on

from trellis.accounts import create_user

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


class AdminClient:
    """A test client signed in through the login form; ``post`` adds the CSRF token."""

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)

    def sign_in(self, username: str, password: str):  # type: ignore[no-untyped-def]
        return self.client.post(
            "/login", data={"username": username, "password": password, "csrf_token": self.token}
        )

    def get(self, url: str):  # type: ignore[no-untyped-def]
        return self.client.get(url)

    def post(self, url: str, **data):  # type: ignore[no-untyped-def]
        return self.client.post(url, data={"csrf_token": self.token, **data})


@pytest.fixture
def admin(client, runtime) -> AdminClient:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        create_user(session, "root", "root-password", ["admin"])
    signed_in = AdminClient(client)
    assert signed_in.sign_in("root", "root-password").status_code == 302
    return signed_in


@pytest.fixture
def signed_in(client, runtime):  # type: ignore[no-untyped-def]
    """``signed_in(name, roles)``: a new user with ``roles``, signed in."""

    def make(username: str, roles: list[str]) -> AdminClient:
        with runtime.transaction() as session:
            create_user(session, username, f"{username}-password", roles)
        user = AdminClient(client)
        user.sign_in(username, f"{username}-password")
        return user

    return make


@pytest.fixture
def page_errors():  # type: ignore[no-untyped-def]
    return errors_on
