"""Flows in the admin UI (issue 13, deliverables 2 and 3): an administrator creates a flow,
builds a two-step approval route in the form (read from the page and posted back as a
browser would, CSRF on), sees a bad row's problem beside its input with nothing saved,
saves the draft, publishes it, and reads the version page (counts) and its BPMN export."""

from __future__ import annotations

import hashlib
from xml.etree import ElementTree

import pytest
from admin_pages import FormValues, errors_on, post_form
from sqlalchemy import select

from trellis.access.grants import create_role, set_grant
from trellis.accounts import SYSTEM, Actor, User, create_user
from trellis.flows.models import Flow, FlowVersion

APPROVERS = {"ann": ["user", "manager"], "bob": ["user"], "cy": ["user"], "dee": ["user"]}
APPROVERS["boss"] = ["user"]


class RouteForm(FormValues):
    """The route form's values, with what its "Add another step" button does."""

    def add_row(self, number: int) -> None:
        """A copy of the last (empty) row, numbered on."""
        last = [(n, v) for n, v in self.values if n.startswith(f"s{number - 1}_")]
        for name, _ in last:
            self.values.append((f"s{number}_" + name.split("_", 1)[1], ""))
        self.set(f"s{number}_mode", "all")


def read_form(page: str, form_id: str = "route-form") -> RouteForm:
    form = RouteForm(form_id)
    form.feed(page)
    assert form.values, f"no form {form_id} on the page"
    return form


@pytest.fixture
def people(runtime, factory) -> dict[str, Actor]:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text", "amount": "decimal", "manager": "user"})
    stages = [
        {"key": "new", "label": "New", "kind": "open"},
        {"key": "review", "label": "Review", "kind": "open"},
        {"key": "won", "label": "Won", "kind": "success"},
        {"key": "lost", "label": "Lost", "kind": "failure"},
    ]
    factory.meta("create_pipeline", "deal", "sales", "Sales", stages)
    found = {}
    with runtime.transaction() as session:
        create_role(session, SYSTEM, "manager", "Manager")
        # approvers must read what they decide on (publishing a route checks it)
        set_grant(session, SYSTEM, runtime.model(session), "user", "deal", {"read": "all"})
        for name, roles in APPROVERS.items():
            found[name] = Actor.of(create_user(session, name, f"{name}-password-long", roles))
    return found


def decide(runtime, people, instance_id: int, username: str, assignee: str = "") -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        flows = runtime.flows(session, people[username])
        task = next(
            t["id"]
            for t in flows.describe(instance_id)["tasks"]
            if t["status"] == "open" and t["assignee"] == (assignee or username)
        )
        flows.complete(task, "approve")


def start(runtime, key: str, record_id: int) -> int:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return runtime.flows(session).start(key, "deal", record_id).id


BOARD = {
    "id": "board",
    "label": "Board",
    "approvers": {"users": ["bob", "cy", "dee"]},
    "mode": "quorum",
    "quorum": 2,
    "when": "amount > 10000",
    "deadline": "P2D",
    "escalate_to": {"user": "boss"},
}


def test_an_administrator_builds_saves_and_publishes_an_approval_route(
    admin, people, runtime, factory, page_errors
) -> None:  # type: ignore[no-untyped-def]
    # a flow: started when a deal enters Review and is worth something
    answer = admin.post(
        "/admin/flows/",
        key="deal_ok",
        label="Deal approval",
        entity="deal",
        on="stage",
        stage="review",
        field="",
        when="amount > 0",
    )
    assert answer.status_code == 302, page_errors(answer)
    with runtime.transaction() as session:
        flow = session.scalars(select(Flow)).one()
        assert (flow.entity, flow.trigger, flow.trigger_stage, flow.when) == (
            "deal",
            "stage",
            "review",
            "amount > 0",
        )
    # a bad trigger is named beside its input
    bad = admin.post("/admin/flows/deal_ok", label="Deal approval", on="field", field="nope")
    assert bad.status_code == 422 and "field" in page_errors(bad)

    # the route form: an empty step row and the outcomes
    page = admin.get("/admin/flows/deal_ok/new")
    assert page.status_code == 200
    form = read_form(page.get_data(as_text=True))
    assert {"s0_id", "s0_kind", "s0_mode", "approved_stage", "approved_set"} <= form.names()
    form.set("s0_id", "manager")
    form.set("s0_label", "Sales manager")
    form.set("s0_kind", "role")
    form.set("s0_role", "manager")
    form.set("s0_mode", "any")
    form.add_row(1)
    form.set("s1_id", "board")
    form.set("s1_label", "Board")
    form.set("s1_kind", "users")
    form.set("s1_users", "bob", "cy", "dee")
    form.set("s1_mode", "quorum")
    form.set("s1_quorum", "4")  # more than the three approvers
    form.set("s1_when", "amount > 10000")
    form.set("s1_deadline", "P2D")
    form.set("s1_escalate_to", "user:boss")
    form.set("approved_stage", "won")
    form.set("approved_set", 'name = "approved deal"')
    form.set("rejected_stage", "lost")
    url = "/admin/flows/deal_ok/new"
    refused = post_form(admin, url, form)
    assert refused.status_code == 422
    errors = page_errors(refused)
    assert errors["s1_quorum"] == ["The quorum 4 is more than the 3 approvers."]
    assert set(errors) == {"s1_quorum"}
    with runtime.transaction() as session:
        assert session.scalars(select(FlowVersion)).all() == []  # nothing saved

    # the page keeps what was typed; fixing the row saves the draft
    form = read_form(refused.get_data(as_text=True))
    assert ("s1_users", "cy") in form.values and ("s1_quorum", "4") in form.values
    assert ("approved_set", 'name = "approved deal"') in form.values
    form.set("s1_quorum", "2")
    saved = post_form(admin, url, form)
    assert saved.status_code == 302, page_errors(saved)
    assert saved.headers["Location"].endswith("/admin/flows/deal_ok/1")
    with runtime.transaction() as session:
        version = session.scalars(select(FlowVersion)).one()
        assert version.published_at is None
        assert version.route == {
            "steps": [
                {
                    "id": "manager",
                    "label": "Sales manager",
                    "approvers": {"role": "manager"},
                    "mode": "any",
                },
                BOARD,
            ],
            "on_approved": {"stage": "won", "set": {"name": "approved deal"}},
            "on_rejected": {"stage": "lost"},
        }

    # the draft's form shows the stored route in the same inputs; a change saves in place
    edit = admin.get("/admin/flows/deal_ok/1/edit")
    form = read_form(edit.get_data(as_text=True))
    assert ("s1_escalate_to", "user:boss") in form.values and ("s0_role", "manager") in form.values
    form.set("s0_label", "The sales manager")
    assert post_form(admin, "/admin/flows/deal_ok/1/edit", form).status_code == 302
    with runtime.transaction() as session:
        version = session.scalars(select(FlowVersion)).one()
        assert version.route["steps"][0]["label"] == "The sales manager"
        assert version.route["steps"][1] == BOARD

    # the version page: a draft with its hash and a publish button (with a confirmation)
    page = admin.get("/admin/flows/deal_ok/1").get_data(as_text=True)
    assert version.hash in page and "draft" in page and "data-confirm=" in page
    published = admin.post("/admin/flows/deal_ok/1", action="publish")
    assert published.status_code == 302
    with runtime.transaction() as session:
        version = session.scalars(select(FlowVersion)).one()
        root = session.scalar(select(User.id).where(User.username == "root"))
        assert version.published_at is not None and version.published_by == root
    assert admin.get("/admin/flows/deal_ok/1/edit").status_code == 302  # no longer editable

    # instances run on it: one big deal through both steps, another one left running
    big = factory.record("deal", name="Big", amount=20000).id
    done = start(runtime, "deal_ok", big)
    decide(runtime, people, done, "ann", "role:manager")
    decide(runtime, people, done, "bob")
    decide(runtime, people, done, "cy")
    moved = factory.records("get", "deal", big)
    assert (moved.stage, moved.values["name"]) == ("won", "approved deal")
    start(runtime, "deal_ok", factory.record("deal", name="Other", amount=5).id)
    page = admin.get("/admin/flows/deal_ok/1").get_data(as_text=True)
    assert "<b data-running>1</b>" in page and "<b data-finished>1</b>" in page
    assert "published" in page and "root at" in page
    listing = admin.get("/admin/flows/").get_data(as_text=True)
    assert "v1</a>: 1 / 1" in listing

    # the BPMN export is the very XML the instances above ran on (its hash is the version's),
    # and the flows service takes it back as a BPMN version, checked in full
    download = admin.get("/admin/flows/deal_ok/1/bpmn")
    assert download.status_code == 200 and download.mimetype == "application/xml"
    assert 'filename="deal_ok-v1.bpmn"' in download.headers["Content-Disposition"]
    xml = download.get_data(as_text=True)
    assert hashlib.sha256(xml.encode()).hexdigest() == version.hash
    assert ElementTree.fromstring(xml).tag.endswith("}definitions")
    with runtime.transaction() as session:
        flows = runtime.flows(session)
        flows.create_flow({"key": "imported", "label": "Imported", "entity": "deal"})
        assert flows.add_version("imported", bpmn=xml).hash == version.hash


def test_the_route_form_names_problems_of_rows_and_outcomes(admin, people, page_errors) -> None:  # type: ignore[no-untyped-def]
    assert (
        admin.post("/admin/flows/", key="f", label="F", entity="deal", on="manual").status_code
        == 302
    )
    form = read_form(admin.get("/admin/flows/f/new").get_data(as_text=True))
    form.set("s0_id", "Bad Id")
    form.set("s0_label", "X")
    form.set("s0_kind", "users")  # and no users chosen
    form.set("s0_deadline", "two days")
    form.set("s0_escalate_to", "role:manager")
    form.set("s0_parallel_with", "zzz")
    form.set("approved_set", "no equals sign here")
    answer = post_form(admin, "/admin/flows/f/new", form)
    assert answer.status_code == 422
    errors = page_errors(answer)
    assert {"s0_id", "s0_users", "s0_deadline", "s0_parallel_with", "approved_set"} <= set(
        errors
    ), errors
    # removing the row leaves a route without steps, said above the rows
    form = read_form(answer.get_data(as_text=True))
    form.set("s0_remove", "on")
    form.set("approved_set", "")
    answer = post_form(admin, "/admin/flows/f/new", form)
    assert answer.status_code == 422
    assert errors_text(answer) == ["A route needs at least one step."]


def errors_text(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [m for messages in errors_on(response).values() for m in messages]


def test_the_route_form_sets_an_automatic_decision_at_the_deadline(
    admin, people, runtime, page_errors
) -> None:  # type: ignore[no-untyped-def]
    answer = admin.post("/admin/flows/", key="quick", label="Quick", entity="deal", on="manual")
    assert answer.status_code == 302, page_errors(answer)
    form = read_form(admin.get("/admin/flows/quick/new").get_data(as_text=True))
    form.set("s0_id", "mgr")
    form.set("s0_label", "Manager")
    form.set("s0_kind", "users")
    form.set("s0_users", "ann")
    form.set("s0_escalate_to", "auto:approve")  # without a deadline: named beside the input
    refused = post_form(admin, "/admin/flows/quick/new", form)
    assert refused.status_code == 422
    assert page_errors(refused) == {"s0_deadline": ["An automatic decision needs a deadline."]}
    form = read_form(refused.get_data(as_text=True))
    form.set("s0_deadline", "P3D")
    saved = post_form(admin, "/admin/flows/quick/new", form)
    assert saved.status_code == 302, page_errors(saved)
    with runtime.transaction() as session:
        route = session.scalars(select(FlowVersion)).one().route
    assert route["steps"] == [
        {
            "id": "mgr",
            "label": "Manager",
            "approvers": {"users": ["ann"]},
            "mode": "all",
            "deadline": "P3D",
            "on_deadline": "approve",
        }
    ]
    edit = read_form(admin.get("/admin/flows/quick/1/edit").get_data(as_text=True))
    assert ("s0_escalate_to", "auto:approve") in edit.values
    page = admin.get("/admin/flows/quick/1").get_data(as_text=True)
    assert "P3D, then approved automatically" in page
