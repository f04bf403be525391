"""The app and the admin UI work under the Content Security Policy in a real Chromium: the
main pages of both, and their script-driven controls, cause no CSP violation, while a
script slipped into a page (as an injection would) is refused."""

from __future__ import annotations

import re

import pytest
from browser_helpers import dismissed_without_a_post
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

COLLECT = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sample);
  // and on the page, for a locator to wait on (the policy refuses wait_for_function's eval)
  document.documentElement.dataset.cspViolated = e.violatedDirective;
});
"""


@pytest.fixture
def watched(page):  # type: ignore[no-untyped-def]
    """The page, with every CSP violation and console error collected in ``page.problems``."""
    problems: list[str] = []
    page.add_init_script(COLLECT)
    page.on(
        "console",
        lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.problems = problems  # type: ignore[attr-defined]
    return page


def visit(page, url: str) -> None:  # type: ignore[no-untyped-def]
    response = page.goto(url)
    assert response.status == 200, url
    policy = response.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    page.wait_for_load_state("load")
    note_violations(page, url)


def note_violations(page, where: str) -> None:  # type: ignore[no-untyped-def]
    for violation in page.evaluate("window.__violations.splice(0)"):
        page.problems.append(f"{where}: {violation}")


def test_app_and_admin_run_without_csp_violations(watched, live_server, crm) -> None:  # type: ignore[no-untyped-def]
    page, base = watched, live_server
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill("eve")
    page.get_by_label("Password").fill("eve-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    note_violations(page, "/login")

    for path in [
        "/",
        "/records/lead",
        "/records/lead/new",
        "/records/lead/1/convert",
        "/records/deal",
        "/records/company/import",
        "/admin/",
        "/admin/entities/",
        "/admin/entities/deal",
        "/admin/entities/deal/fields/new",
        "/admin/entities/deal/fields/name",
        "/admin/lists/",
        "/admin/lists/source",
        "/admin/conversions/",
        "/admin/conversions/lead_conversion",
        "/admin/users/",
        "/admin/roles/",
        "/admin/roles/user",
        "/admin/history/",
    ]:
        visit(page, base + path)

    # a record card (its delete asks first: dismissing keeps the record)
    visit(page, f"{base}/records/lead")
    page.locator("table a[href*='/records/lead/']").first.click()
    page.wait_for_url(re.compile(r"/records/lead/\d+$"))
    card = page.url
    dismissed_without_a_post(page, page.get_by_role("button", name="Delete"))
    assert page.url == card
    note_violations(page, card)

    # the kanban's pipeline select and the stage moves of app.js
    visit(page, f"{base}/records/deal/kanban")
    note_violations(page, "kanban")

    # the pipeline editor's up/down buttons (a static script now)
    visit(page, f"{base}/admin/entities/deal/pipelines/sales")
    first = page.locator("#stages tbody tr[data-stage]").first.get_attribute("data-stage")
    page.locator("#stages tbody tr[data-stage]").first.locator("[data-move-row='1']").click()
    second = page.locator("#stages tbody tr[data-stage]").nth(1)
    expect(second).to_have_attribute("data-stage", first)
    order = page.locator("#stages tbody tr[data-stage]").nth(1).locator("input[name^=stage_order_]")
    expect(order).to_have_value("1")
    note_violations(page, "pipeline")

    # the new-field form reloads with the chosen type's settings
    visit(page, f"{base}/admin/entities/deal/fields/new")
    with page.expect_navigation():
        page.locator("#f-type").select_option("integer")
    expect(page.locator("#f-type")).to_have_value("integer")
    note_violations(page, "new field")

    # Flask-Admin's menu: a dropdown toggle with a "javascript:void(0)" link
    visit(page, f"{base}/admin/")
    page.get_by_role("link", name="Access").click()
    with page.expect_navigation():
        page.locator(".dropdown-menu").get_by_role("link", name="Roles", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/roles/$"))
    note_violations(page, "admin menu")

    assert page.problems == [], "\n".join(page.problems)  # type: ignore[attr-defined]

    # the policy is enforced: an injected inline handler does not run and is reported
    page.evaluate(
        "document.body.insertAdjacentHTML('beforeend',"
        ' \'<img src="/nothing.png" onerror="window.__ran = true">\')'
    )
    # the refusal is reported when the handler would have run: once it is, it never will
    expect(page.locator("html")).to_have_attribute("data-csp-violated", re.compile("script-src"))
    assert page.evaluate("window.__ran") is None
    assert any("script-src" in v for v in page.evaluate("window.__violations"))
