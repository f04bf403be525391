"""Over the API an approver reads the record of their task as their roles show it (hidden
fields left out), also when their read scope does not cover it; publishing a route whose
approver may not read is a 422 naming the approver."""

from __future__ import annotations

from api_helpers import assert_problem

from trellis.access.grants import create_role, set_grant
from trellis.accounts import SYSTEM


def test_an_approver_reads_the_record_of_their_task_without_hidden_fields(
    admin, user, runtime, factory
) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text", "margin": "decimal"})
    with runtime.transaction() as session:
        create_role(session, SYSTEM, "clerk", "Clerk")
        create_role(session, SYSTEM, "outsider", "Outsider")
        grant = {"read": "own", "fields": {"margin": "hidden"}}
        set_grant(session, SYSTEM, runtime.model(session), "clerk", "deal", grant)
    clerk = user("clerk", ["clerk"])
    other = user("other", ["clerk"])
    user("out", ["outsider"])
    deal = admin.ok("POST", "/api/records/deal", {"name": "Big", "margin": "12.5"}, 201)["id"]
    admin.ok("POST", "/api/meta/flows", {"key": "ok", "label": "OK", "entity": "deal"}, 201)

    # an approver who may not read deals at all is refused at publishing
    step = {"id": "s", "label": "S", "approvers": {"users": ["out"]}}
    admin.ok("POST", "/api/meta/flows/ok/versions", {"route": {"steps": [step]}}, 201)
    refused = admin.post("/api/meta/flows/ok/versions/1/publish")
    problem = assert_problem(refused, 422, "route.steps[0].approvers.users[0]")
    assert "out may not read Deal records" in str(problem["errors"])

    step["approvers"] = {"users": ["clerk"]}
    admin.ok("POST", "/api/meta/flows/ok/versions", {"route": {"steps": [step]}}, 201)
    admin.ok("POST", "/api/meta/flows/ok/versions/2/publish")
    instance = admin.ok("POST", f"/api/records/deal/{deal}/flows", {"flow": "ok"}, 201)

    assert clerk.get(f"/api/records/deal/{deal}").status_code == 404  # not their own deal
    (task,) = clerk.ok("GET", "/api/tasks")["items"]
    record = task["record"]
    assert (record["id"], record["title"], record["through_task"]) == (deal, "Big", True)
    assert record["values"]["name"] == "Big" and "margin" not in record["values"]
    read = clerk.ok("GET", f"/api/flows/instances/{instance['id']}")
    assert read["record"]["values"]["name"] == "Big" and "margin" not in read["record"]["values"]
    # another clerk, with no task on it, reads nothing
    assert other.get(f"/api/flows/instances/{instance['id']}").status_code == 404
    # the administrator sees every field
    full = admin.ok("GET", f"/api/flows/instances/{instance['id']}")["record"]
    assert full["values"]["margin"] == "12.50" and full["through_task"] is False
