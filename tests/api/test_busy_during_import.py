"""Writes and logins while a long import holds SQLite's write lock: a request hears "busy,
retry" (503 with ``Retry-After``) within about a second instead of waiting, a browser login
with nothing to write goes through, and nothing is lost once the import commits."""

from __future__ import annotations

import os
import threading
import time

import pytest
from api_helpers import PROBLEM
from sqlalchemy import func, select

from trellis import db
from trellis.access.credentials import change_password, check_sign_in, note_sign_in, sign_in
from trellis.access.models import LoginThrottle
from trellis.accounts import User, create_user, get_user
from trellis.app import get_runtime_of
from trellis.records.importer import import_csv

sqlite_only = pytest.mark.skipif(
    bool(os.environ.get("TRELLIS_TEST_DATABASE_URL")), reason="the write lock is SQLite's"
)

ROWS = 300
#: the generous bound on "at once": a request used to wait the whole busy timeout (here 30 s)
AT_ONCE = 5.0


@pytest.fixture
def importing(factory, runtime, monkeypatch):  # type: ignore[no-untyped-def]
    """An import of ``ROWS`` deals running in another thread (as ``trellis import`` does, in
    a runtime of its own, outside any request), stopped halfway with the write lock held
    until the test lets it finish; yields that function."""
    factory.entity("deal", {"name": "text"})
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 30_000)  # a job waits long for the lock
    halfway, finish = threading.Event(), threading.Event()
    reports = []

    def progress(done: int, _total: int) -> None:
        if done:
            halfway.set()
            finish.wait(60)

    def run() -> None:
        with runtime.transaction() as session:
            content = "name\n" + "".join(f"Imported {i}\n" for i in range(ROWS))
            reports.append(import_csv(runtime.records(session), "deal", content, progress=progress))

    thread = threading.Thread(target=run)
    thread.start()
    assert halfway.wait(60), "the import did not start"

    def done() -> None:
        finish.set()
        thread.join(60)
        assert reports and len(reports[0].created) == ROWS

    yield done
    finish.set()
    thread.join(60)


def _timed(call):  # type: ignore[no-untyped-def]
    began = time.monotonic()
    response = call()
    return response, time.monotonic() - began


@sqlite_only
def test_a_write_during_an_import_hears_busy_at_once(admin, importing, app) -> None:  # type: ignore[no-untyped-def]
    get_runtime_of(app).engine.dispose()  # connections opened from now on (the old wait too)
    response, took = _timed(lambda: admin.post("/api/records/deal", {"name": "During"}))
    assert response.status_code == 503, response.json
    assert response.content_type == PROBLEM
    assert response.headers["Retry-After"] == "1"
    assert "busy" in response.json["detail"].lower()
    assert took < AT_ONCE
    assert admin.get("/api/records/deal").status_code == 200  # reads go on meanwhile
    importing()
    assert admin.post("/api/records/deal", {"name": "After"}).status_code == 201
    total = admin.get("/api/records/deal?total=exact").json["total"]
    assert total == ROWS + 1  # every imported row and the retried write, nothing else


@sqlite_only
def test_logins_during_an_import(admin, importing, app, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(LoginThrottle)) == 0
    get_runtime_of(app).engine.dispose()
    browser = app.test_client()

    def web_login(client, password: str):  # type: ignore[no-untyped-def]
        page = client.get("/login").get_data(as_text=True)
        csrf = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        form = {"username": "root", "password": password, "csrf_token": csrf}
        return client.post("/login", data=form), csrf

    # a browser login with no failures on record writes nothing: it goes through
    (response, csrf), took = _timed(lambda: web_login(browser, "root-password"))
    assert response.status_code == 302 and response.headers["Location"] == "/", took
    assert took < AT_ONCE
    # signed in, a POST's first step (loading the user) wants the lock: a busy page, no 500
    response, took = _timed(lambda: browser.post("/logout", data={"csrf_token": csrf}))
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "busy" in response.get_data(as_text=True)
    assert took < AT_ONCE
    # a failure must be counted: it needs the lock, so it hears "busy, retry" at once
    (response, _csrf), took = _timed(lambda: web_login(app.test_client(), "wrong"))
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert took < AT_ONCE
    # a token is a row: busy at once too, without hashing the password first
    checked = []
    credentials = {"username": "root", "password": "root-password"}
    with monkeypatch.context() as patched:
        patched.setattr(User, "check_password", lambda *args: checked.append(args) or True)
        response, took = _timed(lambda: admin.client.post("/api/auth/token", json=credentials))
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert took < AT_ONCE and not checked
    importing()
    assert admin.client.post("/api/auth/token", json=credentials).status_code == 201


def test_a_login_whose_password_changed_since_it_was_checked_signs_in_nobody(runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        create_user(session, "alice", "correct-horse-1", ["user"])
    with runtime.transaction(read_only=True) as session:
        attempt = check_sign_in(session, "alice", "correct-horse-1", "10.0.0.1")
    assert attempt.user is not None and not attempt.to_note
    with runtime.transaction() as session:
        change_password(session, get_user(session, "alice"), "Another-Horse-2")
    with runtime.transaction() as session:
        assert note_sign_in(session, attempt) is None
        assert sign_in(session, "alice", "Another-Horse-2", "10.0.0.1") is not None


def test_a_checked_failure_is_counted_when_noted(runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        create_user(session, "alice", "correct-horse-1", ["user"])
    with runtime.transaction(read_only=True) as session:
        attempt = check_sign_in(session, "alice", "wrong", "10.0.0.1")
    assert attempt.user is None and attempt.to_note
    with runtime.transaction() as session:
        assert note_sign_in(session, attempt) is None
    with runtime.transaction(read_only=True) as session:
        attempt = check_sign_in(session, "alice", "correct-horse-1", "10.0.0.1")
        assert session.get(LoginThrottle, ("alice", "10.0.0.1")).failures == 1
    assert attempt.user is not None and attempt.to_note  # the success must forget it
    with runtime.transaction() as session:
        assert note_sign_in(session, attempt) is not None
    with runtime.transaction(read_only=True) as session:
        assert session.get(LoginThrottle, ("alice", "10.0.0.1")) is None
