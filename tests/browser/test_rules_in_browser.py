"""Issue 10.6 in a real Chromium: the rule form shows the inputs of the chosen kind only
and says how validation rules treat empty fields; a rule is edited in place, and a task with
Days left empty saves while ``days > 0`` stands. Screenshots land under artifacts/."""

from __future__ import annotations

import re

import pytest
from browser_helpers import sign_in
from playwright.sync_api import expect

from trellis.accounts import create_user

pytestmark = pytest.mark.browser


@pytest.fixture
def tasks(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("task", {"name": "text", "days": "integer"}, title="{name}")
    with runtime.transaction() as session:
        create_user(session, "root", "root-password", ["admin"])


def test_rules_are_added_by_kind_and_edited(page, live_server, tasks, factory) -> None:  # type: ignore[no-untyped-def]
    base = live_server
    sign_in(page, base, "root", then="/admin/")
    page.goto(f"{base}/admin/entities/task?tab=rules")
    form = page.locator("#rule-form")
    expect(form.get_by_label("Required when (expression)")).to_be_visible()
    expect(form.get_by_label("Validation expression (must hold)")).to_have_count(0)
    page.shot("01-required-rule-form")

    form.get_by_role("link", name="Validation rule").click()
    # the link loads the validation form: its note tells the new page, then the other is gone
    expect(form.get_by_text("does not make Days required")).to_be_visible()
    expect(form.get_by_label("Required when (expression)")).to_have_count(0)
    form.get_by_label("Show the message at").select_option("days")
    form.get_by_label("Validation expression (must hold)").fill("days > 0")
    form.get_by_label("Message when it does not hold").fill("Positive.")
    page.shot("02-validation-rule-form")
    form.get_by_role("button", name="Add rule").click()
    page.wait_for_url(re.compile(r"tab=rules$"))
    expect(page.locator("#rules").get_by_text("days > 0")).to_be_visible()

    page.locator("#rules").get_by_role("link", name="Edit").click()
    expect(form.get_by_label("Validation expression (must hold)")).to_have_value("days > 0")
    form.get_by_label("Validation expression (must hold)").fill("days >= 1")
    page.shot("03-editing-a-rule")
    form.get_by_role("button", name="Save rule").click()
    page.wait_for_url(re.compile(r"tab=rules$"))
    expect(page.locator("#rules").get_by_text("days >= 1")).to_be_visible()
    expect(page.locator("#rules tbody tr")).to_have_count(1)
    page.shot("04-rule-edited")

    # an empty Days is not refused by the rule; 0 is
    page.goto(f"{base}/records/task/new")
    page.get_by_label("Name").fill("No estimate yet")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/records/task/\d+$"))
    page.goto(f"{base}/records/task/new")
    page.get_by_label("Name").fill("Zero")
    page.get_by_label("Days").fill("0")
    page.get_by_role("button", name="Save").click()  # refused: the form again, same URL
    expect(page.get_by_text("Positive.")).to_be_visible()
    page.shot("05-zero-days-refused")
    assert factory.records("list", "task").total == 1
