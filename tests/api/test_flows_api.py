"""Flows over the API (issue 13, deliverable 9): an administrator builds, versions and
publishes a route; it is started on a deal of the demo CRM; the approver finds the task in
``/api/tasks`` and decides; others are refused; delegation and substitutes; a running v1
instance finishes on v1 after v2 is published; wrong JSON types are a 422 by property."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from api_helpers import Caller, assert_problem
from sqlalchemy import select

from trellis.access.tokens import issue_token
from trellis.accounts import User
from trellis.flows.notifications import notify


@pytest.fixture
def demo_user(runtime, client, demo_crm):  # type: ignore[no-untyped-def]
    """``demo_user(name)``: a user of the demo as a :class:`Caller` (a token issued directly:
    the demo's passwords are printed once)."""

    def caller(username: str) -> Caller:
        with runtime.transaction() as session:
            found = session.scalar(select(User).where(User.username == username))
            token, _row = issue_token(session, found)
        return Caller(client, {"Authorization": f"Bearer {token}"})

    return caller


def route(*approvers: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "check",
                "label": "Check",
                "approvers": {"users": list(approvers)},
                "mode": "any",
            }
        ],
        "on_approved": {"set": {"description": "checked"}},
    }


def new_deal(admin: Caller, name: str) -> int:
    deal = admin.ok(
        "POST",
        "/api/records/deal",
        {
            "name": name,
            "amount": {"amount": "500", "currency": "EUR"},
            "pipeline": "sales",
            "stage": "negotiation",
        },
        201,
    )
    return deal["id"]


def open_task(instance: dict[str, Any]) -> dict[str, Any]:
    (task,) = [t for t in instance["tasks"] if t["status"] == "open"]
    return task


def test_a_route_is_built_published_started_and_decided_over_the_api(  # type: ignore[no-untyped-def]
    admin, demo_user
) -> None:
    hanna, ivan, jonas = demo_user("hanna"), demo_user("ivan"), demo_user("jonas")
    flows = admin.ok("GET", "/api/meta/flows")["items"]
    demo = next(f for f in flows if f["key"] == "deal_approval")
    assert demo["trigger"] == {"on": "stage", "stage": "approval"} and demo["live_version"] == 1

    created = admin.ok(
        "POST",
        "/api/meta/flows",
        {"key": "check", "label": "Check", "entity": "deal", "trigger": {"on": "manual"}},
        201,
    )
    assert created["trigger"] == {"on": "manual"} and created["versions"] == []
    patched = admin.ok("PATCH", "/api/meta/flows/check", {"label": "Deal check"})
    assert patched["label"] == "Deal check"
    v1 = admin.ok("POST", "/api/meta/flows/check/versions", {"route": route("hanna")}, 201)
    assert v1["version"] == 1 and v1["published"] is False and len(v1["hash"]) == 64
    got = admin.ok("GET", "/api/meta/flows/check/versions/1")
    assert got["route"] == route("hanna") and got["instances"] == {"running": 0, "finished": 0}
    xml = admin.get("/api/meta/flows/check/versions/1/bpmn")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert "bpmn" in xml.get_data(as_text=True) and "Check" in xml.get_data(as_text=True)
    # not live before it is published
    deal = new_deal(admin, "Deal one")
    assert_problem(admin.post(f"/api/records/deal/{deal}/flows", {"flow": "check"}), 400)
    published = admin.ok("POST", "/api/meta/flows/check/versions/1/publish")
    assert published["published"] is True and published["live"] is True
    assert_problem(admin.post("/api/meta/flows/check/versions/1/publish"), 409)

    started = admin.ok("POST", f"/api/records/deal/{deal}/flows", {"flow": "check"}, 201)
    assert started["flow"] == "check" and started["version"] == 1
    assert started["status"] == "running" and started["record"]["id"] == deal
    assert open_task(started)["assignee"] == "hanna"
    listed = admin.ok("GET", f"/api/records/deal/{deal}/flows")["items"]
    assert [i["id"] for i in listed] == [started["id"]]

    # hanna is asked; ivan is not, and may not decide
    tasks = hanna.ok("GET", "/api/tasks")["items"]
    task = next(t for t in tasks if t["instance"] == started["id"])
    assert task["label"] == "Check" and task["assignee"] == "hanna"
    record = task["record"]
    assert (record["entity"], record["id"], record["title"]) == ("deal", deal, "Deal one")
    assert record["values"]["name"] == "Deal one" and record["through_task"] is False
    assert all(t["instance"] != started["id"] for t in ivan.ok("GET", "/api/tasks")["items"])
    refused = ivan.post(f"/api/tasks/{task['id']}/complete", {"decision": "approve"})
    assert_problem(refused, 403)
    assert_problem(ivan.post(f"/api/tasks/{task['id']}/delegate", {"to": "ivan"}), 403)

    # v2 goes live: the running v1 instance stays on v1, a new one starts on v2
    admin.ok("POST", "/api/meta/flows/check/versions", {"route": route("ivan")}, 201)
    admin.ok("POST", "/api/meta/flows/check/versions/2/publish")
    other = new_deal(admin, "Deal two")
    second = admin.ok("POST", f"/api/records/deal/{other}/flows", {"flow": "check"}, 201)
    assert second["version"] == 2 and open_task(second)["assignee"] == "ivan"
    assert admin.ok("GET", f"/api/flows/instances/{started['id']}")["version"] == 1

    # hanna passes her task on to jonas, who approves: the v1 instance ends on v1
    passed = hanna.ok("POST", f"/api/tasks/{task['id']}/delegate", {"to": "jonas"})
    assert open_task(passed)["assignee"] == "jonas"
    assert all(t["instance"] != started["id"] for t in hanna.ok("GET", "/api/tasks")["items"])
    mine = [t for t in jonas.ok("GET", "/api/tasks")["items"] if t["instance"] == started["id"]]
    done = jonas.ok(
        "POST", f"/api/tasks/{mine[0]['id']}/complete", {"decision": "approve", "comment": "ok"}
    )
    assert done["status"] == "completed" and done["version"] == 1
    assert [(d["by"], d["decision"], d["comment"]) for d in done["decisions"]] == [
        ("jonas", "approve", "ok")
    ]
    again = jonas.post(f"/api/tasks/{mine[0]['id']}/complete", {"decision": "reject"})
    assert_problem(again, 409)
    counts = admin.ok("GET", "/api/meta/flows/check/versions/1")["instances"]
    assert counts == {"running": 0, "finished": 1}
    assert admin.ok("GET", "/api/meta/flows/check/versions/2")["instances"]["running"] == 1

    # ivan names hanna his substitute: she sees and decides his v2 task, "hanna for ivan"
    today = date.today()
    body = {"to": "hanna", "from": today.isoformat(), "until": (today + timedelta(3)).isoformat()}
    named = ivan.ok("POST", "/api/me/substitutes", body, 201)
    assert named["user"] == "ivan" and named["to"] == "hanna" and named["from"] == body["from"]
    theirs = [t for t in hanna.ok("GET", "/api/tasks")["items"] if t["instance"] == second["id"]]
    assert theirs and theirs[0]["assignee"] == "ivan"
    decided = hanna.ok("POST", f"/api/tasks/{theirs[0]['id']}/complete", {"decision": "reject"})
    assert decided["version"] == 2 and decided["decisions"][0]["by"] == "hanna for ivan"


def test_flow_definitions_are_for_administrators(admin, demo_user) -> None:  # type: ignore[no-untyped-def]
    mila = demo_user("mila")
    assert_problem(mila.get("/api/meta/flows"), 403)
    assert_problem(mila.get("/api/meta/flows/deal_approval"), 403)
    assert_problem(mila.get("/api/meta/flows/deal_approval/versions/1/bpmn"), 403)
    body = {"key": "mine", "label": "Mine", "entity": "deal"}
    assert_problem(mila.post("/api/meta/flows", body), 403)
    assert_problem(admin.get("/api/meta/flows/nothing"), 404)
    assert_problem(admin.get("/api/meta/flows/deal_approval/versions/9"), 404)


def test_a_record_the_caller_cannot_read_is_a_404(admin, user, demo_crm) -> None:  # type: ignore[no-untyped-def]
    deal = new_deal(admin, "Hidden deal")
    nobody = user("nobody", [])
    assert_problem(nobody.post(f"/api/records/deal/{deal}/flows", {"flow": "deal_approval"}), 404)
    assert_problem(nobody.get(f"/api/records/deal/{deal}/flows"), 404)
    admin.ok("POST", "/api/meta/flows", {"key": "try", "label": "Try", "entity": "deal"}, 201)
    admin.ok("POST", "/api/meta/flows/try/versions", {"route": route("hanna")}, 201)
    admin.ok("POST", "/api/meta/flows/try/versions/1/publish")
    started = admin.ok("POST", f"/api/records/deal/{deal}/flows", {"flow": "try"}, 201)
    assert_problem(nobody.get(f"/api/flows/instances/{started['id']}"), 404)
    assert_problem(admin.get("/api/flows/instances/999999"), 404)


def test_starting_a_flow_without_the_right_to_edit_the_record_is_a_403(  # type: ignore[no-untyped-def]
    admin, user, demo_crm, runtime
) -> None:
    """A flow acts on its record: who only reads it may list its flows, not start one."""
    from trellis.access.grants import create_role, set_grant
    from trellis.accounts import SYSTEM

    with runtime.transaction() as session:
        create_role(session, SYSTEM, "viewer", "Viewer")
        set_grant(session, SYSTEM, runtime.model(session), "viewer", "deal", {"read": "all"})
    deal = new_deal(admin, "Looked at only")
    admin.ok("POST", "/api/meta/flows", {"key": "look", "label": "Look", "entity": "deal"}, 201)
    admin.ok("POST", "/api/meta/flows/look/versions", {"route": route("hanna")}, 201)
    admin.ok("POST", "/api/meta/flows/look/versions/1/publish")
    viewer = user("viewer", ["viewer"])
    assert viewer.ok("GET", f"/api/records/deal/{deal}")["name"] == "Looked at only"
    assert_problem(viewer.post(f"/api/records/deal/{deal}/flows", {"flow": "look"}), 403)
    assert viewer.ok("GET", f"/api/records/deal/{deal}/flows")["items"] == []
    started = admin.ok("POST", f"/api/records/deal/{deal}/flows", {"flow": "look"}, 201)
    assert started["status"] == "running"


def test_a_draft_is_changed_and_versions_are_listed(admin, demo_crm) -> None:  # type: ignore[no-untyped-def]
    admin.ok("POST", "/api/meta/flows", {"key": "check", "label": "Check", "entity": "deal"}, 201)
    v1 = admin.ok("POST", "/api/meta/flows/check/versions", {"route": route("hanna")}, 201)
    changed = admin.ok("PATCH", "/api/meta/flows/check/versions/1", {"route": route("ivan")})
    assert changed["version"] == 1 and changed["published"] is False
    assert changed["route"] == route("ivan") and changed["hash"] != v1["hash"]
    problem = admin.patch(
        "/api/meta/flows/check/versions/1", {"route": {"steps": [{"id": "a", "mode": "all"}]}}
    )
    assert_problem(problem, 422)
    assert admin.ok("GET", "/api/meta/flows/check/versions/1")["route"] == route("ivan")
    admin.ok("POST", "/api/meta/flows/check/versions/1/publish")
    # a published version never changes
    assert_problem(admin.patch("/api/meta/flows/check/versions/1", {"route": route("jonas")}), 409)
    admin.ok("POST", "/api/meta/flows/check/versions", {"route": route("jonas")}, 201)
    listed = admin.ok("GET", "/api/meta/flows/check/versions")["items"]
    assert [(v["version"], v["published"], v["live"]) for v in listed] == [
        (1, True, True),
        (2, False, False),
    ]
    assert listed[0]["route"] == route("ivan") and listed[1]["route"] == route("jonas")
    assert listed[0]["instances"] == {"running": 0, "finished": 0}
    assert listed[0]["published_at"].endswith("+00:00")
    assert_problem(admin.get("/api/meta/flows/nothing/versions"), 404)
    assert_problem(admin.patch("/api/meta/flows/check/versions/9", {"route": route("ivan")}), 404)
    assert_problem(
        admin.patch("/api/meta/flows/check/versions/2", {"colour": "red"}), 422, "colour"
    )


def test_flow_versions_are_for_administrators(admin, demo_user) -> None:  # type: ignore[no-untyped-def]
    mila = demo_user("mila")
    assert_problem(mila.get("/api/meta/flows/deal_approval/versions"), 403)
    patched = mila.patch("/api/meta/flows/deal_approval/versions/1", {"route": route("mila")})
    assert_problem(patched, 403)


def test_my_substitutes_are_listed_and_ended(admin, demo_user) -> None:  # type: ignore[no-untyped-def]
    hanna, ivan, jonas = demo_user("hanna"), demo_user("ivan"), demo_user("jonas")
    today = date.today()
    running = hanna.ok(
        "POST",
        "/api/me/substitutes",
        {"to": "ivan", "from": str(today - timedelta(days=2)), "until": str(today)},
        201,
    )
    later = hanna.ok(
        "POST",
        "/api/me/substitutes",
        {"to": "jonas", "from": str(today + timedelta(days=5)), "until": str(today + timedelta(9))},
        201,
    )
    mine = hanna.ok("GET", "/api/me/substitutes")["items"]
    assert [(s["id"], s["user"], s["to"]) for s in mine] == [
        (running["id"], "hanna", "ivan"),
        (later["id"], "hanna", "jonas"),
    ]
    # ivan sees whom he stands in for, but only hanna ends it; others do not even see it
    assert [s["id"] for s in ivan.ok("GET", "/api/me/substitutes")["items"]] == [running["id"]]
    assert_problem(ivan.delete(f"/api/me/substitutes/{running['id']}"), 403)
    assert_problem(jonas.delete(f"/api/me/substitutes/{running['id']}"), 404)
    assert_problem(hanna.delete("/api/me/substitutes/999999"), 404)
    # a running one ends yesterday (ivan no longer decides for her), one not begun goes
    assert hanna.delete(f"/api/me/substitutes/{running['id']}").status_code == 204
    assert hanna.delete(f"/api/me/substitutes/{later['id']}").status_code == 204
    assert hanna.ok("GET", "/api/me/substitutes")["items"] == []
    assert ivan.ok("GET", "/api/me/substitutes")["items"] == []


def test_an_administrator_reassigns_anyones_task(admin, demo_user) -> None:  # type: ignore[no-untyped-def]
    hanna, ivan, jonas = demo_user("hanna"), demo_user("ivan"), demo_user("jonas")
    admin.ok("POST", "/api/meta/flows", {"key": "check", "label": "Check", "entity": "deal"}, 201)
    admin.ok("POST", "/api/meta/flows/check/versions", {"route": route("hanna")}, 201)
    admin.ok("POST", "/api/meta/flows/check/versions/1/publish")
    deal = new_deal(admin, "Reassigned")
    started = admin.ok("POST", f"/api/records/deal/{deal}/flows", {"flow": "check"}, 201)
    task = open_task(started)["id"]
    assert_problem(jonas.post(f"/api/tasks/{task}/delegate", {"to": "jonas"}), 403)
    moved = admin.ok("POST", f"/api/tasks/{task}/delegate", {"to": "ivan"})
    assert open_task(moved)["assignee"] == "ivan"
    assert all(t["instance"] != started["id"] for t in hanna.ok("GET", "/api/tasks")["items"])
    assert_problem(hanna.post(f"/api/tasks/{task}/complete", {"decision": "approve"}), 403)
    done = ivan.ok("POST", f"/api/tasks/{task}/complete", {"decision": "approve"})
    assert done["status"] == "completed" and done["decisions"][0]["by"] == "ivan"
    assert_problem(admin.post(f"/api/tasks/{task}/delegate", {"to": "jonas"}), 409)
    assert_problem(admin.post("/api/tasks/999999/delegate", {"to": "jonas"}), 404)


def test_an_administrator_lists_another_users_tasks(admin, demo_user) -> None:  # type: ignore[no-untyped-def]
    hanna, jonas = demo_user("hanna"), demo_user("jonas")
    admin.ok("POST", "/api/meta/flows", {"key": "check", "label": "Check", "entity": "deal"}, 201)
    admin.ok("POST", "/api/meta/flows/check/versions", {"route": route("hanna")}, 201)
    admin.ok("POST", "/api/meta/flows/check/versions/1/publish")
    started = admin.ok(
        "POST", f"/api/records/deal/{new_deal(admin, 'Listed')}/flows", {"flow": "check"}, 201
    )
    task = open_task(started)["id"]
    # the administrator sees hanna's inbox as hanna does; their own does not have the task
    theirs = admin.ok("GET", "/api/tasks?assignee=hanna")["items"]
    assert [t["id"] for t in theirs] == [t["id"] for t in hanna.ok("GET", "/api/tasks")["items"]]
    listed = next(t for t in theirs if t["id"] == task)
    assert listed["assignee"] == "hanna" and listed["record"]["title"] == "Listed"
    assert all(t["id"] != task for t in admin.ok("GET", "/api/tasks")["items"])
    assert all(t["id"] != task for t in admin.ok("GET", "/api/tasks?assignee=jonas")["items"])
    # anyone else naming another user is refused; their own name is their own list
    assert_problem(jonas.get("/api/tasks?assignee=hanna"), 403)
    assert [t["id"] for t in hanna.ok("GET", "/api/tasks?assignee=hanna")["items"]] == [
        t["id"] for t in theirs
    ]
    assert_problem(admin.get("/api/tasks?assignee=nobody_here"), 404)
    assert_problem(admin.get("/api/tasks?assignee="), 400)
    parameters = admin.ok("GET", "/api/openapi.json")["paths"]["/api/tasks"]["get"]["parameters"]
    assert any(p["name"] == "assignee" and p["in"] == "query" for p in parameters)


WRONG_TYPES = [
    ("POST", "/api/meta/flows", {"key": 5, "label": [], "entity": "deal"}, ["key", "label"]),
    (
        "POST",
        "/api/meta/flows",
        {"key": "x", "label": "X", "entity": "deal", "trigger": "manual"},
        ["trigger"],
    ),
    (
        "POST",
        "/api/meta/flows",
        {"key": "x", "label": "X", "entity": "deal", "trigger": {"on": 1}},
        ["trigger.on"],
    ),
    ("PATCH", "/api/meta/flows/deal_approval", {"label": 5, "entity": "lead"}, ["label", "entity"]),
    ("POST", "/api/meta/flows/deal_approval/versions", {"route": "steps"}, ["route"]),
    ("POST", "/api/meta/flows/deal_approval/versions", {"bpmn": 5}, ["bpmn"]),
    ("POST", "/api/meta/flows/deal_approval/versions", {}, ["route"]),
    (
        "POST",
        "/api/meta/flows/deal_approval/versions",
        {"route": {"steps": [{"id": "a", "mode": 3}]}},
        ["route.steps[0].mode"],
    ),
    ("POST", "/api/tasks/1/complete", {"decision": True}, ["decision"]),
    ("POST", "/api/tasks/1/complete", {"decision": "maybe", "comment": 5}, ["decision", "comment"]),
    ("POST", "/api/tasks/1/delegate", {"to": ["ivan"]}, ["to"]),
    ("POST", "/api/me/substitutes", {"to": "ivan", "from": 5, "until": "soon"}, ["from", "until"]),
    ("POST", "/api/records/deal/1/flows", {"flow": {"key": "x"}}, ["flow"]),
    ("PATCH", "/api/meta/flows/deal_approval/versions/1", {"route": []}, ["route"]),
    ("PATCH", "/api/meta/flows/deal_approval/versions/1", {"bpmn": 1, "x": 2}, ["bpmn", "x"]),
]


@pytest.mark.parametrize(("method", "path", "body", "named"), WRONG_TYPES)
def test_wrong_json_types_are_a_422_by_property(admin, demo_crm, method, path, body, named) -> None:  # type: ignore[no-untyped-def]
    assert_problem(admin.open(method, path, body), 422, *named)


def test_notifications_unread_first_and_marked_read(runtime, demo_user) -> None:  # type: ignore[no-untyped-def]
    hanna = demo_user("hanna")
    with runtime.transaction() as session:
        user_id = session.scalar(select(User.id).where(User.username == "hanna"))
        first = notify(session, [user_id], "First")[0].id
        notify(session, [user_id], "Second", entity="deal", record_id=1)
    listed = hanna.ok("GET", "/api/notifications")
    assert listed["unread"] == 2
    assert hanna.post(f"/api/notifications/{first}/read").status_code == 204
    listed = hanna.ok("GET", "/api/notifications")
    assert listed["unread"] == 1
    assert [(n["message"], n["read"]) for n in listed["items"]][-1] == ("First", True)
    assert listed["items"][0]["record"] == {"entity": "deal", "id": 1}
    assert_problem(demo_user("ivan").post(f"/api/notifications/{first}/read"), 404)


def test_the_document_describes_the_flow_routes(admin, demo_crm) -> None:  # type: ignore[no-untyped-def]
    document = admin.ok("GET", "/api/openapi.json")
    paths, schemas = document["paths"], document["components"]["schemas"]
    bpmn = paths["/api/meta/flows/{key}/versions/{version}/bpmn"]["get"]["responses"]["200"]
    assert "application/xml" in bpmn["content"]
    assert "post" in paths["/api/records/deal/{id}/flows"]
    body = paths["/api/tasks/{id}/complete"]["post"]["requestBody"]["content"]
    name = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert schemas[name]["properties"]["decision"]["enum"] == ["approve", "reject"]
    assert schemas[name]["additionalProperties"] is False
