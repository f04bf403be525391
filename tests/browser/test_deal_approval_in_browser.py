"""The deal approval of issue 13 walked in a real Chromium ("Done when"): the administrator
builds a one-step route in the admin form (the board members hanna, ivan and jonas, two of
three), publishes it after the confirmation and starts it from a deal's card; hanna and ivan
approve in "My tasks" (counted in the menu), which takes jonas's task away, and the card
shows both decisions, the completed flow and the deal in the Approved stage (reserved to
flows). Screenshots land under artifacts/."""

from __future__ import annotations

import pytest
from browser_helpers import save_and_publish, sign_in

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


def task_count(page) -> str:  # type: ignore[no-untyped-def]
    """The open tasks the menu counts ("0" when it shows no badge)."""
    page.locator("#tasks-link").wait_for()
    badge = page.locator("#task-count")
    return badge.inner_text() if badge.count() else "0"


def approve_in_inbox(page, base: str, comment: str) -> None:  # type: ignore[no-untyped-def]
    page.locator("#tasks-link").click()
    page.wait_for_url(f"{base}/tasks")
    task = page.locator("[data-task]")
    assert task.count() == 1
    assert "Acme annual supply" in task.inner_text() and "Board sign-off" in task.inner_text()
    task.get_by_label("Comment").fill(comment)
    task.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{base}/tasks")
    assert "No open tasks." in page.locator("#tasks").inner_text()
    assert task_count(page) == "0"


def test_a_deal_walks_through_a_two_of_three_board_approval_built_in_the_admin(
    page, live_server, deal_in_approval
) -> None:  # type: ignore[no-untyped-def]
    card = deal_in_approval
    sign_in(page, live_server, "eve", then="/admin/flows/")
    page.get_by_label("Label").fill("Board sign-off")
    assert page.get_by_label("Key").input_value() == "board_sign_off"
    page.get_by_label("Records of").select_option("deal")
    assert page.get_by_label("Starts").input_value() == "manual"
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
    page.wait_for_url(f"{live_server}{card}")
    running = page.locator('#flows [data-status="running"]')
    assert "Board sign-off" in running.inner_text()
    asked = running.locator('[data-step="board"]').all_inner_texts()  # one task per member
    assert sorted(text.rsplit("asked: ", 1)[-1] for text in asked) == list(BOARD)
    page.shot("03-card-started")

    switch_user(page, live_server, "hanna")
    assert task_count(page) == "1"
    approve_in_inbox(page, live_server, "Good margin")
    page.shot("04-hanna-approved")

    switch_user(page, live_server, "jonas")
    assert task_count(page) == "1"  # one of two approvals so far: still asked

    switch_user(page, live_server, "ivan")
    assert task_count(page) == "1"
    approve_in_inbox(page, live_server, "Agreed")

    switch_user(page, live_server, "jonas", then=card)
    assert task_count(page) == "0"  # the quorum is reached: his task is gone
    page.locator("#tasks-link").click()
    page.wait_for_url(f"{live_server}/tasks")
    assert "No open tasks." in page.locator("#tasks").inner_text()

    page.goto(f"{live_server}{card}")
    done = page.locator('#flows [data-status="completed"]')
    assert "Board sign-off" in done.inner_text()
    assert done.locator("[data-flow-status]").inner_text() == "completed: approved"
    decisions = done.locator("[data-decision]")
    assert decisions.count() == 2
    texts = decisions.all_inner_texts()
    assert texts[0].startswith("hanna: approved") and "Good margin" in texts[0]
    assert texts[1].startswith("ivan: approved") and "Agreed" in texts[1]
    assert done.locator("[data-step]").count() == 0
    assert page.locator('[data-stage][aria-current="step"]').get_attribute("data-stage") == (
        "approved"
    )
    page.shot("05-card-approved")
