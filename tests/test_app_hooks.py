"""The app decides once per hook or view whether it is a coroutine function (Flask's
``ensure_sync`` asked ``inspect`` on every call of every hook, about a dozen times a
request), and the hooks and views still run as before. API requests skip the hooks that
serve browsers only (the CSRF check, the remember cookie), which forms keep."""

from __future__ import annotations

import re

import pytest
from flask import Flask, request
from flask_wtf.csrf import CSRFProtect

from trellis.access.tokens import issue_token
from trellis.accounts import create_user


def test_each_hook_and_view_is_looked_at_once(app, client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    asked: list[object] = []
    plain = Flask.ensure_sync

    def counting(self, func):  # type: ignore[no-untyped-def]
        asked.append(func)
        return plain(self, func)

    monkeypatch.setattr(Flask, "ensure_sync", counting)
    first = client.get("/healthz")
    assert first.status_code == 200 and first.json == {"status": "ok"}
    assert asked  # the view and the hooks, the first time
    assert len(asked) == len(set(asked))
    seen = len(asked)
    for _ in range(3):
        again = client.get("/healthz")
        assert again.status_code == 200
        assert again.headers["X-Frame-Options"] == "DENY"  # the after-request hooks ran
    assert len(asked) == seen


def test_a_coroutine_function_gets_flask_s_answer_every_time(app) -> None:  # type: ignore[no-untyped-def]
    """Never taken for a plain function: Flask wraps it (or, without its "async" extra,
    refuses it), on each call as on the first."""

    async def answer() -> str:
        return "async"

    for _ in range(2):
        try:
            sync = app.ensure_sync(answer)
        except RuntimeError as error:  # Flask without asgiref
            assert "async" in str(error)
        else:
            assert sync is not answer


# -- the browser's hooks and the API ------------------------------------------------------

CSRF_FIELD = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


@pytest.fixture
def bearer(runtime) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Bearer headers of ``root``, an administrator."""
    with runtime.transaction() as session:
        user = create_user(session, "root", "root-password", ["admin"])
        token, _row = issue_token(session, user)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def csrf_checks(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The paths of the requests whose CSRF token Flask-WTF's hook looked at."""
    checked: list[str] = []
    plain = CSRFProtect.protect

    def protect(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        checked.append(request.path)
        return plain(self, *args, **kwargs)

    monkeypatch.setattr(CSRFProtect, "protect", protect)
    return checked


def test_forms_keep_their_csrf_check_and_the_api_never_runs_it(client, bearer, csrf_checks) -> None:  # type: ignore[no-untyped-def]
    """A form posted without its CSRF token is refused (400), with it it is taken; the API,
    which authenticates every call by its bearer token and has no session cookie to forge a
    request with, does not run the check at all (it was exempt: the hook ran and did nothing)."""
    refused = client.post("/login", data={"username": "root", "password": "root-password"})
    assert refused.status_code == 400
    token = CSRF_FIELD.search(client.get("/login").get_data(as_text=True)).group(1)
    form = {"username": "root", "password": "root-password", "csrf_token": token}
    assert client.post("/login", data=form).status_code == 302
    assert csrf_checks == ["/login", "/login", "/login"]
    csrf_checks.clear()
    created = client.post(
        "/api/meta/roles", json={"key": "clerk", "label": "Clerk"}, headers=bearer
    )
    assert created.status_code == 201, created.json
    assert client.get("/api/meta/roles", headers=bearer).status_code == 200
    assert client.post("/api/meta/roles", json={"key": "x", "label": "X"}).status_code == 401
    assert csrf_checks == []
    # a path under /api that no route serves is no bearer-only route: the hook runs as before
    assert client.post("/api/nowhere", headers=bearer).status_code == 404
    assert csrf_checks == ["/api/nowhere"]


def test_the_remember_cookie_hook_stays_out_of_the_api(app, client, bearer) -> None:  # type: ignore[no-untyped-def]
    """Flask-Login's hook writes to the session when every request refreshes the remember
    cookie; an API request has no session (writing to it is an error), and no cookie."""
    app.config["REMEMBER_COOKIE_REFRESH_EACH_REQUEST"] = True
    answer = client.get("/api/meta/roles", headers=bearer)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert "Set-Cookie" not in answer.headers
    assert client.get("/login").status_code == 200  # pages run the hook as before
