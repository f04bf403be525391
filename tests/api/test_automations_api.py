"""Automations over the API (issue 13, deliverables 7 and 9): an administrator lists,
creates, reads, changes and deletes them; they run on the next change; bodies are typed (an
unknown property, a setting the action does not take or a wrong JSON type is a 422 naming
it); the configuration's checks answer by the same names; others get a 403."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import assert_problem

BIG_DEAL = {
    "key": "big_deal",
    "label": "Big deal",
    "entity": "deal",
    "trigger": {"on": "create", "when": "amount > 1000"},
    "actions": [{"type": "set_fields", "values": {"description": "big one"}}],
}


def deal(admin, name: str, amount: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {"name": name, "amount": {"amount": amount, "currency": "EUR"}}
    created = admin.ok("POST", "/api/records/deal", body, 201)
    return admin.ok("GET", f"/api/records/deal/{created['id']}")


def test_an_automation_is_created_runs_is_changed_and_deleted(admin, demo_crm) -> None:  # type: ignore[no-untyped-def]
    before = {a["key"] for a in admin.ok("GET", "/api/meta/automations")["items"]}
    created = admin.ok("POST", "/api/meta/automations", BIG_DEAL, 201)
    assert created == {**BIG_DEAL, "active": True}
    assert_problem(admin.post("/api/meta/automations", BIG_DEAL), 409)
    listed = {a["key"] for a in admin.ok("GET", "/api/meta/automations")["items"]}
    assert listed == before | {"big_deal"}
    assert admin.ok("GET", "/api/meta/automations/big_deal") == created
    # it runs on the next change, in the same process
    assert deal(admin, "Large", "5000")["description"] == "big one"
    assert deal(admin, "Small", "10")["description"] in (None, "")

    changed = admin.ok(
        "PATCH",
        "/api/meta/automations/big_deal",
        {"actions": [{"type": "set_fields", "values": {"description": "huge"}}]},
    )
    assert changed["trigger"] == BIG_DEAL["trigger"] and changed["label"] == "Big deal"
    assert deal(admin, "Larger", "9000")["description"] == "huge"
    cleared = {"actions": [{"type": "set_fields", "values": {"description": None}}]}
    changed = admin.ok("PATCH", "/api/meta/automations/big_deal", cleared)
    assert changed["actions"] == cleared["actions"]  # null clears the field
    assert deal(admin, "Largest", "9000")["description"] in (None, "")
    off = admin.ok("PATCH", "/api/meta/automations/big_deal", {"active": False})
    assert off["active"] is False
    assert deal(admin, "Quiet", "9000")["description"] in (None, "")

    response = admin.delete("/api/meta/automations/big_deal")
    assert response.status_code == 204
    assert_problem(admin.get("/api/meta/automations/big_deal"), 404)
    assert_problem(admin.delete("/api/meta/automations/big_deal"), 404)
    assert_problem(admin.patch("/api/meta/automations/big_deal", {"active": True}), 404)


def test_the_configuration_checks_answer_by_property(admin, demo_crm) -> None:  # type: ignore[no-untyped-def]
    body = {
        **BIG_DEAL,
        "entity": "deal",
        "trigger": {"on": "stage", "stage": "nowhere", "when": "amount >"},
        "actions": [
            {"type": "move_stage", "stage": "nowhere"},
            {"type": "set_fields", "values": {"nothing": 1}},
        ],
    }
    problem = assert_problem(admin.post("/api/meta/automations", body), 422)
    assert {"trigger.stage", "trigger.when", "actions.0.stage"} <= set(problem["errors"])
    assert any(k.startswith("actions.1.values") for k in problem["errors"]), problem["errors"]
    assert_problem(admin.post("/api/meta/automations", {**BIG_DEAL, "entity": "nope"}), 422)
    assert_problem(admin.get("/api/meta/automations/big_deal"), 404)  # nothing was saved
    admin.ok("POST", "/api/meta/automations", BIG_DEAL, 201)
    patched = admin.patch("/api/meta/automations/big_deal", {"trigger": {"on": "field"}})
    assert_problem(patched, 422, "trigger.field")


def test_automations_are_for_administrators(admin, user, demo_crm) -> None:  # type: ignore[no-untyped-def]
    admin.ok("POST", "/api/meta/automations", BIG_DEAL, 201)
    someone = user("someone", ["user"])
    assert_problem(someone.get("/api/meta/automations"), 403)
    assert_problem(someone.get("/api/meta/automations/big_deal"), 403)
    assert_problem(someone.post("/api/meta/automations", {**BIG_DEAL, "key": "mine"}), 403)
    assert_problem(someone.patch("/api/meta/automations/big_deal", {"active": False}), 403)
    assert_problem(someone.delete("/api/meta/automations/big_deal"), 403)
    assert admin.ok("GET", "/api/meta/automations/big_deal")["active"] is True


WRONG = [
    ("POST", {**BIG_DEAL, "colour": "red"}, ["colour"]),
    ("POST", {**BIG_DEAL, "key": 5, "label": 7}, ["key", "label"]),
    ("POST", {**BIG_DEAL, "key": "Bad Key"}, ["key"]),
    ("POST", {**BIG_DEAL, "trigger": "create"}, ["trigger"]),
    ("POST", {**BIG_DEAL, "trigger": {"on": "sometimes"}}, ["trigger.on"]),
    ("POST", {**BIG_DEAL, "trigger": {"on": "create", "every": 2}}, ["trigger.every"]),
    ("POST", {**BIG_DEAL, "actions": {"type": "notify"}}, ["actions"]),
    ("POST", {**BIG_DEAL, "actions": [{"type": "explode"}]}, ["actions.0.type"]),
    ("POST", {**BIG_DEAL, "actions": [{"type": "webhook", "stage": "won"}]}, ["actions.0.stage"]),
    ("POST", {**BIG_DEAL, "actions": [{"type": "notify", "owner": "yes"}]}, ["actions.0.owner"]),
    ("POST", {**BIG_DEAL, "actions": [{"type": "notify", "users": "ann"}]}, ["actions.0.users"]),
    ("POST", {**BIG_DEAL, "active": "yes"}, ["active"]),
    ("PATCH", {"key": "other"}, ["key"]),
    ("PATCH", {"actions": [{"values": {}}]}, ["actions.0.type"]),
    ("PATCH", {"active": 1, "label": []}, ["active", "label"]),
]


@pytest.mark.parametrize(("method", "body", "named"), WRONG)
def test_wrong_bodies_are_a_422_naming_the_property(admin, demo_crm, method, body, named) -> None:  # type: ignore[no-untyped-def]
    path = "/api/meta/automations"
    if method == "PATCH":
        admin.ok("POST", path, BIG_DEAL, 201)
        path += "/big_deal"
    assert_problem(admin.open(method, path, body), 422, *named)
    if method == "PATCH":
        assert admin.ok("GET", path) == {**BIG_DEAL, "active": True}


def test_the_document_describes_the_automation_routes(admin, demo_crm) -> None:  # type: ignore[no-untyped-def]
    document = admin.ok("GET", "/api/openapi.json")
    assert set(document["paths"]["/api/meta/automations"]) >= {"get", "post"}
    assert set(document["paths"]["/api/meta/automations/{key}"]) >= {"get", "patch", "delete"}
    schemas = document["components"]["schemas"]
    # one closed object per action type, with that type's settings
    variants = [schemas[v["$ref"].rsplit("/", 1)[1]] for v in schemas["ActionBody"]["oneOf"]]
    variants = {v["properties"]["type"]["const"]: v for v in variants}
    assert all(v["additionalProperties"] is False for v in variants.values())
    assert {"values"} <= set(variants["set_fields"]["properties"])
    assert {"stage"} <= set(variants["move_stage"]["properties"])
    assert {"webhook"} <= set(variants["webhook"]["properties"])
    assert {"fields"} <= set(variants["notify"]["properties"])
