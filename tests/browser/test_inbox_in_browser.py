"""The inbox in a real Chromium (issue 13, deliverable 5): a deal approval flow is started
from the record card, the approver finds the task under "My tasks" (counted in the menu),
approves it with a comment, and the card shows the decision and the outcome. Screenshots
land under artifacts/."""

from __future__ import annotations

import pytest
from browser_helpers import sign_in
from deal_approval import publish_deal_approval

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
    assert page.locator("#task-count").count() == 0
    page.get_by_role("button", name="Start Deal approval").click()
    page.wait_for_url(f"{live_server}{card}")
    assert page.locator("#task-count").inner_text() == "1"
    assert "Waiting: Approve the deal" in page.locator("#flows").inner_text()
    page.shot("01-card-with-running-flow")

    page.locator("#tasks-link").click()
    page.wait_for_url(f"{live_server}/tasks")
    task = page.locator("[data-task]")
    assert "Acme annual supply" in task.inner_text() and "Deal approval" in task.inner_text()
    task.get_by_label("Comment").fill("Good margin")
    page.shot("02-inbox")
    task.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{live_server}/tasks")
    assert "No open tasks." in page.locator("#tasks").inner_text()
    assert page.locator("#task-count").count() == 0

    page.goto(f"{live_server}{card}")
    flows_panel = page.locator("#flows").inner_text()
    assert "completed: approved" in flows_panel
    assert "eve: approved" in flows_panel and "Good margin" in flows_panel
    assert page.locator('[data-visit="won"]').count() == 1
    page.shot("03-card-with-decision")
