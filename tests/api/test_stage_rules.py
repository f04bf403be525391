"""Stages under control (issue 13, item 6): per pipeline, where a record may move from each
stage, who may move records into a stage, and stages only a flow's outcome enters. Set up
through the metamodel API; the same rule refuses a move on every path: the record service,
the API (move and PATCH), the app's card and kanban, CSV import, conversion and create."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

import pytest
from api_helpers import assert_problem
from signed_in import Browser

from trellis.accounts import SYSTEM, Actor
from trellis.errors import ValidationFailed

NOT_FROM_DRAFT = "From 'Draft' a record moves only to 'Submitted', not to 'Approved'."
ONLY_MANAGERS = "Only Managers may move records to 'Rejected'."
ONLY_FLOWS = "Only a flow moves records to 'Approved'."
NOT_REACHED = (
    "A new record cannot start in 'Archived': it is not reached from 'Draft', "
    "where new records start."
)

STAGES = [
    {"key": "draft", "label": "Draft", "next_stages": ["submitted"]},
    {"key": "submitted", "label": "Submitted", "next_stages": ["draft", "approved", "rejected"]},
    {
        "key": "approved",
        "label": "Approved",
        "kind": "success",
        "next_stages": [],
        "flow_only": True,
    },
    {
        "key": "rejected",
        "label": "Rejected",
        "kind": "failure",
        "next_stages": ["draft"],
        "enter_roles": ["manager"],
    },
    {"key": "archived", "label": "Archived", "kind": "failure", "next_stages": []},
]


@pytest.fixture
def leave(factory, admin, user, app):  # type: ignore[no-untyped-def]
    """Vacation requests: an employee (``ann``) creates and changes her own, a manager
    (``max``) all of them; the pipeline's rules are set through the metamodel API."""
    factory.entity(
        "vacation",
        {"reason": "text", "code": ("text", {"unique": True})},
        title="{reason}",
        pipelines={"requests": ["draft", "submitted"]},
    )
    factory.entity(
        "note",
        {"subject": "text"},
        title="{subject}",
        pipelines={"notes": ["open", "done:success"]},
    )
    for key, label in (("employee", "Employees"), ("manager", "Managers")):
        admin.ok("POST", "/api/meta/roles", {"key": key, "label": label}, 201)
    own = {"create": True, "read": "own", "update": "own", "delete": "none"}
    admin.ok("PUT", "/api/meta/roles/employee/permissions/vacation", own)
    admin.ok("PUT", "/api/meta/roles/employee/permissions/note", own)
    every = {"create": True, "read": "all", "update": "all", "delete": "none"}
    admin.ok("PUT", "/api/meta/roles/manager/permissions/vacation", every)
    changed = admin.ok(
        "PATCH", "/api/meta/entities/vacation/pipelines/requests", {"stages": STAGES}
    )
    stages = {s["key"]: s for s in changed["stages"]}
    assert stages["draft"]["next_stages"] == ["submitted"]
    assert stages["rejected"]["enter_roles"] == ["manager"]
    assert stages["approved"]["flow_only"] and not stages["draft"]["flow_only"]
    assert stages["archived"]["next_stages"] == []
    shown = admin.ok("GET", "/api/meta/entities/vacation/pipelines/requests")
    assert shown["stages"] == changed["stages"]
    return {"admin": admin, "ann": user("ann", ["employee"]), "max": user("max", ["manager"])}


def actor(runtime, username: str) -> Actor:  # type: ignore[no-untyped-def]
    from trellis.accounts import get_user

    with runtime.transaction() as session:
        return Actor.of(get_user(session, username))


def refused(call: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as caught:
        call()
    return caught.value.errors


def test_a_move_the_pipeline_does_not_allow_is_refused_on_every_path(
    leave, factory, runtime, app
) -> None:  # type: ignore[no-untyped-def]
    ann = leave["ann"]
    request = ann.ok("POST", "/api/records/vacation", {"reason": "Sea", "code": "V1"}, 201)
    url = f"/api/records/vacation/{request['id']}"
    assert request["stage"] == "draft"
    ann_actor = actor(runtime, "ann")

    # the record service
    errors = refused(
        lambda: factory.records(
            "move_stage", "vacation", request["id"], "approved", actor=ann_actor
        )
    )
    assert errors == {"stage": [NOT_FROM_DRAFT]}
    # the API: a move, and a stage in a PATCH body
    body = assert_problem(ann.post(f"{url}/stage", {"stage": "approved"}), 422, "stage")
    assert body["errors"]["stage"] == [NOT_FROM_DRAFT]
    body = assert_problem(
        ann.patch(url, {"stage": "approved", "reason": "Beach", "version": 1}), 422, "stage"
    )
    assert body["errors"]["stage"] == [NOT_FROM_DRAFT]
    # the app: the card's stage bar (a plain form post), and the kanban (a fetch)
    web = Browser(app.test_client(), "ann")
    card = unescape(web.client.get(f"/records/vacation/{request['id']}").get_data(as_text=True))
    approved = re.search(r'<button[^>]*data-stage="approved"[^>]*>', card, re.S)
    assert approved and " disabled" in approved.group(0) and NOT_FROM_DRAFT in card
    submitted = re.search(r'<button[^>]*data-stage="submitted"[^>]*>', card, re.S)
    assert submitted and " disabled" not in submitted.group(0)
    moved = web.post(f"/records/vacation/{request['id']}/stage", {"stage": "approved"})
    assert moved.status_code == 302
    shown = unescape(web.client.get(moved.headers["Location"]).get_data(as_text=True))
    assert NOT_FROM_DRAFT in shown
    board = web.client.get("/records/vacation/kanban").get_data(as_text=True)
    assert 'data-stage="draft" data-moves-to="submitted"' in board
    assert re.search(r'<option value="approved" disabled>Approved</option>', board)
    dropped = web.post(
        f"/records/vacation/{request['id']}/stage",
        {"stage": "approved", "pipeline": "requests"},
        headers={"X-Requested-With": "fetch"},
    )
    assert dropped.status_code == 422 and dropped.json["errors"] == {"stage": [NOT_FROM_DRAFT]}
    # CSV import: a row that would move the record (matched by its code) and a new row
    imported = ann.raw(
        "POST", "/api/records/vacation/import?match=code", "code,stage\nV1,Approved\n", "text/csv"
    )
    assert imported.status_code == 422 and NOT_FROM_DRAFT in json.dumps(imported.json)
    # conversion: the source is moved to its success stage on the way
    factory.meta(
        "update_pipeline",
        "note",
        "notes",
        stages=[
            {"key": "open", "label": "Open", "next_stages": []},
            {"key": "done", "label": "Done", "kind": "success"},
        ],
    )
    leave["admin"].ok(
        "POST",
        "/api/meta/conversions",
        {
            "key": "to_note",
            "label": "Note it",
            "source": "vacation",
            "targets": {"note": {"fields": {"subject": "reason"}}},
        },
        201,
    )
    converted = ann.post(f"{url}/convert", {"targets": {"note": {}}})
    assert converted.status_code == 422
    assert converted.json["errors"]["vacation"]["stage"] == [NOT_FROM_DRAFT]
    # ... and a target created straight into a stage it would not reach is refused too
    converted = ann.post(f"{url}/convert", {"targets": {"note": {"stage": "done"}}})
    assert converted.json["errors"]["note"]["stage"] == [
        "A new record cannot start in 'Done': it is not reached from 'Open', "
        "where new records start."
    ]
    # nothing moved anywhere
    assert ann.ok("GET", url)["stage"] == "draft"
    assert ann.ok("GET", url)["version"] == 1
    assert ann.ok("GET", "/api/records/note")["total"] == 0


def test_create_only_into_a_stage_the_creator_could_reach(leave) -> None:  # type: ignore[no-untyped-def]
    ann, admin = leave["ann"], leave["admin"]
    create = "/api/records/vacation"
    body = assert_problem(ann.post(create, {"reason": "x", "stage": "approved"}), 422, "stage")
    assert body["errors"]["stage"] == [ONLY_FLOWS]
    body = assert_problem(ann.post(create, {"reason": "x", "stage": "rejected"}), 422, "stage")
    assert body["errors"]["stage"] == [ONLY_MANAGERS]
    for caller in (ann, admin):
        body = assert_problem(caller.post(create, {"reason": "x", "stage": "archived"}), 422)
        assert body["errors"]["stage"] == [NOT_REACHED]
    imported = ann.raw("POST", f"{create}/import", "reason,stage\nLate,Archived\n", "text/csv")
    assert imported.status_code == 422 and NOT_REACHED in json.dumps(imported.json)
    # reachable (Draft, then Submitted) is fine, for an import too
    assert (
        ann.ok("POST", create, {"reason": "y", "stage": "submitted"}, 201)["stage"] == "submitted"
    )
    imported = ann.raw("POST", f"{create}/import", "reason,stage\nLater,Submitted\n", "text/csv")
    assert imported.status_code == 201, imported.json
    assert ann.ok("GET", f"{create}?stage=submitted")["total"] == 2


def test_allowed_moves_pass_and_role_restricted_stages_need_the_role(leave) -> None:  # type: ignore[no-untyped-def]
    ann, boss, manager = leave["ann"], leave["admin"], leave["max"]
    request = ann.ok("POST", "/api/records/vacation", {"reason": "Hills"}, 201)
    url = f"/api/records/vacation/{request['id']}"
    moved = ann.ok("POST", f"{url}/stage", {"stage": "submitted"})
    assert moved["stage"] == "submitted"
    body = assert_problem(ann.post(f"{url}/stage", {"stage": "rejected"}), 422, "stage")
    assert body["errors"]["stage"] == [ONLY_MANAGERS]
    # back to Draft is allowed to her, through a PATCH with the stage in the body
    back = ann.ok("PATCH", url, {"stage": "draft", "reason": "Hills, later", "version": 2})
    assert (back["stage"], back["reason"]) == ("draft", "Hills, later")
    ann.ok("POST", f"{url}/stage", {"stage": "submitted"})
    assert manager.ok("POST", f"{url}/stage", {"stage": "rejected"})["stage"] == "rejected"
    # an administrator may enter a role-restricted stage too
    other = ann.ok("POST", "/api/records/vacation", {"reason": "Lake", "stage": "submitted"}, 201)
    rejected = boss.ok("POST", f"/api/records/vacation/{other['id']}/stage", {"stage": "rejected"})
    assert rejected["stage"] == "rejected"


def test_a_stage_reserved_to_flows_is_entered_only_through_the_flows_seam(
    leave, factory, runtime
) -> None:  # type: ignore[no-untyped-def]
    ann = leave["ann"]
    request = ann.ok("POST", "/api/records/vacation", {"reason": "Alps", "stage": "submitted"}, 201)
    url = f"/api/records/vacation/{request['id']}"
    for caller in (leave["ann"], leave["max"], leave["admin"]):
        body = assert_problem(caller.post(f"{url}/stage", {"stage": "approved"}), 422, "stage")
        assert body["errors"]["stage"] == [ONLY_FLOWS]
    for who in (SYSTEM, actor(runtime, "max")):
        errors = refused(
            lambda who=who: factory.records(
                "move_stage", "vacation", request["id"], "approved", actor=who
            )
        )
        assert errors == {"stage": [ONLY_FLOWS]}
    # a flow's outcome (here acting for the employee's manager) moves it
    moved = factory.records(
        "move_stage",
        "vacation",
        request["id"],
        "approved",
        actor=actor(runtime, "max"),
        by_flow="vacation_approval",
    )
    assert moved.stage == "approved"
    # the transitions still hold for flows: Approved is final
    errors = refused(
        lambda: factory.records(
            "move_stage", "vacation", request["id"], "draft", by_flow="vacation_approval"
        )
    )
    assert errors == {"stage": ["A record in 'Approved' stays there: it cannot move to 'Draft'."]}


def test_without_rules_every_move_is_allowed_as_before(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("task", {"name": "text"}, pipelines={"work": ["todo", "doing", "done:success"]})
    record = factory.record("task", name="one")
    for stage in ("done", "todo", "doing", "done"):
        assert factory.records("move_stage", "task", record.id, stage).stage == stage
    assert factory.records("create", "task", {"name": "two"}, stage="done").stage == "done"
