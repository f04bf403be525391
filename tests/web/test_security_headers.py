"""Security headers on every response (a Content Security Policy with a per-request script
nonce, no framing, no MIME sniffing, a same-origin referrer), and pages that need no inline
script: no event handler attributes, and every inline script tag carries the nonce."""

from __future__ import annotations

import re

import pytest

PAGES = [
    "/",
    "/records/lead",
    "/records/lead/new",
    "/records/lead/1",
    "/records/lead/1/edit",
    "/records/lead/1/convert",
    "/records/deal/kanban",
    "/records/company/import",
    "/admin/",
    "/admin/entities/",
    "/admin/entities/deal",
    "/admin/entities/deal/fields/new",
    "/admin/entities/deal/fields/name",
    "/admin/entities/deal/pipelines/sales",
    "/admin/lists/",
    "/admin/lists/source",
    "/admin/conversions/",
    "/admin/conversions/lead_conversion",
    "/admin/users/",
    "/admin/roles/",
    "/admin/roles/user",
    "/admin/history/",
]
HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
SCRIPT = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)


def nonce_of(response) -> str:  # type: ignore[no-untyped-def]
    return re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)


def assert_secure_headers(response) -> None:  # type: ignore[no-untyped-def]
    policy = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in policy
    assert re.search(r"script-src 'self' 'nonce-[\w-]{16,}'(;|$)", policy), policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize(
    "path", ["/login", "/api/openapi.json", "/static/web/app.js", "/nowhere", "/healthz"]
)
def test_every_response_has_the_security_headers(client, path) -> None:  # type: ignore[no-untyped-def]
    with client.get(path) as response:
        assert_secure_headers(response)


def test_each_response_has_its_own_nonce(client) -> None:  # type: ignore[no-untyped-def]
    assert nonce_of(client.get("/login")) != nonce_of(client.get("/login"))


def test_the_headers_are_those_setdefault_gives(app) -> None:  # type: ignore[no-untyped-def]
    """Added in one pass, each header the response lacks, in order; a header the view set
    itself (any case) is kept as it is, and the page's own nonce is the policy's."""
    from flask import Response, g

    from trellis.web.headers import HEADERS, add_security_headers, content_security_policy

    with app.test_request_context("/"):
        own = Response("x", headers={"x-frame-options": "SAMEORIGIN", "ETag": '"3"'})
        before = list(own.headers.items())
        add_security_headers(own)
        expected = Response("x", headers=before)
        expected.headers.setdefault("Content-Security-Policy", content_security_policy(g.csp_nonce))
        for name, value in HEADERS.items():
            expected.headers.setdefault(name, value)
        assert list(own.headers.items()) == list(expected.headers.items())
        assert own.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_pages_of_the_app_and_the_admin_ui_need_no_inline_script(demo, boss) -> None:  # type: ignore[no-untyped-def]
    for path in PAGES:
        response = boss.get(path)
        assert response.status_code == 200, path
        assert_secure_headers(response)
        page = response.get_data(as_text=True)
        assert not HANDLER.search(page), (path, HANDLER.search(page).group(0))
        assert "javascript:" not in page.replace("javascript:void(0)", ""), path
        for attributes in SCRIPT.findall(page):
            # a script from a file of our own origin, or inline with this response's nonce
            if "src=" in attributes:
                assert re.search(r'src="/', attributes), (path, attributes)
            else:
                assert f'nonce="{nonce_of(response)}"' in attributes, (path, attributes)


def test_flask_admin_scripts_carry_the_nonce(demo, boss) -> None:  # type: ignore[no-untyped-def]
    response = boss.get("/admin/history/")
    nonces = set(re.findall(r'<script nonce="([^"]+)"', response.get_data(as_text=True)))
    assert nonces == {nonce_of(response)}


def test_a_quote_in_a_record_title_stays_text_in_the_delete_question(demo, boss) -> None:  # type: ignore[no-untyped-def]
    """The question used to sit inside inline JavaScript, where an HTML-escaped quote is a
    quote again: a title could end the string and run code."""
    created = boss.post(
        "/records/company/new", data={"name": "O'Reilly'); alert(1); ('", "tin": "DE1"}
    )
    assert created.status_code == 302, created.get_data(as_text=True)
    page = boss.get(created.headers["Location"]).get_data(as_text=True)
    assert 'data-confirm="Delete O&#39;Reilly&#39;); alert(1); (&#39;?"' in page
    assert not HANDLER.search(page)


def test_an_api_answer_has_its_own_headers_then_the_security_headers(
    demo_crm, client, runtime
) -> None:  # type: ignore[no-untyped-def]
    """The headers of an API answer, whole and in order: the view's, then the policy with
    this answer's nonce, then the constant ones (the same content as every page's)."""
    from trellis.access.tokens import issue_token
    from trellis.accounts import create_user
    from trellis.web.headers import HEADERS, content_security_policy

    with runtime.transaction() as session:
        token, _row = issue_token(session, create_user(session, "root", "root-password", ["admin"]))
    bearer = {"Authorization": f"Bearer {token}"}
    first = client.get("/api/records/company", headers=bearer).json["items"][0]
    answers = {
        "application/json": client.get(f"/api/records/company/{first['id']}", headers=bearer),
        "application/problem+json": client.get("/api/meta/entities"),  # a 401
    }
    for kind, response in answers.items():
        own = [("Content-Type", kind), ("Content-Length", str(len(response.get_data())))]
        if response.status_code == 200:
            own.append(("ETag", f'"{response.json["version"]}"'))
        policy = ("Content-Security-Policy", content_security_policy(nonce_of(response)))
        assert list(response.headers) == [*own, policy, *HEADERS.items()]
    assert nonce_of(response) != nonce_of(client.get("/api/meta/entities"))
