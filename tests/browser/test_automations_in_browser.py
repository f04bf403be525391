"""Automations in a real Chromium (issue 13, deliverable 7): an administrator builds one in the
admin form (each action row shows only its type's inputs; a second row is added in place),
then a new lead sets a field and notifies her: the unread count shows in the app's menu and
the notification leads to the record. Screenshots land under artifacts/."""

from __future__ import annotations

import pytest
from browser_helpers import sign_in

pytestmark = pytest.mark.browser


def test_an_automation_built_in_the_form_notifies_in_the_app(
    page, live_server, crm, factory
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server)
    page.goto(f"{live_server}/admin/automations/")
    page.get_by_label("Label").fill("Welcome new leads")
    assert page.get_by_label("Key").input_value() == "welcome_new_leads"
    page.get_by_label("Records of").select_option("lead")
    page.get_by_label("Runs").select_option("stage")
    assert page.get_by_label("Stage (when entering a stage)").is_visible()
    assert not page.get_by_label("Field (when a field changes)").is_visible()
    page.get_by_label("Runs").select_option("create")
    assert not page.get_by_label("Stage (when entering a stage)").is_visible()
    first = page.locator('[data-action-row="0"]')
    first.locator("[data-action-type]").select_option("set_fields")
    assert first.get_by_label("Set fields").is_visible()
    assert not first.get_by_label("Move to stage").is_visible()
    first.get_by_label("Set fields").fill('comments = "Call back within a day"')
    page.get_by_role("button", name="Add another action").click()
    second = page.locator('[data-action-row="1"]')
    assert second.locator("legend").inner_text() == "Action 2"
    assert not second.get_by_label("Set fields").is_visible()  # nothing chosen yet
    second.locator("[data-action-type]").select_option("notify")
    second.get_by_label("Message").fill("New lead {title}")
    second.get_by_label("Users").select_option("eve")
    page.shot("01-automation-form")
    page.get_by_role("button", name="Create automation").click()
    page.wait_for_load_state()
    assert page.locator('[data-automation="welcome_new_leads"]').is_visible()
    page.shot("02-automation-list")

    lead = factory.record("lead", name="Acme roof repair", email="roof@acme.example")
    page.goto(f"{live_server}/")
    assert page.locator("#unread-count").inner_text() == "1"
    page.shot("03-unread-count")
    page.locator("#notifications-link").click()
    page.wait_for_url(f"{live_server}/notifications")
    page.shot("04-notifications")
    page.get_by_role("button", name="New lead Acme roof repair").click()
    page.wait_for_url(f"{live_server}/records/lead/{lead.id}")
    assert "Call back within a day" in page.content()
    assert page.locator("#unread-count").count() == 0
