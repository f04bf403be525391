"""What the browser tests share besides fixtures: signing in through the login page."""

from __future__ import annotations


def sign_in(page, base: str, name: str = "eve", then: str = "/") -> None:  # type: ignore[no-untyped-def]
    """Sign in as ``name`` (password ``<name>-password``) and wait to land on ``then``."""
    page.goto(f"{base}/login" + (f"?next={then}" if then != "/" else ""))
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(f"{name}-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}{then}")
