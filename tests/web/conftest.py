"""Fixtures for the end-user app: the demo CRM and signed-in test clients."""

from __future__ import annotations

import pytest
from signed_in import Browser

from trellis.accounts import create_user


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
