"""What the browser tests share besides fixtures: signing in through the login page, and
saving and publishing a flow's first version in the administration."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def sign_in(page, base: str, name: str = "eve", then: str = "/") -> None:  # type: ignore[no-untyped-def]
    """Sign in as ``name`` (password ``<name>-password``) and wait to land on ``then``."""
    page.goto(f"{base}/login" + (f"?next={then}" if then != "/" else ""))
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(f"{name}-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}{then}")


def save_and_publish(page, base: str, flow: str) -> None:  # type: ignore[no-untyped-def]
    """On a flow's new-version form: save the draft (version 1), then publish it (the
    confirmation accepted) and see it published."""
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(f"{base}/admin/flows/{flow}/1")
    expect(page.locator("[data-status]")).to_have_text("draft")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Publish").click()
    # publishing reloads the same URL: the status is what tells the new page
    expect(page.locator("[data-status]")).to_have_text(re.compile(r"^published"))
    expect(page).to_have_url(f"{base}/admin/flows/{flow}/1")


def dismissed_without_a_post(page, button) -> list[str]:  # type: ignore[no-untyped-def]
    """Click ``button``, dismiss the confirm it asks and prove no form was posted: the
    messages the page asked. A sleep on purpose: a submit the dismissal failed to stop sends
    its POST within milliseconds of the click, and there is no event to wait for instead."""
    asked: list[str] = []
    posts: list[str] = []

    def note(request) -> None:  # type: ignore[no-untyped-def]
        if request.method == "POST":
            posts.append(request.url)

    page.on("request", note)
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    try:
        button.click()
        page.wait_for_timeout(300)
    finally:
        page.remove_listener("request", note)
    assert posts == [], f"posted after the confirm was dismissed: {posts}"
    return asked
