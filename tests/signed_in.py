"""Signing in through the app's login form, as a browser does, for tests that use the app's
pages (or check what a browser session may do): the one copy of the form's CSRF pattern and
of the sign-in."""

from __future__ import annotations

import re
from typing import Any

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def sign_in(client: Any, username: str, password: str | None = None) -> str:
    """Signs ``client`` in as ``username`` (password: ``<username>-password``, as the test
    users have) and returns the session's CSRF token; a refused sign-in fails the test."""
    token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    answer = client.post(
        "/login",
        data={
            "username": username,
            "password": f"{username}-password" if password is None else password,
            "csrf_token": token,
        },
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return token


class Browser:
    """A Flask test client signed in through the login form; ``post`` adds the CSRF token."""

    def __init__(self, client: Any, username: str, password: str | None = None) -> None:
        self.client = client
        self.token = sign_in(client, username, password)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, **kwargs)

    def post(self, url: str, data: Any = None, **kwargs: Any) -> Any:
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, **kwargs)
