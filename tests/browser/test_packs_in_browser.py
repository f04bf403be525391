"""Config packs in a real Chromium (issue 14, Done when): an administrator uploads a pack's
zip on the admin's Packs page, reads the plan, applies it after the confirmation and finds
the new entity type live in the app; then uploads an upgrade whose rename conflicts with a
local edit, takes the pack's side and applies it. Screenshots land under artifacts/."""

from __future__ import annotations

import re

import pytest
from browser_helpers import dismissed_without_a_post, sign_in
from pack_zips import TICKET_V2, tickets_pack
from playwright.sync_api import expect

from trellis.accounts import create_user

pytestmark = pytest.mark.browser


def _upload(page, live_server: str, data: bytes, name: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server}/admin/packs/")
    page.get_by_label("Pack (a zip of its folder)").set_input_files(
        files=[{"name": name, "mimeType": "application/zip", "buffer": data}]
    )
    page.get_by_role("button", name="Show the plan").click()
    page.wait_for_url(f"{live_server}/admin/packs/review")


def test_a_pack_is_uploaded_planned_applied_and_upgraded_in_the_browser(
    page, live_server, runtime, factory
) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        create_user(session, "eve", "eve-password", ["admin"])
    sign_in(page, live_server)
    _upload(page, live_server, tickets_pack(), "tickets-1.0.0.zip")
    expect(page.locator("#plan-summary")).to_contain_text("A first install of")
    ticket = page.locator('[data-object="entity:ticket"]')
    expect(ticket).to_have_attribute("data-action", "create")
    expect(ticket).to_contain_text("subject, severity")
    expect(page.locator('[data-object="list:severity"]')).to_have_attribute("data-action", "create")
    page.shot("01-plan")
    asked = dismissed_without_a_post(page, page.get_by_role("button", name="Apply tickets 1.0.0"))
    assert asked == ["Apply Tickets 1.0.0 to this installation?"]
    with runtime.transaction() as session:
        assert "ticket" not in runtime.model(session).entities
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Apply tickets 1.0.0").click()
    page.wait_for_url(f"{live_server}/admin/packs/")
    expect(page.locator("body")).to_contain_text("Tickets 1.0.0 applied: 2 created")
    expect(page.locator('[data-pack="tickets"] [data-version]')).to_have_text("1.0.0")
    page.shot("02-installed")

    # live in the app at once: the menu, the list and the form of the new type
    page.goto(f"{live_server}/")
    page.get_by_role("link", name="Tickets").first.click()
    page.wait_for_url(f"{live_server}/records/ticket*")
    page.goto(f"{live_server}/records/ticket/new")
    page.get_by_label("Subject").fill("Printer on fire")
    page.get_by_role("button", name="Save").first.click()
    page.wait_for_url(re.compile(r"/records/ticket/\d+$"))
    expect(page.locator("body")).to_contain_text("Printer on fire")
    page.shot("03-ticket")

    # here the subject is renamed; version 2 renames it differently and adds a due date
    factory.meta("update_field", "ticket", "subject", label="Topic")
    _upload(page, live_server, tickets_pack("2.0.0", TICKET_V2), "tickets-2.0.0.zip")
    expect(page.locator("#plan-summary")).to_contain_text(
        "An upgrade of tickets from version 1.0.0."
    )
    conflict = page.locator('[data-conflicts="entity:ticket"]')
    expect(conflict).to_contain_text("the pack says Summary, here Topic")
    expect(page.locator("#plan-problems")).to_contain_text("Applying now would be refused")
    page.shot("04-conflict")
    conflict.get_by_label("Take the pack's").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Apply tickets 2.0.0").click()
    page.wait_for_url(f"{live_server}/admin/packs/")
    expect(page.locator("body")).to_contain_text("Tickets 2.0.0 applied: 0 created, 1 changed")
    page.goto(f"{live_server}/records/ticket/new")
    expect(page.get_by_label("Summary")).to_be_visible()
    expect(page.get_by_label("Due")).to_be_visible()
    page.shot("05-upgraded")
