"""In-app notifications (issue 13, deliverable 7): the unread count in the app's menu, the
page listing them, opening one (read, to its record) and marking all read."""

from __future__ import annotations

import re

from automation_world import SignedIn, add_automation

from trellis.accounts import get_user
from trellis.flows.notifications import unread_count


def unread_in_menu(page: str) -> int:
    found = re.search(r'id="unread-count">(\d+)<', page)
    return int(found.group(1)) if found else 0


def test_unread_count_in_the_menu_and_reading_them(client, crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    add_automation(
        runtime,
        "tell_alice",
        trigger={"on": "create"},
        actions=[{"type": "notify", "message": "New lead {title}", "users": ["alice"]}],
    )
    alice = SignedIn(client, "alice", "correct-horse-battery")
    assert unread_in_menu(alice.get("/").get_data(as_text=True)) == 0
    first = factory.record("lead", name="Ann")
    factory.record("lead", name="Bo")
    assert unread_in_menu(alice.get("/").get_data(as_text=True)) == 2
    page = alice.get("/notifications").get_data(as_text=True)
    assert page.index("New lead Bo") < page.index("New lead Ann")  # newest first
    assert page.count('data-unread="yes"') == 2
    ids = re.findall(r'data-notification="(\d+)"', page)
    answer = alice.post(f"/notifications/{ids[1]}/open")  # Ann's
    assert answer.status_code == 302 and answer.location.endswith(f"/records/lead/{first.id}")
    assert unread_in_menu(alice.get("/notifications").get_data(as_text=True)) == 1
    alice.post("/notifications/read")
    page = alice.get("/notifications").get_data(as_text=True)
    assert unread_in_menu(page) == 0 and page.count('data-unread="no"') == 2
    with runtime.transaction() as session:
        assert unread_count(session, get_user(session, "alice").id) == 0


def test_a_user_cannot_read_someone_elses_notification(client, crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    add_automation(
        runtime,
        "tell_bob",
        trigger={"on": "create"},
        actions=[{"type": "notify", "message": "For Bob", "users": ["bob"]}],
    )
    factory.record("lead", name="Ann")
    alice = SignedIn(client, "alice", "correct-horse-battery")
    assert "For Bob" not in alice.get("/notifications").get_data(as_text=True)
    alice.post("/notifications/1/open")
    with runtime.transaction() as session:
        assert unread_count(session, get_user(session, "bob").id) == 1
