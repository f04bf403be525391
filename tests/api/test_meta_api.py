"""The metamodel part of the API contract (``/api/meta``): entity types, fields, option lists,
pipelines and rules, their success shapes and their problems; the OpenAPI document follows the
configuration live."""

from __future__ import annotations

import jsonschema
import pytest
from api_helpers import assert_problem

ENTITY_KEYS = {"key", "label", "label_plural", "description", "title", "archived"}
DETAIL_KEYS = {"fields", "pipelines", "rules", "list_indexes"}
FIELD_KEYS = {
    "key",
    "label",
    "type",
    "required",
    "settings",
    "default",
    "unique",
    "indexed",
    "position",
    "archived",
    "help_text",
}
STAGES = [
    {"key": "todo", "label": "To do"},
    {"key": "doing", "label": "Doing"},
    {"key": "done", "label": "Done", "kind": "success"},
]


@pytest.fixture
def project(admin):  # type: ignore[no-untyped-def]
    """An entity type ``project`` with a text field ``name`` and a pipeline ``flow``."""
    admin.ok("POST", "/api/meta/entities", {"key": "project", "label": "Project"}, 201)
    admin.ok(
        "POST",
        "/api/meta/entities/project/fields",
        {"key": "name", "label": "Name", "type": "text"},
        201,
    )
    admin.ok(
        "POST",
        "/api/meta/entities/project/pipelines",
        {"key": "flow", "label": "Flow", "stages": STAGES},
        201,
    )
    return admin


def record_properties(caller, entity: str = "Project") -> set[str]:  # type: ignore[no-untyped-def]
    document = caller.ok("GET", "/api/openapi.json")
    return set(document["components"]["schemas"][f"{entity}Record"]["properties"])


# -- entity types ------------------------------------------------------------------------


def test_create_read_update_and_list_an_entity_type(admin) -> None:  # type: ignore[no-untyped-def]
    created = admin.post(
        "/api/meta/entities",
        {"key": "supplier", "label": "Supplier", "description": "Who we buy from"},
    )
    assert created.status_code == 201
    body = created.json
    assert set(body) == ENTITY_KEYS | DETAIL_KEYS
    assert (body["key"], body["label"], body["label_plural"]) == (
        "supplier",
        "Supplier",
        "Suppliers",
    )
    assert (body["description"], body["title"], body["archived"]) == ("Who we buy from", "", False)
    assert (body["fields"], body["pipelines"], body["rules"]) == ([], [], [])
    assert admin.ok("GET", "/api/meta/entities/supplier") == body

    admin.ok(
        "POST",
        "/api/meta/entities/supplier/fields",
        {"key": "name", "label": "Name", "type": "text"},
        201,
    )
    changed = admin.ok(
        "PATCH",
        "/api/meta/entities/supplier",
        {"label": "Vendor", "label_plural": "Vendors", "title": "{name}", "description": ""},
    )
    assert (changed["label"], changed["label_plural"], changed["title"]) == (
        "Vendor",
        "Vendors",
        "{name}",
    )
    assert changed["description"] == ""
    listed = admin.ok("GET", "/api/meta/entities")["items"]
    assert [e["key"] for e in listed] == ["supplier"] and listed[0] == changed
    record = admin.ok("POST", "/api/records/supplier", {"name": "Acme"}, 201)
    assert record["title"] == "Acme"  # the new title template applies at once


def test_deleting_an_entity_type_archives_it_and_restoring_brings_its_records_back(project) -> None:  # type: ignore[no-untyped-def]
    admin = project
    record = admin.ok("POST", "/api/records/project", {"name": "Apollo"}, 201)
    archived = admin.ok("DELETE", "/api/meta/entities/project")
    assert archived["archived"] is True and archived["key"] == "project"
    assert_problem(admin.get("/api/records/project"), 404)
    assert "/api/records/project" not in admin.ok("GET", "/api/openapi.json")["paths"]
    assert admin.ok("GET", "/api/meta/entities/project")["archived"] is True  # admins still see it
    assert admin.ok("POST", "/api/meta/entities/project/restore")["archived"] is False
    assert admin.ok("GET", f"/api/records/project/{record['id']}")["name"] == "Apollo"
    # the same through PATCH
    assert admin.ok("PATCH", "/api/meta/entities/project", {"archived": True})["archived"] is True
    assert admin.ok("PATCH", "/api/meta/entities/project", {"archived": False})["archived"] is False
    assert admin.ok("GET", "/api/records/project")["total"] == 1


def test_patching_archived_false_on_an_entity_type_not_archived_changes_nothing(project) -> None:  # type: ignore[no-untyped-def]
    admin = project
    before = admin.ok("GET", "/api/meta/entities/project")
    assert admin.ok("PATCH", "/api/meta/entities/project", {"archived": False}) == before
    relabelled = admin.ok(
        "PATCH", "/api/meta/entities/project", {"archived": False, "label": "Venture"}
    )
    assert (relabelled["archived"], relabelled["label"]) == (False, "Venture")


def test_entity_type_problems(project) -> None:  # type: ignore[no-untyped-def]
    admin = project
    assert_problem(admin.post("/api/meta/entities", {"key": "project", "label": "Again"}), 409)
    assert_problem(
        admin.post("/api/meta/entities", {"key": "Bad Key", "label": " ", "description": 5}),
        422,
        "key",
        "label",
        "description",
    )
    assert_problem(
        admin.post("/api/meta/entities", {"key": "x", "label": "X", "colour": 1}), 422, "colour"
    )
    assert_problem(admin.post("/api/meta/entities", {"label": "X"}), 422, "key")
    assert_problem(admin.get("/api/meta/entities/nothing"), 404)
    assert_problem(admin.patch("/api/meta/entities/nothing", {"label": "X"}), 404)
    assert_problem(admin.delete("/api/meta/entities/nothing"), 404)
    assert_problem(admin.patch("/api/meta/entities/project", {"key": "renamed"}), 422, "key")
    assert_problem(admin.patch("/api/meta/entities/project", {"archived": "yes"}), 422, "archived")
    unknown_name = assert_problem(
        admin.patch("/api/meta/entities/project", {"title": "{nmae}"}), 422, "title_template"
    )
    assert "nmae" in unknown_name["errors"]["title_template"][0]
    assert admin.ok("GET", "/api/meta/entities/project")["label"] == "Project"  # nothing changed


# -- fields ------------------------------------------------------------------------------


def test_add_and_change_a_field(project) -> None:  # type: ignore[no-untyped-def]
    admin = project
    created = admin.post(
        "/api/meta/entities/project/fields",
        {
            "key": "budget",
            "label": "Budget",
            "type": "money",
            "settings": {"currencies": ["EUR", "USD"]},
            "help_text": "Agreed with the client",
        },
    )
    assert created.status_code == 201
    field = created.json
    assert set(field) == FIELD_KEYS
    assert (field["key"], field["type"], field["archived"], field["required"]) == (
        "budget",
        "money",
        False,
        False,
    )
    assert field["settings"]["currencies"] == ["EUR", "USD"]
    assert field["settings"]["default_currency"] == "EUR"  # defaults filled in, as stored
    changed = admin.ok(
        "PATCH",
        "/api/meta/entities/project/fields/budget",
        {"label": "Budget (net)", "required": True, "help_text": ""},
    )
    assert (changed["label"], changed["required"], changed["help_text"]) == (
        "Budget (net)",
        True,
        "",
    )
    entity = admin.ok("GET", "/api/meta/entities/project")
    assert [f["key"] for f in entity["fields"]] == ["name", "budget"]
    # required now: a record without a budget is refused, with the field named
    assert_problem(admin.post("/api/records/project", {"name": "x"}), 422, "budget")


def test_archiving_a_field_keeps_its_values_and_restoring_shows_them_again(project) -> None:  # type: ignore[no-untyped-def]
    admin = project
    admin.ok(
        "POST",
        "/api/meta/entities/project/fields",
        {"key": "code", "label": "Code", "type": "text"},
        201,
    )
    record = admin.ok("POST", "/api/records/project", {"name": "A", "code": "X-1"}, 201)
    url = f"/api/records/project/{record['id']}"
    archived = admin.ok("DELETE", "/api/meta/entities/project/fields/code")
    assert archived["archived"] is True
    assert "code" not in admin.ok("GET", url)
    assert "code" not in record_properties(admin)
    assert_problem(admin.get("/api/records/project?code=X-1"), 400, "code")
    restored = admin.ok("POST", "/api/meta/entities/project/fields/code/restore")
    assert restored["archived"] is False
    assert admin.ok("GET", url)["code"] == "X-1"
    assert "code" in record_properties(admin)


def test_field_problems(project) -> None:  # type: ignore[no-untyped-def]
    admin = project
    fields = "/api/meta/entities/project/fields"
    assert_problem(admin.post(fields, {"key": "name", "label": "Again", "type": "text"}), 409)
    body = assert_problem(
        admin.post(
            fields,
            {
                "key": "9lives",
                "label": "",
                "type": "text",
                "required": "yes",
                "unique": 1,
                "position": "first",
            },
        ),
        422,
        "key",
        "label",
        "required",
        "unique",
        "position",
    )
    assert body["errors"]["required"] == ["Use true or false."]
    unknown = assert_problem(admin.post(fields, {"key": "x", "label": "X", "type": "colour"}), 422)
    assert "colour" in unknown["errors"]["type"][0]
    assert_problem(
        admin.post(
            fields, {"key": "x", "label": "X", "type": "text", "settings": {"max_length": -1}}
        ),
        422,
        "settings",
    )
    assert_problem(
        admin.post(fields, {"key": "x", "label": "X", "type": "integer", "default": "many"}),
        422,
        "default",
    )
    assert_problem(
        admin.post(fields, {"key": "x", "label": "X", "type": "text", "size": 5}), 422, "size"
    )
    assert_problem(admin.post(fields, {"key": "x", "type": "text"}), 422, "label")
    assert_problem(
        admin.post("/api/meta/entities/nothing/fields", {"key": "x", "label": "X", "type": "text"}),
        404,
    )
    assert_problem(admin.patch(f"{fields}/nothing", {"label": "X"}), 404)
    assert_problem(admin.delete(f"{fields}/nothing"), 404)
    assert_problem(admin.post(f"{fields}/nothing/restore"), 404)
    refused = assert_problem(admin.patch(f"{fields}/name", {"key": "title"}), 422, "key")
    assert "Cannot be changed" in refused["errors"]["key"][0]
    assert_problem(admin.patch(f"{fields}/name", {"type": "integer"}), 422, "type")
    assert_problem(admin.patch(f"{fields}/name", {"position": 2**40}), 422, "position")
    entity = admin.ok("GET", "/api/meta/entities/project")
    assert [(f["key"], f["type"]) for f in entity["fields"]] == [("name", "text")]


def test_a_new_field_is_in_the_openapi_document_on_the_next_request(project) -> None:  # type: ignore[no-untyped-def]
    admin = project
    assert "budget" not in record_properties(admin)
    admin.ok(
        "POST",
        "/api/meta/entities/project/fields",
        {"key": "budget", "label": "Budget", "type": "integer"},
        201,
    )
    assert "budget" in record_properties(admin)  # no restart
    document = admin.ok("GET", "/api/openapi.json")
    assert "budget" in document["components"]["schemas"]["ProjectCreate"]["properties"]
    parameters = document["paths"]["/api/records/project"]["get"]["parameters"]
    assert "budget" in {p["name"] for p in parameters}
    admin.ok("DELETE", "/api/meta/entities/project/fields/budget")
    assert "budget" not in record_properties(admin)


# -- option lists ------------------------------------------------------------------------


def test_option_lists_and_their_options(project) -> None:  # type: ignore[no-untyped-def]
    admin = project
    created = admin.post(
        "/api/meta/lists",
        {
            "key": "priority",
            "label": "Priority",
            "description": "How urgent",
            "options": [{"key": "low", "label": "Low"}, {"key": "high", "label": "High"}],
        },
    )
    assert created.status_code == 201
    assert set(created.json) == {"key", "label", "description", "options", "used_by"}
    assert [(o["key"], o["label"], o["active"]) for o in created.json["options"]] == [
        ("low", "Low", True),
        ("high", "High", True),
    ]
    assert set(created.json["options"][0]) == {"key", "label", "position", "color", "active"}
    admin.ok(
        "POST",
        "/api/meta/entities/project/fields",
        {"key": "priority", "label": "Priority", "type": "list", "settings": {"list": "priority"}},
        201,
    )
    record = admin.ok("POST", "/api/records/project", {"priority": "low"}, 201)
    assert record["priority"] == {"key": "low", "label": "Low"}

    added = admin.post(
        "/api/meta/lists/priority/options", {"key": "mid", "label": "Mid", "position": 1}
    )
    assert added.status_code == 201
    assert [o["key"] for o in added.json["options"]] == ["low", "mid", "high"]
    retired = admin.ok(
        "PATCH", "/api/meta/lists/priority/options/low", {"label": "Whenever", "active": False}
    )
    low = retired["options"][0]
    assert (low["key"], low["label"], low["active"]) == ("low", "Whenever", False)
    # the rename shows on the existing record at once; the retired option is refused for new ones
    assert (
        admin.ok("GET", f"/api/records/project/{record['id']}")["priority"]["label"] == "Whenever"
    )
    assert_problem(admin.post("/api/records/project", {"priority": "low"}), 422, "priority")
    renamed = admin.ok("PATCH", "/api/meta/lists/priority", {"label": "Urgency", "description": ""})
    assert (renamed["label"], renamed["description"], renamed["used_by"]) == (
        "Urgency",
        "",
        ["project.priority"],
    )
    assert admin.ok("GET", "/api/meta/lists/priority") == renamed
    assert admin.ok("GET", "/api/meta/lists")["items"] == [renamed]


def test_option_list_problems(admin) -> None:  # type: ignore[no-untyped-def]
    admin.ok(
        "POST",
        "/api/meta/lists",
        {"key": "size", "label": "Size", "options": [{"key": "s", "label": "S"}]},
        201,
    )
    assert_problem(admin.post("/api/meta/lists", {"key": "size", "label": "Again"}), 409)
    assert_problem(
        admin.post(
            "/api/meta/lists",
            {
                "key": "l",
                "label": "L",
                "options": [{"key": "a", "label": "A"}, {"key": "a", "label": "B"}],
            },
        ),
        422,
    )
    assert_problem(
        admin.post("/api/meta/lists", {"key": "l", "label": "L", "colour": "red"}), 422, "colour"
    )
    assert_problem(admin.get("/api/meta/lists/nothing"), 404)
    assert_problem(admin.patch("/api/meta/lists/nothing", {"label": "X"}), 404)
    assert_problem(admin.patch("/api/meta/lists/size", {"key": "sizes"}), 422, "key")
    assert_problem(admin.post("/api/meta/lists/nothing/options", {"key": "m", "label": "M"}), 404)
    assert_problem(admin.post("/api/meta/lists/size/options", {"key": "s", "label": "Again"}), 409)
    assert_problem(
        admin.post("/api/meta/lists/size/options", {"key": "M!", "label": ""}), 422, "key", "label"
    )
    assert_problem(
        admin.post("/api/meta/lists/size/options", {"key": "m", "label": "M", "position": "x"}),
        422,
        "position",
    )
    assert_problem(admin.patch("/api/meta/lists/size/options/nothing", {"label": "X"}), 404)
    assert_problem(admin.patch("/api/meta/lists/size/options/s", {"active": "no"}), 422, "active")
    assert_problem(admin.patch("/api/meta/lists/size/options/s", {"key": "t"}), 422, "key")
    options = admin.ok("GET", "/api/meta/lists/size")["options"]
    assert [(o["key"], o["label"], o["active"]) for o in options] == [("s", "S", True)]


# -- pipelines ---------------------------------------------------------------------------


def test_pipelines_read_and_change(project) -> None:  # type: ignore[no-untyped-def]
    admin = project
    pipeline = admin.ok("GET", "/api/meta/entities/project/pipelines/flow")
    assert set(pipeline) == {"key", "label", "position", "stages"}
    assert [(s["key"], s["kind"], s["position"]) for s in pipeline["stages"]] == [
        ("todo", "open", 0),
        ("doing", "open", 1),
        ("done", "success", 2),
    ]
    assert set(pipeline["stages"][0]) == {
        *("key", "label", "kind", "color", "position"),
        *("next_stages", "enter_roles", "flow_only"),
    }
    changed = admin.ok(
        "PATCH",
        "/api/meta/entities/project/pipelines/flow",
        {
            "label": "Workflow",
            "stages": [*STAGES, {"key": "lost", "label": "Lost", "kind": "failure"}],
        },
    )
    assert changed["label"] == "Workflow" and changed["stages"][-1]["key"] == "lost"
    assert admin.ok("GET", "/api/meta/entities/project")["pipelines"] == [changed]
    record = admin.ok("POST", "/api/records/project", {"name": "n"}, 201)
    assert (record["pipeline"], record["stage"]) == ("flow", "todo")


def test_a_position_is_a_json_integer_so_a_whole_float_is_that_integer(project) -> None:  # type: ignore[no-untyped-def]
    """The document says ``type: integer``: in JSON (and JSON Schema) 3.0 is the integer 3,
    so the server takes it as 3 (schemathesis sent 115242.0); 1.5, "3" and true are not."""
    admin = project
    url = "/api/meta/entities/project/pipelines/flow"
    assert admin.ok("PATCH", url, {"position": 115242.0})["position"] == 115242
    created = admin.ok(
        "POST",
        "/api/meta/entities/project/pipelines",
        {"key": "other", "label": "Other", "position": 2.0, "stages": [STAGES[0]]},
        201,
    )
    assert created["position"] == 2 and isinstance(created["position"], int)
    for wrong in (1.5, "3", True):
        assert_problem(admin.open("PATCH", url, {"position": wrong}), 422, "position")


def test_the_document_refuses_the_keys_the_server_refuses(project) -> None:  # type: ignore[no-untyped-def]
    """A reserved word ("q") or a double underscore matches the key pattern but is refused:
    the document says so too (schemathesis sent the pipeline key "q")."""
    admin = project
    document = admin.ok("GET", "/api/openapi.json")["components"]["schemas"]
    key = document["PipelineCreate"]["properties"]["key"]
    url = "/api/meta/entities/project/pipelines"
    for wrong in ("q", "page", "a__b"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, key)
        body = {"key": wrong, "label": "L", "stages": [STAGES[0]]}
        assert_problem(admin.open("POST", url, body), 422, "key")
    jsonschema.validate("other", key)


def test_removing_a_stage_that_holds_records_needs_move_to(project) -> None:  # type: ignore[no-untyped-def]
    admin = project
    task = admin.ok("POST", "/api/records/project", {"name": "busy", "stage": "doing"}, 201)
    idle = admin.ok("POST", "/api/records/project", {"name": "idle"}, 201)
    without_doing = {"stages": [STAGES[0], STAGES[2]]}
    url = "/api/meta/entities/project/pipelines/flow"
    refused = assert_problem(admin.patch(url, without_doing), 422, "move_to.doing")
    assert "1" in refused["errors"]["move_to.doing"][0]  # says how many records wait
    assert [s["key"] for s in admin.ok("GET", url)["stages"]] == ["todo", "doing", "done"]
    assert_problem(admin.patch(url, {**without_doing, "move_to": {"doing": "nowhere"}}), 422)
    moved = admin.ok("PATCH", url, {**without_doing, "move_to": {"doing": "done"}})
    assert [s["key"] for s in moved["stages"]] == ["todo", "done"]
    busy = admin.ok("GET", f"/api/records/project/{task['id']}")
    assert busy["stage"] == "done" and busy["version"] == task["version"] + 1
    assert admin.ok("GET", f"/api/records/project/{idle['id']}")["stage"] == "todo"
    history = admin.ok("GET", f"/api/records/project/{task['id']}/history")["items"]
    assert {"field": "stage", "old": "doing", "new": "done"}.items() <= history[-1].items()


def test_pipeline_problems(project) -> None:  # type: ignore[no-untyped-def]
    admin = project
    pipelines = "/api/meta/entities/project/pipelines"
    assert_problem(admin.post(pipelines, {"key": "flow", "label": "Again", "stages": STAGES}), 409)
    assert_problem(admin.post(pipelines, {"key": "p", "label": "P", "stages": []}), 422, "stages")
    assert_problem(
        admin.post(
            pipelines,
            {"key": "p", "label": "P", "stages": [{"key": "s", "label": "S", "kind": "weird"}]},
        ),
        422,
        "stages.0.kind",
    )
    assert_problem(admin.post(pipelines, {"key": "p", "label": "P"}), 422, "stages")
    assert_problem(
        admin.post(pipelines, {"key": "p", "label": "P", "stages": STAGES, "x": 1}), 422, "x"
    )
    assert_problem(
        admin.post(pipelines, {"key": "p", "label": "P", "stages": STAGES, "position": "x"}),
        422,
        "position",
    )
    assert_problem(admin.get(f"{pipelines}/nothing"), 404)
    assert_problem(admin.patch(f"{pipelines}/nothing", {"label": "X"}), 404)
    assert_problem(admin.get("/api/meta/entities/nothing/pipelines/flow"), 404)
    assert_problem(admin.patch(f"{pipelines}/flow", {"key": "renamed"}), 422, "key")
    assert [p["key"] for p in admin.ok("GET", "/api/meta/entities/project")["pipelines"]] == [
        "flow"
    ]


# -- rules -------------------------------------------------------------------------------


def test_rules_are_listed_added_and_deleted_and_apply_to_records(project) -> None:  # type: ignore[no-untyped-def]
    admin = project
    rules = "/api/meta/entities/project/rules"
    required = admin.post(rules, {"kind": "required", "field": "name", "from_stage": "flow.doing"})
    assert required.status_code == 201
    assert set(required.json) == {
        "id",
        "key",
        "kind",
        "field",
        "when",
        "from_stage",
        "expression",
        "message",
    }
    assert (required.json["field"], required.json["from_stage"]) == ("name", "flow.doing")
    validation = admin.ok(
        "POST",
        rules,
        {"kind": "validation", "expression": "len(name) <= 5", "message": "Keep it short."},
        201,
    )
    assert [r["id"] for r in admin.ok("GET", rules)["items"]] == [
        required.json["id"],
        validation["id"],
    ]
    assert admin.ok("GET", "/api/meta/entities/project")["rules"] == admin.ok("GET", rules)["items"]

    assert_problem(admin.post("/api/records/project", {"stage": "doing"}), 422, "name")
    long_name = assert_problem(admin.post("/api/records/project", {"name": "far too long"}), 422)
    assert "Keep it short." in str(long_name["errors"])
    assert admin.delete(f"{rules}/{validation['id']}").status_code == 204
    assert admin.post("/api/records/project", {"name": "far too long"}).status_code == 201
    assert [r["id"] for r in admin.ok("GET", rules)["items"]] == [required.json["id"]]


def test_rule_problems_name_the_part_that_is_wrong(project) -> None:  # type: ignore[no-untyped-def]
    admin = project
    rules = "/api/meta/entities/project/rules"
    when = assert_problem(
        admin.post(rules, {"kind": "required", "field": "name", "when": "nmae == 'x'"}), 422, "when"
    )
    assert "Unknown name 'nmae'" in when["errors"]["when"][0]
    assert_problem(
        admin.post(rules, {"kind": "validation", "expression": "name +", "message": "m"}),
        422,
        "expression",
    )
    assert_problem(
        admin.post(rules, {"kind": "validation", "expression": "len(name) > 1"}), 422, "message"
    )
    assert_problem(admin.post(rules, {"kind": "required", "field": "nothing"}), 422, "field")
    assert_problem(
        admin.post(rules, {"kind": "required", "field": "name", "from_stage": "flow.nowhere"}),
        422,
        "from_stage",
    )
    assert_problem(admin.post(rules, {"kind": "sometimes"}), 422, "kind")
    assert_problem(admin.post(rules, {"field": "name"}), 422, "kind")
    assert_problem(admin.post(rules, {"kind": "required", "field": "name", "why": "x"}), 422, "why")
    assert_problem(admin.delete(f"{rules}/999"), 404)
    assert_problem(admin.get("/api/meta/entities/nothing/rules"), 404)
    assert admin.ok("GET", rules)["items"] == []


# -- problems common to every write ------------------------------------------------------

WRITES = [
    ("POST", "/api/meta/entities", {"key": "hack", "label": "Hack"}),
    ("PATCH", "/api/meta/entities/project", {"label": "Hacked"}),
    ("DELETE", "/api/meta/entities/project", None),
    ("POST", "/api/meta/entities/project/restore", None),
    ("POST", "/api/meta/entities/project/fields", {"key": "x", "label": "X", "type": "text"}),
    ("PATCH", "/api/meta/entities/project/fields/name", {"label": "Hacked"}),
    ("DELETE", "/api/meta/entities/project/fields/name", None),
    ("POST", "/api/meta/entities/project/fields/name/restore", None),
    ("POST", "/api/meta/lists", {"key": "l", "label": "L"}),
    ("PATCH", "/api/meta/lists/size", {"label": "Hacked"}),
    ("POST", "/api/meta/lists/size/options", {"key": "xl", "label": "XL"}),
    ("PATCH", "/api/meta/lists/size/options/s", {"label": "Hacked"}),
    ("POST", "/api/meta/entities/project/pipelines", {"key": "p", "label": "P", "stages": STAGES}),
    ("PATCH", "/api/meta/entities/project/pipelines/flow", {"label": "Hacked"}),
    ("POST", "/api/meta/entities/project/rules", {"kind": "required", "field": "name"}),
    ("DELETE", "/api/meta/entities/project/rules/1", None),
]


def configuration(admin) -> list[object]:  # type: ignore[no-untyped-def]
    return [admin.ok("GET", "/api/meta/entities")["items"], admin.ok("GET", "/api/meta/lists")]


def test_only_administrators_change_the_metamodel(project, user) -> None:  # type: ignore[no-untyped-def]
    admin = project
    admin.ok(
        "POST",
        "/api/meta/lists",
        {"key": "size", "label": "Size", "options": [{"key": "s", "label": "S"}]},
        201,
    )
    admin.ok("POST", "/api/meta/entities/project/rules", {"kind": "required", "field": "name"}, 201)
    admin.ok(
        "PUT",
        "/api/meta/roles/user/permissions/project",
        {"create": True, "read": "all", "update": "all", "delete": "all"},
    )
    ann = user("ann", ["user"])
    before = configuration(admin)
    for method, path, body in WRITES:
        assert_problem(ann.open(method, path, body), 403)
    assert configuration(admin) == before
    # while ann may use the records of project
    assert ann.post("/api/records/project", {"name": "allowed"}).status_code == 201


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("key=x&label=X", "application/x-www-form-urlencoded"),
        ("{not json", "application/json"),
        ('["key", "label"]', "application/json"),
        ("", "application/json"),
        ("[" * 50_000 + "]" * 50_000, "application/json"),
    ],
)
def test_malformed_bodies_are_a_400(project, data, content_type) -> None:  # type: ignore[no-untyped-def]
    admin = project
    before = configuration(admin)
    for method, path, _body in WRITES:
        if _body is not None:
            assert_problem(admin.raw(method, path, data, content_type), 400)
    assert configuration(admin) == before
