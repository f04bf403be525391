"""An administrator, starting from an empty database, designs an entity type in the admin UI
in a real Chromium, then sees a record of it in the end-user app. Every admin page is
saved as a screenshot under artifacts/."""

from __future__ import annotations

import re

import pytest
from browser_helpers import sign_in
from playwright.sync_api import expect

from trellis.accounts import create_user

pytestmark = pytest.mark.browser


@pytest.fixture
def administrator(runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        create_user(session, "root", "root-password", ["admin"])


def test_administrator_designs_an_entity_type_without_code(  # type: ignore[no-untyped-def]
    page, live_server, administrator, runtime
) -> None:
    base = live_server
    sign_in(page, base, "root", then="/admin/")
    page.shot("01-dashboard-empty")

    # a shared option list
    page.goto(f"{base}/admin/lists/")
    page.locator("#new").get_by_label(re.compile(r"^Key")).fill("priority")
    page.locator("#new").get_by_label(re.compile(r"^Label")).fill("Priority")
    page.get_by_label("Options, one per line").fill("Low\nNormal\nUrgent")
    page.get_by_role("button", name="Create list").click()
    page.wait_for_url(f"{base}/admin/lists/priority")
    page.shot("02-option-list")

    # the entity type
    page.goto(f"{base}/admin/entities/")
    page.locator("#new").get_by_label(re.compile(r"^Key")).fill("ticket")
    page.locator("#new").get_by_label(re.compile(r"^Label")).fill("Ticket")
    page.locator("#new").get_by_label("Plural label").fill("Tickets")
    page.get_by_role("button", name="Create entity type").click()
    page.wait_for_url(f"{base}/admin/entities/ticket")
    page.shot("03-entity-type")

    # a text field, then a list field using the shared list
    page.get_by_label("New field of type").select_option("text")
    page.get_by_role("button", name="Add field").click()
    page.get_by_label(re.compile(r"^Key")).fill("subject")
    page.get_by_label(re.compile(r"^Label")).fill("Subject")
    page.get_by_label("Required").check()
    page.get_by_role("button", name="Add field").click()
    page.wait_for_url(f"{base}/admin/entities/ticket")
    page.get_by_label("New field of type").select_option("list")
    page.get_by_role("button", name="Add field").click()
    page.get_by_label(re.compile(r"^Key")).fill("priority")
    page.get_by_label(re.compile(r"^Label")).fill("Priority")
    page.get_by_label("Option list").select_option("priority")
    page.shot("04-field-form")
    page.get_by_role("button", name="Add field").click()
    page.wait_for_url(f"{base}/admin/entities/ticket")
    expect(page.locator('tr[data-field="priority"]')).to_be_visible()
    page.shot("05-fields")

    # a pipeline
    page.get_by_role("link", name="Pipelines").click()
    page.get_by_label(re.compile(r"^Key")).fill("support")
    page.get_by_label(re.compile(r"^Label")).fill("Support")
    page.get_by_label("Stage key 1").fill("new")
    page.get_by_label("Stage label 1").fill("New")
    page.get_by_label("Stage key 2").fill("working")
    page.get_by_label("Stage label 2").fill("Working")
    page.get_by_label("Stage key 3").fill("solved")
    page.get_by_label("Stage label 3").fill("Solved")
    page.get_by_label("Stage meaning 3").select_option("success")
    page.shot("06-new-pipeline")
    page.get_by_role("button", name="Create pipeline").click()
    page.wait_for_url(f"{base}/admin/entities/ticket/pipelines/support")
    page.shot("07-pipeline-stages")

    # a rule with a mistake: the error shows under the input; then the right rule
    page.goto(f"{base}/admin/entities/ticket?tab=rules")
    page.get_by_label("Field", exact=True).select_option("priority")
    page.get_by_label("Required when (expression)").fill("subjekt == 'x'")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator('[data-error-for="when"]')).to_contain_text("Unknown name 'subjekt'")
    page.shot("08-rule-error")
    page.get_by_label("Required when (expression)").fill("")
    page.get_by_label("Field", exact=True).select_option("priority")
    page.get_by_label("Required from stage on").select_option("support.working")
    page.get_by_role("button", name="Add rule").click()
    page.wait_for_url(f"{base}/admin/entities/ticket?tab=rules")
    expect(page.locator("#rules")).to_contain_text("from stage")
    page.shot("09-rules")

    # the other admin pages
    for name, path in [
        ("10-users", "/admin/users/"),
        ("11-roles", "/admin/roles/"),
        ("12-role-matrix", "/admin/roles/user"),
        ("13-conversions", "/admin/conversions/"),
        ("14-history", "/admin/history/"),
        ("15-dashboard", "/admin/"),
    ]:
        page.goto(base + path)
        page.shot(name)

    # a record of the new type, made by the record service, shows in the end-user app
    with runtime.transaction() as session:
        runtime.records(session).create(
            "ticket", {"subject": "Printer on fire", "priority": "urgent"}
        )
    page.goto(f"{base}/")
    expect(page.locator('[data-entity="ticket"]')).to_have_text("1")
    page.get_by_role("link", name="Tickets").first.click()
    row = page.locator("#records tbody tr").first
    expect(row).to_contain_text("Printer on fire")
    expect(row).to_contain_text("Urgent")
    page.shot("16-end-user-list")
