"""Approval routes in a real Chromium (issue 13, deliverable 3): an administrator creates a
flow, builds a two-step route in the admin form (each row shows only the approver input of
its kind and the quorum only in quorum mode; a row is added and reordered in place), saves
the draft and publishes it after the confirmation. Screenshots land under artifacts/."""

from __future__ import annotations

import pytest
from browser_helpers import save_and_publish, sign_in
from playwright.sync_api import expect
from sqlalchemy import select

from trellis.access.grants import create_role, set_grant
from trellis.accounts import SYSTEM, create_user
from trellis.flows.models import Flow, FlowVersion

pytestmark = pytest.mark.browser


@pytest.fixture
def deals(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text", "amount": "decimal"})
    stages = [
        {"key": "new", "label": "New", "kind": "open"},
        {"key": "won", "label": "Won", "kind": "success"},
        {"key": "lost", "label": "Lost", "kind": "failure"},
    ]
    factory.meta("create_pipeline", "deal", "sales", "Sales", stages)
    with runtime.transaction() as session:
        create_role(session, SYSTEM, "manager", "Manager")
        # approvers must read what they decide on (publishing a route checks it)
        set_grant(session, SYSTEM, runtime.model(session), "user", "deal", {"read": "all"})
        create_user(session, "eve", "eve-password", ["admin"])
        for name in ("ann", "bob", "cy", "dee", "boss"):
            create_user(session, name, f"{name}-password-long", ["user"])


def test_a_route_built_in_the_form_is_saved_and_published(
    page, live_server, deals, runtime
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server)
    page.goto(f"{live_server}/admin/flows/")
    page.get_by_label("Label").fill("Deal approval")
    expect(page.get_by_label("Key")).to_have_value("deal_approval")
    page.get_by_label("Records of").select_option("deal")
    expect(page.get_by_label("Stage (when entering a stage)")).not_to_be_visible()
    page.get_by_role("button", name="Create flow").click()
    page.wait_for_url(f"{live_server}/admin/flows/deal_approval")
    page.locator("#new-version").click()
    page.wait_for_url(f"{live_server}/admin/flows/deal_approval/new")

    first = page.locator('[data-step-row="0"]')
    first.get_by_label("Id", exact=True).fill("manager")
    first.get_by_label("Label", exact=True).fill("Sales manager")
    first.get_by_label("Approvers", exact=True).select_option("role")
    expect(first.get_by_label("Role", exact=True)).to_be_visible()
    expect(first.get_by_label("Users", exact=True)).not_to_be_visible()
    first.get_by_label("Role", exact=True).select_option("manager")
    expect(first.get_by_label("Quorum (N of the approvers)", exact=True)).not_to_be_visible()
    page.get_by_role("button", name="Add another step").click()
    second = page.locator('[data-step-row="1"]')
    expect(second.get_by_label("Id", exact=True)).to_have_value("")
    second.get_by_label("Id", exact=True).fill("board")
    second.get_by_label("Label", exact=True).fill("Board")
    second.get_by_label("Approvers", exact=True).select_option("users")
    second.get_by_label("Users", exact=True).select_option(["bob", "cy", "dee"])
    second.get_by_label("Mode", exact=True).select_option("quorum")
    second.get_by_label("Quorum (N of the approvers)", exact=True).fill("2")
    second.get_by_label("Only when (optional)", exact=True).fill("amount > 10000")
    second.get_by_label("Deadline (optional)", exact=True).fill("P2D")
    second.get_by_label("Then escalate to", exact=True).select_option("user:boss")
    # reordered in place: the inputs follow their row
    second.locator('[data-step-move="up"]').click()
    expect(page.locator('[name="s0_id"]')).to_have_value("board")
    expect(page.locator('[name="s1_id"]')).to_have_value("manager")
    page.locator('[data-step-row="0"] [data-step-move="down"]').click()
    expect(page.locator('[name="s0_id"]')).to_have_value("manager")
    page.get_by_label("Move the record to stage").first.select_option("won")
    page.shot("01-route-form")
    save_and_publish(page, live_server, "deal_approval")
    page.shot("02-published-version")

    with runtime.transaction() as session:
        flow = session.scalars(select(Flow)).one()
        version = session.scalars(select(FlowVersion)).one()
        assert flow.live_version_id == version.id
        assert [s["id"] for s in version.route["steps"]] == ["manager", "board"]
        assert version.route["steps"][1] == {
            "id": "board",
            "label": "Board",
            "approvers": {"users": ["bob", "cy", "dee"]},
            "mode": "quorum",
            "quorum": 2,
            "when": "amount > 10000",
            "deadline": "P2D",
            "escalate_to": {"user": "boss"},
        }
        assert version.route["on_approved"] == {"stage": "won"}
