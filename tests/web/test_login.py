"""Session login for the web UIs: CSRF on the form, throttled failures, safe redirects."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from trellis.access.models import LoginThrottle
from trellis.accounts import create_user


@pytest.fixture
def alice(runtime):  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        create_user(session, "alice", "correct-horse", ["user"])


def csrf_token(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def sign_in(client, username: str, password: str, next_url: str = ""):  # type: ignore[no-untyped-def]
    token = csrf_token(client)
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"username": username, "password": password, "csrf_token": token})


def test_pages_need_a_signed_in_user(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_sign_in_and_out(client, alice) -> None:  # type: ignore[no-untyped-def]
    response = sign_in(client, "alice", "correct-horse")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Welcome, alice" in client.get("/").get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_the_login_form_refuses_a_post_without_csrf_token(client, alice) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/login", data={"username": "alice", "password": "correct-horse"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_logout_needs_the_csrf_token(client, alice) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, "alice", "correct-horse")
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused_with_a_message(client, alice) -> None:  # type: ignore[no-untyped-def]
    response = sign_in(client, "alice", "wrong")
    assert response.status_code == 401
    assert "Wrong user name or password." in response.get_data(as_text=True)


def test_repeated_failures_pause_logins_for_that_user(client, runtime, alice) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        assert sign_in(client, "alice", "wrong").status_code == 401
    response = sign_in(client, "alice", "correct-horse")
    assert response.status_code == 429
    assert "Too many failed logins" in response.get_data(as_text=True)
    with runtime.transaction() as session:
        row = session.scalar(select(LoginThrottle).where(LoginThrottle.username == "alice"))
        assert row.failures == 5
        row.blocked_until = None  # the pause is over
    assert sign_in(client, "alice", "correct-horse").status_code == 302


def test_next_only_redirects_within_the_site(client, alice) -> None:  # type: ignore[no-untyped-def]
    assert sign_in(client, "alice", "correct-horse", "//evil.example/").headers["Location"] == "/"
    client.get("/")
    other = client.application.test_client()
    response = sign_in(other, "alice", "correct-horse", "/?page=2")
    assert response.headers["Location"] == "/?page=2"


def test_assets_are_served_locally(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/login").get_data(as_text=True)
    for href in re.findall(r'href="([^"]+\.css)"', page):
        assert href.startswith("/"), href
        with client.get(href) as response:
            assert response.status_code == 200


def copy_of_session(client):  # type: ignore[no-untyped-def]
    """A second client holding a copy of ``client``'s session cookie (as a thief would)."""
    thief = client.application.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def sign_out(client) -> None:  # type: ignore[no-untyped-def]
    home = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


def test_a_copied_session_cookie_stops_working_after_sign_out(client, alice) -> None:  # type: ignore[no-untyped-def]
    assert sign_in(client, "alice", "correct-horse").status_code == 302
    thief = copy_of_session(client)
    assert thief.get("/").status_code == 200  # the copy works while the session lasts
    sign_out(client)
    assert thief.get("/").status_code == 302
    assert thief.get("/").headers["Location"].startswith("/login")
    # signing in again starts a new session; the old copy stays dead
    assert sign_in(client, "alice", "correct-horse").status_code == 302
    assert client.get("/").status_code == 200 and thief.get("/").status_code == 302


@pytest.mark.parametrize("change", ["password", "roles", "disable"])
def test_a_new_password_new_roles_or_disabling_end_the_users_sessions(
    client, runtime, alice, change
) -> None:  # type: ignore[no-untyped-def]
    from trellis.access.credentials import change_password, change_roles, set_active
    from trellis.accounts import User

    assert sign_in(client, "alice", "correct-horse").status_code == 302
    with runtime.transaction() as session:
        user = session.scalar(select(User).where(User.username == "alice"))
        if change == "password":
            change_password(session, user, "a-brand-new-secret")
        elif change == "roles":
            change_roles(session, user, ["admin"])
        else:
            set_active(session, user, False)
    assert client.get("/").status_code == 302


def session_cookie(response) -> str:  # type: ignore[no-untyped-def]
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def test_session_cookies_are_httponly_and_samesite_lax(client, alice) -> None:  # type: ignore[no-untyped-def]
    cookie = session_cookie(sign_in(client, "alice", "correct-horse"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP unless TRELLIS_SECURE_COOKIES is on
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_secure_cookies_when_the_setting_is_on(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from trellis.app import create_app

    monkeypatch.setenv("TRELLIS_SECURE_COOKIES", "true")
    app = create_app(settings)
    try:
        with app.app_context():
            create_user_for_cookie_test(app)
        client = app.test_client()
        response = sign_in(client, "carol", "carol-password")
        cookie = session_cookie(response)
        assert response.status_code == 302
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert app.config["REMEMBER_COOKIE_SECURE"] is True
        hsts = client.get("/login").headers["Strict-Transport-Security"]
        assert hsts.startswith("max-age=31536000")
    finally:
        app.extensions["trellis"].dispose()


def create_user_for_cookie_test(app) -> None:  # type: ignore[no-untyped-def]
    with app.extensions["trellis"].transaction() as session:
        create_user(session, "carol", "carol-password", ["user"])


def test_session_cookies_are_flask_s_own_and_follow_the_secret_key(app, client, alice) -> None:  # type: ignore[no-untyped-def]
    """The session interface keeps its signing serializer between requests: a cookie it signs
    is one Flask's own interface reads, and a new secret key (or a fallback) counts at once."""
    from flask.sessions import SecureCookieSessionInterface

    assert sign_in(client, "alice", "correct-horse").status_code == 302
    cookie = client.get_cookie("session").value
    flask_own = SecureCookieSessionInterface().get_signing_serializer(app)
    assert "_user_id" in flask_own.loads(cookie)
    old_key = app.secret_key
    app.secret_key = "another-secret"
    assert client.get("/").status_code == 302  # signed out: the cookie's key is gone
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    client.set_cookie("session", cookie)  # the refused answer cleared it
    assert "Welcome, alice" in client.get("/").get_data(as_text=True)
