"""Only administrators reach /admin; everyone else is sent to sign in or refused."""

from __future__ import annotations

import pytest

PAGES = [
    "/admin/",
    "/admin/entities/",
    "/admin/lists/",
    "/admin/conversions/",
    "/admin/users/",
    "/admin/roles/",
    "/admin/history/",
    "/admin/flows/",
]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, url: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("url", PAGES)
def test_users_without_the_admin_role_are_refused(signed_in, url: str) -> None:  # type: ignore[no-untyped-def]
    assert signed_in("clerk", ["user"]).get(url).status_code == 403


def test_posts_need_the_csrf_token(admin) -> None:  # type: ignore[no-untyped-def]
    response = admin.client.post("/admin/entities/create", data={"key": "x", "label": "X"})
    assert response.status_code == 400


@pytest.mark.parametrize("url", PAGES)
def test_every_page_renders_for_an_administrator(admin, url: str) -> None:  # type: ignore[no-untyped-def]
    assert admin.get(url).status_code == 200


def test_unknown_things_are_a_404_page(admin) -> None:  # type: ignore[no-untyped-def]
    assert admin.get("/admin/entities/nothing").status_code == 404
    assert admin.get("/admin/lists/nothing").status_code == 404
    assert admin.get("/admin/roles/nothing").status_code == 404


def test_assets_are_local(admin) -> None:  # type: ignore[no-untyped-def]
    page = admin.get("/admin/").get_data(as_text=True)
    assert "http://" not in page.replace("http://localhost", "")
    assert "https://" not in page
