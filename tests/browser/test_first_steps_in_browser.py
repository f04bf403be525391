"""First steps in a real Chromium: the admin suggests keys from labels as they are typed,
archiving asks first, the role matrix saves every section with one Save, and a new user
without access is told whom to ask. Screenshots land under artifacts/."""

from __future__ import annotations

import re

import pytest
from browser_helpers import dismissed_without_a_post, sign_in
from playwright.sync_api import expect
from sqlalchemy import select

from trellis.access.models import RolePermission
from trellis.accounts import create_user

pytestmark = pytest.mark.browser


@pytest.fixture
def people(runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        create_user(session, "root", "root-password", ["admin"], display_name="Rita Root")
        create_user(session, "newbie", "newbie-password", ["user"])


def test_keys_archive_and_one_save(page, live_server, people, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    base = live_server
    sign_in(page, base, "root")
    page.shot("01-home-getting-started")
    expect(page.locator("#getting-started")).to_be_visible()

    # the key follows the label as it is typed
    page.goto(f"{base}/admin/entities/")
    new = page.locator("#new")
    new.get_by_label(re.compile(r"^Label")).press_sequentially("Vacation request")
    expect(new.get_by_label(re.compile(r"^Key"))).to_have_value("vacation_request")
    page.shot("02-key-suggested")
    new.get_by_role("button", name="Create entity type").click()
    page.wait_for_url(f"{base}/admin/entities/vacation_request")

    # a field: the key follows its label too, but a key typed by hand stays
    page.get_by_label("New field of type").select_option("integer")
    page.get_by_role("button", name="Add field").click()
    page.get_by_label(re.compile(r"^Key")).fill("days_off")
    page.get_by_label(re.compile(r"^Label")).press_sequentially("Number of days")
    expect(page.get_by_label(re.compile(r"^Key"))).to_have_value("days_off")
    page.get_by_role("button", name="Add field").click()
    page.wait_for_url(f"{base}/admin/entities/vacation_request")

    # archiving asks; cancelling keeps the entity type
    page.goto(f"{base}/admin/entities/vacation_request?tab=settings")
    asked = dismissed_without_a_post(page, page.get_by_role("button", name="Archive"))
    assert asked and asked[0].startswith("Archive Vacation requests?")
    with runtime.transaction() as session:
        assert "vacation_request" in runtime.model(session).entities

    # the role matrix: two sections changed, one Save
    factory.entity("company", {"name": "text"})
    page.goto(f"{base}/admin/roles/user")
    page.locator("#vacation_request-read").select_option("own")
    page.locator("#company-read").select_option("all")
    page.shot("03-role-matrix-before-save")
    page.get_by_role("button", name="Save permissions").click()
    # the matrix reloads at the same URL: the saved message is what tells the new page
    expect(page.get_by_text("Permissions of")).to_be_visible()
    expect(page).to_have_url(f"{base}/admin/roles/user")
    with runtime.transaction() as session:
        reads = {g.entity: g.read for g in session.scalars(select(RolePermission))}
    assert reads == {"vacation_request": "own", "company": "all"}
    page.shot("04-role-matrix-saved")

    # the history reads as sentences with names
    page.goto(f"{base}/admin/history/")
    history = page.locator("#history")
    expect(history).to_contain_text("Created the entity type Vacation request")
    expect(history).to_contain_text("Added the integer field “Number of days” to Vacation requests")
    expect(history).to_contain_text("Rita Root")
    page.shot("05-history")
    page.goto(f"{base}/admin/")
    page.shot("06-dashboard")


def test_a_new_user_without_access_is_told_whom_to_ask(page, live_server, people, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text"})
    sign_in(page, live_server, "newbie")
    message = page.locator("#no-access")
    expect(message).to_contain_text("You have no access to any records yet.")
    expect(message).to_contain_text("Ask Rita Root")
    page.shot("01-no-access-yet")
