"""Layout in a real Chromium: a long value stays in its list column, filter date inputs show
their whole date, the kanban header keeps title and count apart, a card is grabbed by its
body (not by its move select), the kanban's buttons look like buttons, and a long unbroken
value (a 200-letter name) wraps on the card and the kanban and is cut in the list, so no
page gets wider than the window. Screenshots land under artifacts/."""

from __future__ import annotations

import re

import pytest
from browser_helpers import sign_in
from playwright.sync_api import expect

from trellis.accounts import create_user

pytestmark = pytest.mark.browser


@pytest.fixture
def deals(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "deal",
        {"name": "text", "code": "text", "closes": "date", "amount": "money", "size": "integer"},
        title="{name}",
        pipelines={"sales": ["submitted", "negotiation", "won:success"]},
    )
    with runtime.transaction() as session:
        create_user(session, "eve", "eve-password", ["admin"])


def box(locator):  # type: ignore[no-untyped-def]
    found = locator.bounding_box()
    assert found is not None
    return found


def test_a_long_value_keeps_every_list_column_on_screen(page, live_server, deals, factory) -> None:  # type: ignore[no-untyped-def]
    long_value = "X" * 250
    factory.record("deal", name="Apollo", code=long_value, size=7)
    sign_in(page, live_server)
    page.goto(f"{live_server}/records/deal")
    page.shot("01-list-with-a-long-value")
    table = page.locator("#records")
    viewport = page.viewport_size["width"]
    assert box(table)["width"] <= viewport
    last = page.locator("#records thead th").last  # the stage column
    assert box(last)["x"] + box(last)["width"] <= viewport
    cell = page.locator("#records tbody td", has_text="XXXX")
    expect(cell).to_have_attribute("title", long_value)  # the whole value on hover

    # the date filter shows a whole date in each of its two inputs
    for name in ("closes__gte", "closes__lte"):
        date_input = page.locator(f'input[name="{name}"]')
        date_input.fill("2026-12-31")
        fits = date_input.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
        assert fits and box(date_input)["width"] >= 125, name
    page.shot("02-date-filter-filled")


def test_kanban_header_card_grab_and_buttons(page, live_server, deals, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        records = runtime.records(session)
        apollo = records.create(
            "deal", {"name": "Apollo", "amount": {"amount": "900"}}, pipeline="sales"
        )
        records.create("deal", {"name": "Gemini"}, pipeline="sales")
    factory.meta("update_entity", "deal", card_fields=["closes", "amount"])  # chosen fields
    sign_in(page, live_server)
    page.goto(f"{live_server}/records/deal/kanban?pipeline=sales")
    page.shot("01-kanban")

    # title and count stay apart
    column = page.locator('.kanban-column[data-stage="submitted"]')
    title, count = column.locator(".kanban-title"), column.locator("[data-count-badge]")
    expect(title).to_have_text("Submitted")
    expect(count.locator("[data-count]")).to_have_text("2")
    assert box(count)["x"] >= box(title)["x"] + box(title)["width"] + 4
    assert "Submitted2" not in column.locator("header").inner_text().replace(" ", "")

    # the card shows the chosen fields, each on its line
    card = page.locator(f'.kanban-card[data-record="{apollo.id}"]')
    expect(card.locator('[data-card-field="amount"]')).to_have_text("Amount: 900.00 EUR")
    expect(card.locator('[data-card-field="closes"]')).to_have_text("Closes: —")

    # the move select is a small part of the card
    select = card.locator("[data-move-select]")
    card_box, select_box = box(card), box(select)
    assert select_box["width"] * select_box["height"] < 0.2 * card_box["width"] * card_box["height"]

    # the "Show" button has a visible border on the page's background
    show = page.get_by_role("button", name="Show")
    border, background = show.evaluate(
        "b => [getComputedStyle(b).borderTopColor, getComputedStyle(document.body).backgroundColor]"
    )
    assert border != background

    # a card grabbed in its middle drags (the select does not open instead)
    card.drag_to(page.locator('.kanban-column[data-stage="negotiation"]'))
    page.locator(
        f'.kanban-column[data-stage="negotiation"] .kanban-card[data-record="{apollo.id}"]'
    ).wait_for()
    page.shot("02-kanban-after-drag-from-the-middle")
    with runtime.transaction() as session:
        assert runtime.records(session).get("deal", apollo.id).stage == "negotiation"


def test_a_reference_filter_picks_a_record_by_name(page, live_server, deals, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text"}, title="{name}")
    factory.meta(
        "add_field", "deal", "company", "Company", "reference", settings={"target": "company"}
    )
    factory.meta("reorder_fields", "deal", ["name", "company"])  # among the filtered five
    acme = factory.record("company", name="Acme")
    factory.record("deal", name="Apollo", company=acme.id)
    factory.record("deal", name="Gemini")
    sign_in(page, live_server)
    page.goto(f"{live_server}/records/deal")
    search = page.locator("#flt-company")
    search.press_sequentially("Acm")
    page.locator('#dl-flt-company option[value="Acme"]').wait_for(state="attached")
    search.fill("Acme")
    search.press("Tab")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(f"**/records/deal?*company={acme.id}*")
    expect(page.locator("#records tbody tr")).to_have_count(1)
    expect(page.locator("#flt-company")).to_have_value("Acme")
    page.shot("01-filtered-by-company-name")


def page_fits(page) -> bool:  # type: ignore[no-untyped-def]
    """Nothing makes the page wider than the window (no horizontal scroll bar)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    return width <= page.viewport_size["width"]


def test_a_long_unbroken_value_wraps_on_card_kanban_and_list(page, live_server, crm) -> None:  # type: ignore[no-untyped-def]
    long_name, long_company = "L" * 200, "C" * 200
    viewport = page.viewport_size["width"]
    sign_in(page, live_server)
    for entity, pipeline in (("lead", "leads"), ("deal", "sales")):  # without long values
        page.goto(f"{live_server}/records/{entity}/kanban?pipeline={pipeline}")
        assert page_fits(page), entity
    page.shot("01-deal-kanban")

    page.goto(f"{live_server}/records/lead/new")
    page.locator('[name="name"]').fill(long_name)
    page.locator('[name="company_name"]').fill(long_company)
    page.locator('[name="email"]').fill("long@example.com")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/records/lead/\d+$"))
    page.shot("02-card-with-a-long-name")
    expect(page.get_by_role("status")).to_contain_text(long_name)  # the flash message
    for part in ("#record-title", ".breadcrumb", '[role="status"]'):
        assert box(page.locator(part).first)["width"] <= viewport, part
    assert page_fits(page)

    page.goto(f"{live_server}/records/lead/kanban?pipeline=leads")
    page.shot("03-kanban-with-a-long-name")
    assert page_fits(page)
    columns = page.locator(".kanban-column")
    widths = {round(box(columns.nth(n))["width"]) for n in range(columns.count())}
    assert len(widths) == 1 and widths.pop() <= 320  # every column as wide as the others
    card = page.locator(".kanban-card", has_text="LLLL")
    assert box(card)["width"] <= 320

    page.goto(f"{live_server}/records/lead")
    page.shot("04-list-with-two-long-columns")
    assert page_fits(page)
    assert box(page.locator("#records"))["width"] <= viewport
    cell = page.locator("#records tbody td", has_text="CCCC")
    expect(cell).to_have_attribute("title", long_company)  # the whole value on hover
