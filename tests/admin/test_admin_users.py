"""Users in the admin UI: the password policy on every form that sets a password, and a new
password or new roles ending the user's sessions and API tokens."""

from __future__ import annotations

import pytest
from signed_in import sign_in
from sqlalchemy import select

from trellis.accounts import User, create_user


def user_id(runtime, username: str) -> int:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return session.scalar(select(User.id).where(User.username == username))


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("12345678", "Use at least 10 characters."),
        ("1234567890", "too common"),
        ("Password123", "too common"),
        ("qwertyuiop", "too common"),
        ("aaaaaaaaaaaa", "too common"),
        ("Samuel-Pepys", "Do not use the user name"),
    ],
)
def test_weak_passwords_are_refused_under_the_field(
    admin, runtime, page_errors, password, message
) -> None:  # type: ignore[no-untyped-def]
    refused = admin.post(
        "/admin/users/", action="create", username="samuel-pepys", password=password, roles="user"
    )
    assert refused.status_code == 422
    assert any(message in m for m in page_errors(refused)["password"]), page_errors(refused)
    assert user_id(runtime, "samuel-pepys") is None
    created = admin.post(
        "/admin/users/", action="create", username="samuel-pepys", password="diary-1660-london"
    )
    assert created.status_code == 302
    sam = user_id(runtime, "samuel-pepys")
    reset = admin.post("/admin/users/", action="password", user_id=str(sam), new_password=password)
    assert reset.status_code == 422
    assert any(message in m for m in page_errors(reset)[f"new_password_{sam}"])
    with runtime.transaction() as session:
        assert session.get(User, sam).check_password("diary-1660-london")


def signed_in_elsewhere(app, runtime, username: str):  # type: ignore[no-untyped-def]
    """A new user signed in with their own test client (their own browser)."""
    with runtime.transaction() as session:
        create_user(session, username, f"{username}-password", ["user"])
    browser = app.test_client()
    sign_in(browser, username)
    return browser


def test_a_reset_password_or_new_roles_sign_the_user_out_and_revoke_their_tokens(
    admin, app, client, runtime
) -> None:  # type: ignore[no-untyped-def]
    for action, value in [("password", "a-fresh-secret"), ("roles", "admin")]:
        sam = signed_in_elsewhere(app, runtime, f"sam-{action}")
        assert sam.get("/").status_code == 200
        token = client.post(
            "/api/auth/token",
            json={"username": f"sam-{action}", "password": f"sam-{action}-password"},
        ).json["token"]
        sam_id = user_id(runtime, f"sam-{action}")
        field = "new_password" if action == "password" else "roles"
        done = admin.post("/admin/users/", action=action, user_id=str(sam_id), **{field: value})
        assert done.status_code == 302
        assert sam.get("/").status_code == 302, action  # back to the login page
        api = client.get("/api/meta/entities", headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 401, action
    assert admin.get("/admin/users/").status_code == 200  # the administrator is unaffected


def test_an_administrator_who_changes_their_own_password_stays_signed_in(admin, runtime) -> None:  # type: ignore[no-untyped-def]
    root = user_id(runtime, "root")
    done = admin.post(
        "/admin/users/", action="password", user_id=str(root), new_password="root-new-secret"
    )
    assert done.status_code == 302
    assert admin.get("/admin/users/").status_code == 200
    with runtime.transaction() as session:
        assert session.get(User, root).check_password("root-new-secret")
