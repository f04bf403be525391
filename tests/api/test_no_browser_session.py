"""API requests have no browser session: the API authenticates every call by its bearer
token, so the session cookie is neither read nor written there (no ``Set-Cookie``, no
``Vary: Cookie``), a signed-in browser's cookie opens nothing under ``/api``, and the browser
session itself is untouched by API calls."""

from __future__ import annotations

import pytest
from api_helpers import assert_problem
from flask import session
from flask.sessions import NullSession
from signed_in import sign_in

from trellis.web.session import NoBrowserSession


@pytest.fixture
def browser(client, make_user):  # type: ignore[no-untyped-def]
    """``client`` signed in through the login form as ``bea`` (an administrator)."""
    make_user("bea", ["admin"])
    sign_in(client, "bea")
    assert client.get("/").status_code == 200
    return client


def test_an_api_answer_sets_and_varies_on_no_cookie(browser, token_for) -> None:  # type: ignore[no-untyped-def]
    headers = token_for("bea")
    for path in ("/api/meta/entities", "/api/nowhere", "/api/openapi.json"):
        response = browser.get(path, headers=headers)
        assert response.status_code in (200, 404), path
        assert "Set-Cookie" not in response.headers, path
        assert "Cookie" not in response.headers.get("Vary", ""), path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
    assert browser.get("/").status_code == 200  # the browser's session goes on
    page = browser.get("/login")
    assert "Cookie" in page.headers.get("Vary", "")  # pages still use it


def test_the_session_cookie_opens_nothing_under_api(browser) -> None:  # type: ignore[no-untyped-def]
    for method, path in (("GET", "/api/meta/entities"), ("POST", "/api/meta/roles")):
        response = browser.open(path, method=method, json={"key": "x", "label": "X"})
        assert_problem(response, 401)


def test_writing_the_api_s_session_is_an_error(app) -> None:  # type: ignore[no-untyped-def]
    with app.test_request_context("/api/records/item/1"):
        assert isinstance(session, NoBrowserSession) and "_user_id" not in session
        with pytest.raises(RuntimeError, match="no browser session"):
            session["_user_id"] = "1"
    with app.test_request_context("/apiary"):  # only the API's own paths
        assert not isinstance(session, NullSession)
        session["_user_id"] = "1"
