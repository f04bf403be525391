"""The inbox in a real Chromium (issue 13, deliverable 5): a deal approval flow is started
from the record card, the approver finds the task under "My tasks" (counted in the menu),
approves it with a comment, and the card shows the decision and the outcome. Screenshots
land under artifacts/."""

from __future__ import annotations

import pytest
from browser_helpers import sign_in
from deal_approval import publish_deal_approval
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ROUTE = {
    "steps": [
        {"id": "ok", "label": "Approve the deal", "approvers": {"users": ["eve"]}, "mode": "any"}
    ],
    "on_approved": {"stage": "won"},
}


def test_a_task_approved_in_the_inbox_shows_on_the_card(page, live_server, crm, runtime) -> None:  # type: ignore[no-untyped-def]
    card = f"/records/deal/{publish_deal_approval(runtime, ROUTE)}"
    sign_in(page, live_server, then=card)
    expect(page.locator("#task-count")).to_have_count(0)
    page.get_by_role("button", name="Start Deal approval").click()
    # the card reloads at the same URL: the task's count is what tells the new page
    expect(page.locator("#task-count")).to_have_text("1")
    expect(page).to_have_url(f"{live_server}{card}")
    expect(page.locator("#flows")).to_contain_text("Waiting: Approve the deal")
    page.shot("01-card-with-running-flow")

    page.locator("#tasks-link").click()
    page.wait_for_url(f"{live_server}/tasks")
    task = page.locator("[data-task]")
    expect(task).to_contain_text("Acme annual supply")
    expect(task).to_contain_text("Deal approval")
    task.get_by_label("Comment").fill("Good margin")
    page.shot("02-inbox")
    task.get_by_role("button", name="Approve").click()
    # the inbox reloads at the same URL: the empty list is what tells the new page
    expect(page.locator("#tasks")).to_contain_text("No open tasks.")
    expect(page).to_have_url(f"{live_server}/tasks")
    expect(page.locator("#task-count")).to_have_count(0)

    page.goto(f"{live_server}{card}")
    flows_panel = page.locator("#flows")
    expect(flows_panel).to_contain_text("completed: approved")
    expect(flows_panel).to_contain_text("eve: approved")
    expect(flows_panel).to_contain_text("Good margin")
    expect(page.locator('[data-visit="won"]')).to_have_count(1)
    page.shot("03-card-with-decision")
