"""The deal approval of issue 13 walked in a real Chromium ("Done when"): the administrator
builds a one-step route in the admin form (the board members hanna, ivan and jonas, two of
three), publishes it after the confirmation and starts it from a deal's card; hanna and ivan
approve in "My tasks" (counted in the menu), which takes jonas's task away, and the card
shows both decisions, the completed flow and the deal in the Approved stage (reserved to
flows). Screenshots land under artifacts/."""

from __future__ import annotations

import pytest
from browser_helpers import save_and_publish, sign_in
from playwright.sync_api import expect

from trellis.access.credentials import change_password
from trellis.accounts import SYSTEM, get_user

pytestmark = pytest.mark.browser

BOARD = ("hanna", "ivan", "jonas")


@pytest.fixture
def deal_in_approval(crm, runtime) -> str:  # type: ignore[no-untyped-def]
    """The demo's board members with known passwords, and the card of the demo deal "Acme
    annual supply" moved to Approval, the only stage the Approved one is reached from. The
    demo's own deal_approval flow (started on entering Approval) is switched to starting by
    hand first, so the flow built in the test is the only one asking the board."""
    with runtime.transaction() as session:
        for name in BOARD:
            change_password(session, get_user(session, name), f"{name}-password")
        runtime.flows(session, SYSTEM).update_flow("deal_approval", {"trigger": {"on": "manual"}})
        records = runtime.records(session)
        (deal,) = records.list("deal", q="Acme annual").items
        records.move_stage("deal", deal.id, "approval")
    return f"/records/deal/{deal.id}"


def switch_user(page, base: str, name: str, then: str = "/") -> None:  # type: ignore[no-untyped-def]
    """Sign out (by dropping the session cookie) and sign in as ``name``."""
    page.context.clear_cookies()
    sign_in(page, base, name, then)


def expect_task_count(page, count: str) -> None:  # type: ignore[no-untyped-def]
    """The menu counts ``count`` open tasks (no badge for "0"). Call it on a page known to
    be the new one: the absence of the badge is not waited for."""
    page.locator("#tasks-link").wait_for()
    badge = page.locator("#task-count")
    if count == "0":
        expect(badge).to_have_count(0)
    else:
        expect(badge).to_have_text(count)


def approve_in_inbox(page, base: str, comment: str) -> None:  # type: ignore[no-untyped-def]
    page.locator("#tasks-link").click()
    page.wait_for_url(f"{base}/tasks")
    task = page.locator("[data-task]")
    expect(task).to_have_count(1)
    expect(task).to_contain_text("Acme annual supply")
    expect(task).to_contain_text("Board sign-off")
    task.get_by_label("Comment").fill(comment)
    task.get_by_role("button", name="Approve").click()
    # the inbox reloads at the same URL: the empty list is what tells the new page
    expect(page.locator("#tasks")).to_contain_text("No open tasks.")
    expect(page).to_have_url(f"{base}/tasks")
    expect_task_count(page, "0")


def test_a_deal_walks_through_a_two_of_three_board_approval_built_in_the_admin(
    page, live_server, deal_in_approval
) -> None:  # type: ignore[no-untyped-def]
    card = deal_in_approval
    sign_in(page, live_server, "eve", then="/admin/flows/")
    page.get_by_label("Label").fill("Board sign-off")
    expect(page.get_by_label("Key")).to_have_value("board_sign_off")
    page.get_by_label("Records of").select_option("deal")
    expect(page.get_by_label("Starts")).to_have_value("manual")
    page.get_by_role("button", name="Create flow").click()
    page.wait_for_url(f"{live_server}/admin/flows/board_sign_off")
    page.locator("#new-version").click()
    page.wait_for_url(f"{live_server}/admin/flows/board_sign_off/new")
    step = page.locator('[data-step-row="0"]')
    step.get_by_label("Id", exact=True).fill("board")
    step.get_by_label("Label", exact=True).fill("Board approval")
    step.get_by_label("Approvers", exact=True).select_option("users")
    step.get_by_label("Users", exact=True).select_option(list(BOARD))
    step.get_by_label("Mode", exact=True).select_option("quorum")
    step.get_by_label("Quorum (N of the approvers)", exact=True).fill("2")
    page.get_by_label("Move the record to stage").first.select_option("approved")
    page.shot("01-route-form")
    save_and_publish(page, live_server, "board_sign_off")
    page.shot("02-published")

    page.goto(f"{live_server}{card}")
    page.get_by_role("button", name="Start Board sign-off").click()
    # the card reloads at the same URL: the running flow is what tells the new page
    running = page.locator('#flows [data-status="running"]')
    expect(running).to_contain_text("Board sign-off")
    expect(page).to_have_url(f"{live_server}{card}")
    tasks = running.locator('[data-step="board"]')
    expect(tasks).to_have_count(len(BOARD))  # one task per member
    asked = tasks.all_inner_texts()
    assert sorted(text.rsplit("asked: ", 1)[-1] for text in asked) == list(BOARD)
    page.shot("03-card-started")

    switch_user(page, live_server, "hanna")
    expect_task_count(page, "1")
    approve_in_inbox(page, live_server, "Good margin")
    page.shot("04-hanna-approved")

    switch_user(page, live_server, "jonas")
    expect_task_count(page, "1")  # one of two approvals so far: still asked

    switch_user(page, live_server, "ivan")
    expect_task_count(page, "1")
    approve_in_inbox(page, live_server, "Agreed")

    switch_user(page, live_server, "jonas", then=card)
    expect_task_count(page, "0")  # the quorum is reached: his task is gone
    page.locator("#tasks-link").click()
    page.wait_for_url(f"{live_server}/tasks")
    expect(page.locator("#tasks")).to_contain_text("No open tasks.")

    page.goto(f"{live_server}{card}")
    done = page.locator('#flows [data-status="completed"]')
    expect(done).to_contain_text("Board sign-off")
    expect(done.locator("[data-flow-status]")).to_have_text("completed: approved")
    decisions = done.locator("[data-decision]")
    expect(decisions).to_have_count(2)
    texts = decisions.all_inner_texts()
    assert texts[0].startswith("hanna: approved") and "Good margin" in texts[0]
    assert texts[1].startswith("ivan: approved") and "Agreed" in texts[1]
    expect(done.locator("[data-step]")).to_have_count(0)
    expect(page.locator('[data-stage][aria-current="step"]')).to_have_attribute(
        "data-stage", "approved"
    )
    page.shot("05-card-approved")
