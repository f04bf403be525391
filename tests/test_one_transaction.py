"""One request, one transaction: authentication (a bearer token or the session's user), the
menu and the view's work share it (counted with SQLAlchemy's ``begin`` event)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from signed_in import CSRF, sign_in
from sqlalchemy import event, update

from trellis.access.models import ApiToken
from trellis.accounts import create_user
from trellis.app import get_runtime_of
from trellis.clock import utcnow


@pytest.fixture
def begins(app):  # type: ignore[no-untyped-def]
    """The number of transactions the app's engine began since the last reset."""
    counted: list[int] = []
    engine = get_runtime_of(app).engine
    listener = lambda conn: counted.append(1)  # noqa: E731
    event.listen(engine, "begin", listener)
    yield counted
    event.remove(engine, "begin", listener)


@pytest.fixture
def world(factory, runtime, client):  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text"})
    factory.record("deal", name="First")
    with runtime.transaction() as session:
        create_user(session, "ann", "ann-password", ["admin"])
    response = client.post("/api/auth/token", json={"username": "ann", "password": "ann-password"})
    return {"Authorization": f"Bearer {response.json['token']}"}


def stale_token(runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        session.execute(update(ApiToken).values(last_used_at=utcnow() - timedelta(minutes=2)))


@pytest.mark.parametrize("stale", [False, True])
def test_an_api_read_is_one_transaction(world, client, runtime, begins, stale: bool) -> None:  # type: ignore[no-untyped-def]
    if stale:
        stale_token(runtime)
    begins.clear()
    response = client.get("/api/records/deal", headers=world)
    assert response.status_code == 200
    assert len(begins) == 1


@pytest.mark.parametrize("stale", [False, True])
def test_an_api_write_is_one_transaction_with_the_token_use(
    world, client, runtime, begins, stale: bool
) -> None:  # type: ignore[no-untyped-def]
    if stale:
        stale_token(runtime)
    begins.clear()
    response = client.post("/api/records/deal", json={"name": "Second"}, headers=world)
    assert response.status_code == 201, response.json
    assert len(begins) == 1
    with runtime.transaction() as session:
        used = session.query(ApiToken.last_used_at).scalar()
    assert used > utcnow() - timedelta(seconds=30)


def test_a_refused_api_call_and_a_401_are_one_transaction(world, client, begins) -> None:  # type: ignore[no-untyped-def]
    begins.clear()
    assert client.get("/api/records/nothing", headers=world).status_code == 404
    assert len(begins) == 1
    begins.clear()
    unknown = {"Authorization": "Bearer trl_" + "x" * 40}
    assert client.get("/api/records/deal", headers=unknown).status_code == 401
    assert len(begins) == 1


def test_a_page_of_the_app_is_one_transaction(world, app, begins) -> None:  # type: ignore[no-untyped-def]
    browser = app.test_client()
    sign_in(browser, "ann")
    begins.clear()
    assert browser.get("/records/deal").status_code == 200  # the user, the menu, the list
    assert len(begins) == 1
    page = browser.get("/records/deal/new")
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    begins.clear()
    created = browser.post("/records/deal/new", data={"name": "Third", "csrf_token": token})
    assert created.status_code == 302, created.get_data(as_text=True)
    assert len(begins) == 1
