"""Stage rules in a real Chromium (issue 13, item 6): on the demo's sales pipeline a new deal
may not be won straight away. The kanban greys out the columns a dragged card may not enter
and a drop there moves nothing; its move select and the card's stage bar offer only the
allowed stages; an allowed drag still moves the deal. Screenshots land under artifacts/."""

from __future__ import annotations

import pytest
from browser_helpers import sign_in

pytestmark = pytest.mark.browser


def test_the_kanban_and_the_stage_bar_offer_only_allowed_moves(
    page, live_server, crm, runtime
) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        deal = runtime.records(session).create(
            "deal", {"name": "Fresh deal", "amount": {"amount": "900"}}, pipeline="sales"
        )
    sign_in(page, live_server)
    page.goto(f"{live_server}/records/deal/kanban?pipeline=sales")
    card = page.locator(f'.kanban-card[data-record="{deal.id}"]')
    won = page.locator('.kanban-column[data-stage="won"]')
    # the keyboard's move select: Won is there but cannot be chosen
    options = card.locator("select option")
    assert options.locator("text=Won").get_attribute("disabled") is not None
    assert options.locator("text=Negotiation").get_attribute("disabled") is None
    # while a card is dragged, the columns it may not enter are greyed out
    card.hover(position={"x": 8, "y": 8})
    page.mouse.down()
    page.mouse.move(10, 10, steps=4)
    won.hover()
    page.wait_for_function(
        "document.querySelector('.kanban-column[data-stage=\"won\"]').classList.contains('closed')"
    )
    assert "closed" not in (
        page.locator('.kanban-column[data-stage="proposal"]').get_attribute("class") or ""
    )
    page.shot("01-dragging-over-a-closed-column")
    page.mouse.up()
    page.wait_for_timeout(300)
    with runtime.transaction() as session:
        assert runtime.records(session).get("deal", deal.id).stage == "new"
    assert (
        page.locator(
            f'.kanban-column[data-stage="new"] .kanban-card[data-record="{deal.id}"]'
        ).count()
        == 1
    )
    # an allowed drag moves it
    card.drag_to(
        page.locator('.kanban-column[data-stage="negotiation"]'), source_position={"x": 8, "y": 8}
    )
    page.locator(
        f'.kanban-column[data-stage="negotiation"] .kanban-card[data-record="{deal.id}"]'
    ).wait_for()
    with runtime.transaction() as session:
        assert runtime.records(session).get("deal", deal.id).stage == "negotiation"
    # the card's stage bar: from Negotiation, New cannot be chosen (it says why), Won can
    page.goto(f"{live_server}/records/deal/{deal.id}")
    new = page.locator('.stage-bar button[data-stage="new"]')
    assert new.is_disabled()
    assert "moves only to" in (new.get_attribute("title") or "")
    assert page.locator('.stage-bar button[data-stage="won"]').is_enabled()
    page.shot("02-stage-bar")
