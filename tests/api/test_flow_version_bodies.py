"""A flow version's body in the document: exactly one of a typed route and a BPMN document.
The route's form (its keys, modes, limits, which keys go together) is the schema's, from the
flows service's own shape; what it names of the configuration (users, roles, fields, stages)
or of other steps is declared ``x-configuration-dependent``, and a 422 for a body the document
takes names only those (the service's JSON paths, ``route.steps[0].approvers.role``)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from api_helpers import Caller
from configured_fixtures import configured

from trellis.api.blueprint import CONFIGURATION_DEPENDENT, is_declared

VERSIONS = "/api/meta/flows/{key}/versions"


def step(**more: Any) -> dict[str, Any]:
    return {"id": "check", "label": "Check", "approvers": {"users": ["hanna"]}, **more}


@configured
def flow(client, admin_headers, demo_crm) -> str:  # type: ignore[no-untyped-def]
    admin = Caller(client, admin_headers)
    body = {"key": "check", "label": "Check", "entity": "deal"}
    admin.ok("POST", "/api/meta/flows", body, 201)
    admin.ok("POST", "/api/meta/flows/check/versions", {"route": {"steps": [step()]}}, 201)
    return "check"  # with a draft, version 1


def _valid(document, body) -> bool:  # type: ignore[no-untyped-def]
    schemas = document["components"]["schemas"]
    root = {**schemas["VersionBody"], "components": {"schemas": schemas}}
    return jsonschema.Draft202012Validator(root).is_valid(body)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"route": {"steps": [step()]}, "bpmn": "<x/>"},  # not both
        {"route": {"steps": []}},
        {"route": {"steps": [step(mode="quorum")]}},  # a quorum needs its number
        {"route": {"steps": [step(quorum=1)]}},  # and goes with the mode quorum only
        {"route": {"steps": [step(deadline="P2D")]}},  # a deadline needs what then happens
        {"route": {"steps": [step(escalate_to="ivan")]}},  # an escalation needs a deadline
        {"route": {"steps": [step(deadline="P2D", escalate_to="ivan", on_deadline="approve")]}},
        {"route": {"steps": [step(deadline="2 days", on_deadline="approve")]}},
        {"route": {"steps": [step(approvers={"users": ["hanna", "hanna"]})]}},
        {"route": {"steps": [step(approvers={"role": "board", "field": "owner"})]}},
        {"route": {"steps": [step(colour="red")]}},
        {"route": {"steps": [step()], "on_approved": {"stage": "won", "move": True}}},
    ],
)
def test_what_the_document_refuses_the_server_refuses(admin, flow, body) -> None:  # type: ignore[no-untyped-def]
    document = admin.ok("GET", "/api/openapi.json")
    assert not _valid(document, body)
    response = admin.post(f"/api/meta/flows/{flow}/versions", json=body)
    assert response.status_code == 422, response.json


@pytest.mark.parametrize(
    ("route", "named"),
    [
        ({"steps": [step()]}, None),
        ({"steps": [step(approvers={"role": "board"}, mode="quorum", quorum=2)]}, None),
        ({"steps": [step(deadline="P2D", escalate_to={"role": "board"})]}, None),
        ({"steps": [step(deadline="PT4H", on_deadline="reject", when=None)]}, None),
        ({"steps": [step(approvers={"users": ["nobody"]})]}, "route.steps[0].approvers.users[0]"),
        ({"steps": [step(approvers={"role": "nobody"})]}, "route.steps[0].approvers.role"),
        ({"steps": [step(approvers={"field": "amount"})]}, "route.steps[0].approvers.field"),
        ({"steps": [step(mode="quorum", quorum=2)]}, "route.steps[0].quorum"),
        ({"steps": [step(when="amout > 1")]}, "route.steps[0].when"),
        ({"steps": [step(), step()]}, "route.steps[1].id"),
        ({"steps": [step(parallel_with="later")]}, "route.steps[0].parallel_with"),
        ({"steps": [step()], "on_rejected": {"stage": "nowhere"}}, "route.on_rejected.stage"),
        (
            {"steps": [step()], "on_approved": {"set": {"nothing": 1}}},
            "route.on_approved.set.nothing",
        ),
    ],
)
def test_a_route_the_document_takes_is_refused_only_for_what_is_declared(  # type: ignore[no-untyped-def]
    admin, flow, route, named
) -> None:
    document = admin.ok("GET", "/api/openapi.json")
    assert _valid(document, {"route": route})
    for method, path in (("post", VERSIONS), ("patch", VERSIONS + "/{version}")):
        response = getattr(admin, method)(path.format(key=flow, version=1), json={"route": route})
        if named is None:
            assert response.status_code in (200, 201), response.json
            continue
        assert response.status_code == 422, response.json
        assert set(response.json["errors"]) == {named}
        assert is_declared(named, document["paths"][path][method][CONFIGURATION_DEPENDENT])


def test_a_bpmn_document_that_does_not_parse_is_a_declared_422(admin, flow) -> None:  # type: ignore[no-untyped-def]
    document = admin.ok("GET", "/api/openapi.json")
    assert _valid(document, {"bpmn": "not xml"})
    response = admin.post(f"/api/meta/flows/{flow}/versions", json={"bpmn": "not xml"})
    assert response.status_code == 422 and set(response.json["errors"]) == {"bpmn"}
    assert is_declared("bpmn", document["paths"][VERSIONS]["post"][CONFIGURATION_DEPENDENT])
