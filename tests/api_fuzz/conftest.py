"""Fixtures of the schemathesis files: one app with the demo CRM per file, its administrator's
bearer headers and the API's own OpenAPI document loaded from it (see fuzz_world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis

from trellis.accounts import create_user
from trellis.app import create_app
from trellis.cli import initialise


@pytest.fixture(scope="module")
def demo_app(new_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator:  # type: ignore[no-untyped-def]
    """One app with the demo CRM for the whole module (schemathesis runs many cases)."""
    folder = tmp_path_factory.mktemp("schemathesis")
    with new_database(folder, demo=True) as url:
        app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(folder), "SECRET_KEY": "t"})
        runtime = app.extensions["trellis"]
        with app.app_context():
            initialise(runtime, demo=True)
        with runtime.transaction() as session:
            create_user(session, "robot", "robot-password", ["admin"])
        yield app
        runtime.dispose()


@pytest.fixture(scope="module")
def admin_headers(demo_app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    response = demo_app.test_client().post(
        "/api/auth/token", json={"username": "robot", "password": "robot-password"}
    )
    return {"Authorization": f"Bearer {response.json['token']}"}


@pytest.fixture(scope="module")
def api_schema(demo_app, admin_headers):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_wsgi("/api/openapi.json", demo_app, headers=admin_headers)
