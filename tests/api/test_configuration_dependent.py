"""Properties whose valid values depend on the live configuration are declared per operation
(``x-configuration-dependent``): the server's 422 for a well-typed value that names something
missing names only those; what a schema can say (an action type's own settings) the
document says."""

from __future__ import annotations

import jsonschema
import pytest
from configured_fixtures import configured

from trellis.api.blueprint import CONFIGURATION_DEPENDENT, is_declared


@configured
def ticket_types(factory, admin_headers):  # type: ignore[no-untyped-def]
    factory.entity("ticket", {"name": "text"}, pipelines={"flow": ["new", "done:success"]})


@pytest.fixture
def tickets(ticket_types, admin):  # type: ignore[no-untyped-def]
    return admin


def _declared(document, method: str, path: str) -> list[str]:  # type: ignore[no-untyped-def]
    operation = document["paths"][path][method]
    assert "422" in operation["responses"]
    return operation[CONFIGURATION_DEPENDENT]


@pytest.mark.parametrize(
    ("method", "path", "body", "named"),
    [
        (
            "post",
            "/api/meta/entities/ticket/pipelines",
            {
                "key": "other",
                "label": "Other",
                "stages": [{"key": "open", "label": "Open", "enter_roles": ["nobody"]}],
            },
            {"stages.0.enter_roles"},
        ),
        (
            "post",
            "/api/meta/flows",
            {"key": "f", "label": "F", "entity": "nothing"},
            {"entity"},
        ),
        (
            "post",
            "/api/meta/automations",
            {
                "key": "a",
                "entity": "ticket",
                "trigger": {"on": "create"},
                "actions": [{"type": "move_stage", "stage": "nowhere"}],
            },
            {"actions.0.stage"},
        ),
    ],
)
def test_a_configuration_422_names_only_what_the_operation_declares(  # type: ignore[no-untyped-def]
    tickets, method, path, body, named
) -> None:
    document = tickets.ok("GET", "/api/openapi.json")
    template = path.replace("/ticket/", "/{entity}/")
    declared = _declared(document, method, template)
    response = getattr(tickets, method)(path, json=body)
    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"
    assert set(response.json["errors"]) == named
    assert all(is_declared(name, declared) for name in named)


def test_declared_paths_match_one_segment_per_star() -> None:
    declared = ["entity", "actions.*.values.*"]
    assert is_declared("entity", declared)
    assert is_declared("actions.3.values.amount", declared)
    assert not is_declared("actions.3.values", declared)
    assert not is_declared("actions.3.values.amount.currency", declared)
    assert not is_declared("label", declared)
    assert not is_declared("entityx", declared)


def test_an_action_takes_its_types_settings_in_the_document_as_on_the_server(tickets) -> None:  # type: ignore[no-untyped-def]
    document = tickets.ok("GET", "/api/openapi.json")
    action = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/ActionBody", "components": document["components"]}
    )
    good = {"type": "notify", "message": "Look", "owner": True}
    assert action.is_valid(good)
    wrong = [
        {**good, "stage": "new"},  # a setting of move_stage
        {"type": "notify", "message": "Look"},  # nobody to notify
        {"type": "notify", "message": "  ", "owner": True},  # no message
        {"type": "set_fields", "values": {}},  # no field
        {"type": "move_stage"},  # no stage
    ]
    for spec in wrong:
        assert not action.is_valid(spec), spec
        response = tickets.post(
            "/api/meta/automations",
            json={"key": "a", "entity": "ticket", "trigger": {"on": "create"}, "actions": [spec]},
        )
        assert response.status_code == 422, spec
        assert any(name.startswith("actions.0") for name in response.json["errors"]), spec
    created = tickets.post(
        "/api/meta/automations",
        json={"key": "a", "entity": "ticket", "trigger": {"on": "create"}, "actions": [good]},
    )
    assert created.status_code == 201, created.json
