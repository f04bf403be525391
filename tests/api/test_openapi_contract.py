"""The OpenAPI document is built from the routes and the live metamodel: every route is in
it, bodies are validated by their schemas (a 422 naming the property, never a 500), values
the configuration sets at run time stay open, and documents are cached per stamp and caller."""

from __future__ import annotations

import json
import re
import threading

import jsonschema
import pytest
from api_helpers import assert_problem
from configured_fixtures import configured

from trellis.accounts import SYSTEM, Actor
from trellis.api.openapi import document_for

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
NEW_STAGES = [
    {"key": "new", "label": "New"},
    {"key": "triage", "label": "Triage"},
    {"key": "done", "label": "Done", "kind": "success"},
]


@configured
def ticket_types(factory, admin_headers):  # type: ignore[no-untyped-def]
    """Tickets with typed fields, an option list and a pipeline."""
    factory.entity(
        "ticket",
        {
            "name": "text",
            "count": "integer",
            "due": "date",
            "done": "boolean",
            "kind": ("list", {"settings": {"list": "kind"}}),
        },
        pipelines={"flow": ["new", "done:success"]},
        lists={"kind": ["bug", "idea"]},
    )


@pytest.fixture
def tickets(ticket_types, admin):  # type: ignore[no-untyped-def]
    return admin


def _template(rule: str) -> str:
    """A Flask rule as an OpenAPI path template."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_every_route_is_in_the_document_and_nothing_else(app, demo_crm, admin) -> None:  # type: ignore[no-untyped-def]
    document = admin.ok("GET", "/api/openapi.json")
    documented = {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method.upper() in METHODS
    }
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = _template(rule.rule)
        if path.startswith("/api/records/{entity}"):  # once per entity type: the lead has all
            path = path.replace("{entity}", "lead").replace("{record_id}", "{id}")
        routed.update((path, m) for m in rule.methods & METHODS)
    assert routed - documented == set()
    lead_or_meta = {
        (p, m) for p, m in documented if not p.startswith("/api/records/") or "/lead" in p
    }
    assert lead_or_meta - routed == set()
    for path in (
        "/api/openapi.json",
        "/api/meta/entities/{entity}/purge",
        "/api/meta/entities/{entity}/restore",
        "/api/meta/entities/{entity}/fields/{field}/purge",
        "/api/meta/entities/{entity}/fields/{field}/restore",
    ):
        assert path in document["paths"], path
    assert "delete" in document["paths"]["/api/meta/entities/{entity}/pipelines/{pipeline}"]
    # what OPTIONS allows on a path is what the document says it has
    for path, item in document["paths"].items():
        url = re.sub(r"\{(id|rule|version)\}", "1", path)
        url = re.sub(r"\{[^}]+\}", "lead", url)
        allowed = admin.open("OPTIONS", url).headers["Allow"].split(", ")
        assert set(allowed) & METHODS == {m.upper() for m in item if m.upper() in METHODS}, path


def test_the_document_describes_filters_if_match_and_csv(tickets) -> None:  # type: ignore[no-untyped-def]
    document = tickets.ok("GET", "/api/openapi.json")
    listing = document["paths"]["/api/records/ticket"]["get"]["parameters"]
    by_name = {p["name"]: p["schema"] for p in listing}
    assert {"count__gte", "count__in", "name__contains", "due__lt", "kind__in"} <= set(by_name)
    assert {"stage", "stage__in", "pipeline", "id__in", "owner", "owner__isnull"} <= set(by_name)
    assert by_name["count"]["type"] == "integer" and by_name["done"]["type"] == "boolean"
    assert by_name["name"]["minLength"] == 1  # an empty equals-filter is refused
    assert by_name["count__isnull"]["type"] == "boolean"
    one = document["paths"]["/api/records/ticket/{id}"]
    assert "If-Match" in {p["name"] for p in one["patch"]["parameters"]}
    assert "If-Match" in {p["name"] for p in one["delete"]["parameters"]}
    body = document["paths"]["/api/records/ticket/import"]["post"]["requestBody"]["content"]
    assert body["text/csv"]["schema"]["type"] == "string"
    create = document["components"]["schemas"]["TicketCreate"]
    name = re.compile(create["properties"]["name"]["pattern"])
    assert name.search("  a line  ") and name.search("") and name.search("   ")
    assert not name.search("a\x00b") and not name.search("two\nlines")
    assert create["additionalProperties"] is False


BAD_BODIES = [
    ("POST", "", {"count": "many"}, "count"),
    ("POST", "", {"count": {}}, "count"),
    ("POST", "", {"due": [2026]}, "due"),
    ("POST", "", {"done": "perhaps"}, "done"),
    ("POST", "", {"name": 5}, "name"),
    ("POST", "", {"kind": 1.5}, "kind"),
    ("POST", "", {"stage": {}}, "stage"),
    ("POST", "", {"pipeline": ["flow"]}, "pipeline"),
    ("PATCH", "/{id}", {"count": [1], "version": 1}, "count"),
    ("POST", "/{id}/stage", {"stage": 5}, "stage"),
    ("POST", "/{id}/stage", {"stage": "done", "values": {"count": "x"}}, "count"),
    ("POST", "/{id}/stage", {"stage": "done", "version": "1"}, "version"),
]


@pytest.mark.parametrize(("method", "suffix", "body", "named"), BAD_BODIES)
def test_wrong_json_types_in_record_bodies_are_a_422_naming_the_property(  # type: ignore[no-untyped-def]
    tickets, method, suffix, body, named
) -> None:
    ticket = tickets.ok("POST", "/api/records/ticket", {"name": "keep"}, 201)
    url = "/api/records/ticket" + suffix.replace("{id}", str(ticket["id"]))
    assert_problem(tickets.open(method, url, body), 422, named)
    assert tickets.ok("GET", f"/api/records/ticket/{ticket['id']}") == ticket


def _enums(value):  # type: ignore[no-untyped-def]
    if isinstance(value, dict):
        if "enum" in value:
            yield value["enum"]
        for item in value.values():
            yield from _enums(item)
    elif isinstance(value, list):
        for item in value:
            yield from _enums(item)


def test_a_stage_or_option_added_later_is_accepted_by_the_document_of_before(tickets) -> None:  # type: ignore[no-untyped-def]
    admin = tickets
    before = admin.ok("GET", "/api/openapi.json")
    stage = before["components"]["schemas"]["TicketRecord"]["properties"]["stage"]
    assert stage["x-known-values"] == ["done", "new"] and "enum" not in stage
    for enum in _enums(before):  # no closed list of run-time values anywhere
        assert not {"new", "done", "flow", "bug", "idea"} & set(enum), enum
    admin.ok(
        "PATCH",
        "/api/meta/entities/ticket/pipelines/flow",
        {"stages": NEW_STAGES},
    )
    admin.ok("POST", "/api/meta/lists/kind/options", {"key": "chore", "label": "Chore"}, 201)
    ticket = admin.ok("POST", "/api/records/ticket", {"name": "t", "kind": "chore"}, 201)
    moved = admin.ok("POST", f"/api/records/ticket/{ticket['id']}/stage", {"stage": "triage"})
    assert moved["stage"] == "triage"
    # the record validates against the document read before the stage and option existed
    schemas = json.loads(
        json.dumps(before["components"]["schemas"]).replace("#/components/schemas/", "#/$defs/")
    )
    validator = jsonschema.Draft202012Validator({**schemas["TicketRecord"], "$defs": schemas})
    assert list(validator.iter_errors(moved)) == []
    after = admin.ok("GET", "/api/openapi.json")["components"]["schemas"]
    assert "triage" in after["TicketRecord"]["properties"]["stage"]["x-known-values"]
    assert "chore" in after["TicketCreate"]["properties"]["kind"]["x-known-values"]


def test_documents_are_cached_per_stamp_and_what_the_caller_sees(app, runtime, tickets) -> None:  # type: ignore[no-untyped-def]
    with app.app_context(), runtime.transaction(read_only=True) as session:
        first = document_for(runtime, session, SYSTEM)
        again = document_for(runtime, session, Actor(None, "other-admin", frozenset({"admin"})))
        nobody = document_for(runtime, session, Actor(None, "nobody", frozenset({"user"})))
    assert again is first  # the same view of the same configuration: built once
    assert nobody is not first and "/api/records/ticket" not in nobody["paths"]
    tickets.ok(
        "PATCH",
        "/api/meta/entities/ticket/pipelines/flow",
        {"stages": NEW_STAGES},
    )
    with app.app_context(), runtime.transaction(read_only=True) as session:
        changed = document_for(runtime, session, SYSTEM)
    assert changed is not first
    stage = changed["components"]["schemas"]["TicketRecord"]["properties"]["stage"]
    assert "triage" in stage["x-known-values"]


def test_the_openapi_command_prints_the_document_as_a_user_sees_it(  # type: ignore[no-untyped-def]
    app, demo_crm, make_user
) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["openapi"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["openapi"] == "3.1.0" and "/api/records/lead" in document["paths"]
    make_user("ivy", ["user"])  # no grants: no record routes
    mine = json.loads(runner.invoke(args=["openapi", "--as", "ivy"]).output)
    assert not [p for p in mine["paths"] if p.startswith("/api/records")]
    assert "/api/meta/entities" in mine["paths"]
    missing = runner.invoke(args=["openapi", "--as", "nobody"])
    assert missing.exit_code != 0 and "No user 'nobody'" in missing.output


def test_every_operation_documents_the_400_any_request_can_get(admin) -> None:  # type: ignore[no-untyped-def]
    """A query parameter with a NUL character is refused before any route runs (a 400), so
    every operation says so."""
    document = admin.ok("GET", "/api/openapi.json")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                assert "400" in operation["responses"], f"{method.upper()} {path}"
    response = admin.get("/api/openapi.json?q=%00")
    assert response.status_code == 400


def test_documented_responses_add_no_wrapper_around_the_view(app, demo_crm, admin) -> None:  # type: ignore[no-untyped-def]
    """``alt_response``, ``problems`` and ``doc`` only document: the view that serves a
    record is the function itself (flask-smorest wrapped it once per decorator, each wrapper
    only calling the next on every request), and the document still has what they said."""
    view = app.view_functions["api.get_record"]
    assert view.__name__ == "get_record" and not hasattr(view, "__wrapped__")
    operation = admin.ok("GET", "/api/openapi.json")["paths"]["/api/records/lead/{id}"]
    assert {"200", "400", "401", "404"} <= set(operation["get"]["responses"])
    assert "ETag" in operation["get"]["responses"]["200"]["headers"]
    assert any(p["name"] == "If-Match" for p in operation["patch"]["parameters"])


def test_the_routes_are_documented_once_when_the_document_is_first_read(app, admin_headers) -> None:  # type: ignore[no-untyped-def]
    """Starting the app leaves documenting the routes (most of ``create_app``) until the
    document is first asked for; requests that ask for it at the same moment each get the
    whole document, the same bytes as a request after them."""
    assert app.extensions["trellis.api"]._undocumented  # nothing documented at start-up
    start = threading.Barrier(4)
    bodies: list[bytes] = []

    def read() -> None:
        client = app.test_client()
        start.wait()
        response = client.get("/api/openapi.json", headers=admin_headers)
        assert response.status_code == 200
        bodies.append(response.data)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not app.extensions["trellis.api"]._undocumented
    later = app.test_client().get("/api/openapi.json", headers=admin_headers).data
    assert bodies == [later] * 4
    assert "/api/meta/entities" in json.loads(later)["paths"]
