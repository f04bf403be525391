"""Fixtures of the browser tests (Chromium itself, ``page`` and ``live_server`` are in the
top-level conftest)."""

from __future__ import annotations

import pytest

from trellis.accounts import create_user


@pytest.fixture
def crm(demo_crm, runtime) -> None:  # type: ignore[no-untyped-def]
    """The demo CRM and ``eve``, an administrator."""
    with runtime.transaction() as session:
        create_user(session, "eve", "eve-password", ["admin"])
