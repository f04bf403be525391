"""Keys suggested from labels in a real Chromium: a new pipeline's stage rows only hint at
new/won/lost, and each stage key (like a new option's key) follows its label as it is typed,
while a key typed by hand is kept. Screenshots land under artifacts/."""

from __future__ import annotations

import pytest
from browser_helpers import sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def compiled(runtime):  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return runtime.model(session)


def test_stage_and_option_keys_follow_their_labels(page, live_server, crm, runtime) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server)
    page.goto(f"{live_server}/admin/entities/company?tab=pipelines")
    page.locator("[name=pipeline_key]").fill("approval")
    page.locator("[name=pipeline_label]").fill("Approval")
    for n in (1, 2, 3):  # hints (placeholders), not values
        expect(page.get_by_label(f"Stage key {n}", exact=True)).to_have_value("")
        expect(page.get_by_label(f"Stage label {n}", exact=True)).to_have_value("")
    hand = page.get_by_label("Stage key 3", exact=True)
    hand.fill("ok")  # typed by hand: the label does not change it
    for n, label in enumerate(["Draft", "Submitted request", "Approved"], start=1):
        page.get_by_label(f"Stage label {n}", exact=True).press_sequentially(label)
    expect(page.get_by_label("Stage key 1", exact=True)).to_have_value("draft")
    expect(page.get_by_label("Stage key 2", exact=True)).to_have_value("submitted_request")
    expect(page.get_by_label("Stage label 1", exact=True)).to_have_value("Draft")
    expect(hand).to_have_value("ok")
    page.shot("01-stage-keys-from-labels")
    page.get_by_role("button", name="Create pipeline").click()
    page.wait_for_url(f"{live_server}/admin/entities/company/pipelines/approval")
    stages = compiled(runtime).entities["company"].pipelines["approval"].stages
    ordered = sorted(stages.values(), key=lambda s: s.position)
    assert [(s.key, s.label) for s in ordered] == [
        ("draft", "Draft"),
        ("submitted_request", "Submitted request"),
        ("ok", "Approved"),
    ]

    page.goto(f"{live_server}/admin/lists/source")
    add = page.locator("#add-option")
    add.get_by_label("New option label").press_sequentially("Trade fair")
    expect(add.get_by_label("New option key")).to_have_value("trade_fair")
    page.shot("02-option-key-from-label")
    add.get_by_role("button", name="Add option").click()
    page.locator('#options tr[data-option="trade_fair"]').wait_for()
    assert compiled(runtime).option_lists["source"].options["trade_fair"].label == "Trade fair"
