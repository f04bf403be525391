"""Automations in a real Chromium (issue 13, deliverable 7): an administrator builds one in the
admin form (each action row shows only its type's inputs; a second row is added in place),
then a new lead sets a field and notifies her: the unread count shows in the app's menu and
the notification leads to the record. Screenshots land under artifacts/."""

from __future__ import annotations

import pytest
from browser_helpers import sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_an_automation_built_in_the_form_notifies_in_the_app(
    page, live_server, crm, factory
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server)
    page.goto(f"{live_server}/admin/automations/")
    page.get_by_label("Label").fill("Welcome new leads")
    expect(page.get_by_label("Key")).to_have_value("welcome_new_leads")
    page.get_by_label("Records of").select_option("lead")
    page.get_by_label("Runs").select_option("stage")
    expect(page.get_by_label("Stage (when entering a stage)")).to_be_visible()
    expect(page.get_by_label("Field (when a field changes)")).not_to_be_visible()
    page.get_by_label("Runs").select_option("create")
    expect(page.get_by_label("Stage (when entering a stage)")).not_to_be_visible()
    first = page.locator('[data-action-row="0"]')
    first.locator("[data-action-type]").select_option("set_fields")
    expect(first.get_by_label("Set fields")).to_be_visible()
    expect(first.get_by_label("Move to stage")).not_to_be_visible()
    first.get_by_label("Set fields").fill('comments = "Call back within a day"')
    page.get_by_role("button", name="Add another action").click()
    second = page.locator('[data-action-row="1"]')
    expect(second.locator("legend")).to_have_text("Action 2")  # the row is there
    expect(second.get_by_label("Set fields")).not_to_be_visible()  # nothing chosen yet
    second.locator("[data-action-type]").select_option("notify")
    second.get_by_label("Message").fill("New lead {title}")
    second.get_by_label("Users").select_option("eve")
    page.shot("01-automation-form")
    page.get_by_role("button", name="Create automation").click()
    # the list reloads at the same URL: the new automation is what tells the new page
    expect(page.locator('[data-automation="welcome_new_leads"]')).to_be_visible()
    page.shot("02-automation-list")

    lead = factory.record("lead", name="Acme roof repair", email="roof@acme.example")
    page.goto(f"{live_server}/")
    expect(page.locator("#unread-count")).to_have_text("1")
    page.shot("03-unread-count")
    page.locator("#notifications-link").click()
    page.wait_for_url(f"{live_server}/notifications")
    page.shot("04-notifications")
    page.get_by_role("button", name="New lead Acme roof repair").click()
    page.wait_for_url(f"{live_server}/records/lead/{lead.id}")
    expect(page.locator("body")).to_contain_text("Call back within a day")
    expect(page.locator("#unread-count")).to_have_count(0)
