"""The inbox in the app: "My tasks" with its count in the menu, approve / reject with a
comment, who may decide, substitutes ("X for Y"), and the flows on the record card."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from deal_approval import publish_deal_approval
from sqlalchemy import select

from trellis.access.grants import create_role, set_grant
from trellis.accounts import SYSTEM, User
from trellis.clock import utcnow
from trellis.flows.models import FlowTask

ROUTE = {
    "steps": [
        {"id": "check", "label": "Check the terms", "approvers": {"users": ["ann"]}, "mode": "any"},
        {"id": "sign", "label": "Sign off", "approvers": {"users": ["bob"]}, "mode": "any"},
    ],
    "on_approved": {"stage": "won"},
    "on_rejected": {"stage": "lost"},
}


@pytest.fixture
def deal(demo, people, runtime) -> int:  # type: ignore[no-untyped-def]
    """The demo's deal in negotiation, with a published manual route flow on deals (its
    approvers must exist first)."""
    return publish_deal_approval(runtime, ROUTE)


@pytest.fixture
def people(demo, runtime, user_with):  # type: ignore[no-untyped-def]
    """Sales people who read and edit every deal, without its probability."""
    with runtime.transaction() as session:
        create_role(session, SYSTEM, "sales", "Sales")
        grant = {"read": "all", "update": "all", "fields": {"probability": "hidden"}}
        set_grant(session, SYSTEM, runtime.model(session), "sales", "deal", grant)
    return {name: user_with(name, ["sales"]) for name in ("ann", "bob", "eve", "sub")}


def start(browser, deal: int):  # type: ignore[no-untyped-def]
    return browser.post(f"/records/deal/{deal}/flows", data={"flow": "deal_ok"})


def open_task(runtime, username: str) -> int:  # type: ignore[no-untyped-def]
    """The open task assigned to ``username``."""
    with runtime.transaction() as session:
        return session.scalars(
            select(FlowTask.id)
            .join(User, User.id == FlowTask.assignee_user_id)
            .where(FlowTask.status == "open", User.username == username)
        ).one()


def task_count(page: str) -> int:
    found = re.search(r'id="task-count">(\d+)<', page)
    return int(found.group(1)) if found else 0


def test_approve_from_the_inbox_shows_on_the_card(deal, people, runtime) -> None:  # type: ignore[no-untyped-def]
    ann, bob = people["ann"], people["bob"]
    card = ann.get(f"/records/deal/{deal}").get_data(as_text=True)
    assert 'data-start="deal_ok"' in card and "Start Deal approval" in card
    assert task_count(card) == 0
    response = start(ann, deal)
    assert response.status_code == 302
    page = ann.get("/tasks").get_data(as_text=True)
    assert task_count(page) == 1
    assert "Check the terms" in page and "Deal approval" in page
    assert f'href="/records/deal/{deal}" data-record>Acme annual supply<' in page
    assert task_count(bob.get("/tasks").get_data(as_text=True)) == 0
    card = ann.get(f"/records/deal/{deal}").get_data(as_text=True)
    assert "Waiting: Check the terms · asked: ann" in card
    assert 'data-field="amount"' in card and 'data-field="probability"' not in card

    task = open_task(runtime, "ann")
    response = ann.post(
        f"/tasks/{task}/decide", data={"decision": "approve", "comment": "Terms are fine"}
    )
    assert response.status_code == 302
    assert "Approved." in ann.get("/tasks").get_data(as_text=True)
    card = ann.get(f"/records/deal/{deal}").get_data(as_text=True)
    assert "<b>ann</b>: approved" in card
    assert "<span data-comment>Terms are fine</span>" in card
    assert "Waiting: Sign off · asked: bob" in card
    # the next step is bob's: his menu counts it, and he approves; the deal is won
    assert task_count(bob.get("/").get_data(as_text=True)) == 1
    bob.post(f"/tasks/{open_task(runtime, 'bob')}/decide", data={"decision": "approve"})
    card = bob.get(f"/records/deal/{deal}").get_data(as_text=True)
    assert "completed: approved" in card and "<b>bob</b>: approved" in card
    with runtime.transaction() as session:
        assert runtime.records(session).get("deal", deal).stage == "won"


def test_reject_ends_the_flow(deal, people, runtime) -> None:  # type: ignore[no-untyped-def]
    ann = people["ann"]
    start(ann, deal)
    ann.post(
        f"/tasks/{open_task(runtime, 'ann')}/decide",
        data={"decision": "reject", "comment": "Too cheap"},
    )
    card = ann.get(f"/records/deal/{deal}").get_data(as_text=True)
    assert "completed: rejected" in card and "Too cheap" in card
    with runtime.transaction() as session:
        assert runtime.records(session).get("deal", deal).stage == "lost"
    assert task_count(ann.get("/tasks").get_data(as_text=True)) == 0


def test_only_an_assignee_decides(deal, people, runtime) -> None:  # type: ignore[no-untyped-def]
    ann, eve = people["ann"], people["eve"]
    start(ann, deal)
    task = open_task(runtime, "ann")
    response = eve.post(f"/tasks/{task}/decide", data={"decision": "approve"})
    assert response.status_code == 302
    page = eve.get("/tasks").get_data(as_text=True)
    assert "You may not decide this task" in page
    # no decision was taken, and eve sees no delegate control for it either
    card = ann.get(f"/records/deal/{deal}").get_data(as_text=True)
    assert "data-decision" not in card and "Waiting: Check the terms" in card
    eve.post(f"/tasks/{task}/delegate", data={"to": "eve"})
    assert "You may not pass this task on." in eve.get("/tasks").get_data(as_text=True)
    # a decided task is a conflict, not a second decision
    ann.post(f"/tasks/{task}/decide", data={"decision": "approve"})
    ann.post(f"/tasks/{task}/decide", data={"decision": "reject"})
    assert "Someone else acted on this task meanwhile" in ann.get("/tasks").get_data(as_text=True)


def test_a_substitute_decides_for_the_assignee(deal, people, runtime) -> None:  # type: ignore[no-untyped-def]
    ann, sub = people["ann"], people["sub"]
    start(ann, deal)
    assert task_count(sub.get("/tasks").get_data(as_text=True)) == 0
    today = date.today()
    response = ann.post(
        "/substitutes",
        data={
            "to": "sub",
            "from": (today - timedelta(days=1)).isoformat(),
            "until": (today + timedelta(days=3)).isoformat(),
        },
    )
    assert response.status_code == 302
    assert "decides your tasks" in ann.get("/substitutes").get_data(as_text=True)
    page = sub.get("/tasks").get_data(as_text=True)
    assert task_count(page) == 1 and "for ann" in page
    assert "Delegate to" not in page  # a substitute decides, but does not pass on
    sub.post(f"/tasks/{open_task(runtime, 'ann')}/decide", data={"decision": "approve"})
    card = sub.get(f"/records/deal/{deal}").get_data(as_text=True)
    assert "<b>sub for ann</b>: approved" in card
    # ann ends the substitution: sub no longer decides her tasks
    substitute = re.search(
        r'data-substitute="(\d+)"', ann.get("/substitutes").get_data(as_text=True)
    )
    ann.post(f"/substitutes/{substitute.group(1)}/end")
    assert "No substitutes." in ann.get("/substitutes").get_data(as_text=True)


def test_delegate_passes_the_task_on(deal, people, runtime) -> None:  # type: ignore[no-untyped-def]
    ann, eve = people["ann"], people["eve"]
    start(ann, deal)
    assert "Delegate to" in ann.get("/tasks").get_data(as_text=True)
    ann.post(f"/tasks/{open_task(runtime, 'ann')}/delegate", data={"to": "eve"})
    assert task_count(ann.get("/tasks").get_data(as_text=True)) == 0
    assert task_count(eve.get("/tasks").get_data(as_text=True)) == 1


def test_a_decision_without_csrf_is_refused(deal, people, runtime) -> None:  # type: ignore[no-untyped-def]
    ann = people["ann"]
    start(ann, deal)
    task = open_task(runtime, "ann")
    response = ann.client.post(f"/tasks/{task}/decide", data={"decision": "approve"})
    assert response.status_code == 400
    card = ann.get(f"/records/deal/{deal}").get_data(as_text=True)
    assert "data-decision" not in card


def test_a_task_is_not_passed_to_someone_who_may_not_read(deal, people, user_with, runtime) -> None:  # type: ignore[no-untyped-def]
    """An approver must see what they decide on: a user whose roles do not read deals is
    refused as a delegate, with the reason, and the task stays where it was."""
    user_with("nobody", ["user"])
    ann = people["ann"]
    start(ann, deal)
    task = open_task(runtime, "ann")
    answer = ann.post(f"/tasks/{task}/delegate", data={"to": "nobody"}, follow_redirects=True)
    assert "nobody may not read Deal records" in answer.get_data(as_text=True)
    assert open_task(runtime, "ann") == task


def test_an_approver_sees_the_record_within_the_fields_their_role_shows(
    deal, people, user_with, runtime
) -> None:  # type: ignore[no-untyped-def]
    """A clerk reads only their own deals and not the probability: the task they decide
    shows the deal through the task, without the probability and without a link to a card
    they may not open."""
    with runtime.transaction() as session:
        create_role(session, SYSTEM, "clerk", "Clerk")
        grant = {"read": "own", "fields": {"probability": "hidden"}}
        set_grant(session, SYSTEM, runtime.model(session), "clerk", "deal", grant)
    clerk = user_with("clerk", ["clerk"])
    ann = people["ann"]
    start(ann, deal)
    ann.post(f"/tasks/{open_task(runtime, 'ann')}/delegate", data={"to": "clerk"})
    page = clerk.get("/tasks").get_data(as_text=True)
    assert "Acme annual supply" in page and "data-through-task" in page
    assert f'href="/records/deal/{deal}"' not in page
    assert 'data-field="amount"' in page and 'data-field="probability"' not in page
    assert clerk.get(f"/records/deal/{deal}").status_code == 404  # the card stays closed
    # ann (sales: every deal, probability hidden) sees the fields too, with the card's link
    start(ann, deal)
    page = ann.get("/tasks").get_data(as_text=True)
    assert f'href="/records/deal/{deal}" data-record>' in page
    assert 'data-field="amount"' in page and 'data-field="probability"' not in page


def test_an_overdue_task_is_marked(deal, people, runtime) -> None:  # type: ignore[no-untyped-def]
    ann = people["ann"]
    start(ann, deal)
    task = open_task(runtime, "ann")
    assert "data-overdue" not in ann.get("/tasks").get_data(as_text=True)
    with runtime.transaction() as session:
        session.get(FlowTask, task).due_at = utcnow() - timedelta(hours=1)
    page = ann.get("/tasks").get_data(as_text=True)
    assert "data-overdue" in page and "Overdue: due" in page


def test_a_reader_who_may_not_edit_sees_no_start_button(deal, people, user_with, runtime) -> None:  # type: ignore[no-untyped-def]
    """Starting a flow acts on the record: a user who only reads it gets no "Start" on the
    card, and a hand-made start is refused with nothing started."""
    with runtime.transaction() as session:
        create_role(session, SYSTEM, "viewer", "Viewer")
        set_grant(session, SYSTEM, runtime.model(session), "viewer", "deal", {"read": "all"})
    viewer = user_with("viewer", ["viewer"])
    card = viewer.get(f"/records/deal/{deal}").get_data(as_text=True)
    assert "Acme annual supply" in card
    assert "data-start=" not in card and "Start Deal approval" not in card
    assert start(viewer, deal).status_code == 302
    card = viewer.get(f"/records/deal/{deal}").get_data(as_text=True)
    assert "The flow did not start" in card and "only who may edit it starts one" in card
    with runtime.transaction() as session:
        assert runtime.flows(session).instances_of("deal", deal) == []
    # who may edit the deal still sees the button
    assert 'data-start="deal_ok"' in people["ann"].get(f"/records/deal/{deal}").get_data(
        as_text=True
    )


def test_a_flows_stage_move_is_the_flows_in_the_history(deal, people, runtime) -> None:  # type: ignore[no-untyped-def]
    """The outcome's stage move is recorded as the flow's, not as "system" or "Trellis"."""
    ann, bob = people["ann"], people["bob"]
    start(ann, deal)
    ann.post(f"/tasks/{open_task(runtime, 'ann')}/decide", data={"decision": "approve"})
    bob.post(f"/tasks/{open_task(runtime, 'bob')}/decide", data={"decision": "approve"})
    card = ann.get(f"/records/deal/{deal}").get_data(as_text=True)
    assert "moved in by flow Deal approval" in card
    assert re.search(r"<b>Moved</b> <span[^>]*>by flow Deal approval ·", card)
    with runtime.transaction() as session:
        records = runtime.records(session)
        moves = [h for h in records.history("deal", deal) if h["action"] == "stage"]
        assert moves and {(h["by"], h["via"]) for h in moves} == {(None, "flow:deal_ok")}
        visit = records.stage_history("deal", deal)[-1]
        assert (visit.stage, visit.entered_by, visit.entered_via) == ("won", None, "flow:deal_ok")
        # a person's own change names no flow
        earlier = [h for h in records.history("deal", deal) if h["action"] == "create"]
        assert {h["via"] for h in earlier} == {None}
