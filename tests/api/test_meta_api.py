"""The metamodel part of the API contract, with the OpenAPI document following it live."""

from __future__ import annotations

PROBLEM = "application/problem+json"


def test_entity_field_list_pipeline_and_rule_round_trip(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    h = admin_headers
    created = client.post(
        "/api/meta/entities", json={"key": "project", "label": "Project", "title": ""}, headers=h
    )
    assert created.status_code == 201 and created.json["label_plural"] == "Projects"
    lst = client.post(
        "/api/meta/lists",
        json={"key": "prio", "label": "Priority", "options": [{"key": "low", "label": "Low"}]},
        headers=h,
    )
    assert lst.status_code == 201
    field = client.post(
        "/api/meta/entities/project/fields",
        json={"key": "prio", "label": "Priority", "type": "list", "settings": {"list": "prio"}},
        headers=h,
    )
    assert field.status_code == 201 and field.json["settings"] == {"list": "prio"}
    client.post(
        "/api/meta/entities/project/fields",
        json={"key": "name", "label": "Name", "type": "text"},
        headers=h,
    )
    assert (
        client.patch("/api/meta/entities/project", json={"title": "{name}"}, headers=h).json[
            "title"
        ]
        == "{name}"
    )
    assert (
        client.post(
            "/api/meta/lists/prio/options", json={"key": "high", "label": "High"}, headers=h
        ).status_code
        == 201
    )
    renamed = client.patch(
        "/api/meta/lists/prio/options/low", json={"label": "Lowest", "active": False}, headers=h
    ).json
    assert [(o["key"], o["label"], o["active"]) for o in renamed["options"]] == [
        ("low", "Lowest", False),
        ("high", "High", True),
    ]
    assert renamed["used_by"] == ["project.prio"]
    pipeline = client.post(
        "/api/meta/entities/project/pipelines",
        json={
            "key": "flow",
            "label": "Flow",
            "stages": [
                {"key": "todo", "label": "To do", "kind": "open"},
                {"key": "done", "label": "Done", "kind": "success"},
            ],
        },
        headers=h,
    )
    assert pipeline.status_code == 201
    assert (
        client.get("/api/meta/entities/project/pipelines/flow", headers=h).json["stages"][1]["kind"]
        == "success"
    )
    rule = client.post(
        "/api/meta/entities/project/rules",
        json={"kind": "required", "field": "name", "from_stage": "flow.done"},
        headers=h,
    )
    assert rule.status_code == 201 and rule.json["from_stage"] == "flow.done"
    assert len(client.get("/api/meta/entities/project/rules", headers=h).json["items"]) == 1
    assert (
        client.delete(f"/api/meta/entities/project/rules/{rule.json['id']}", headers=h).status_code
        == 204
    )
    entity = client.get("/api/meta/entities/project", headers=h).json
    assert [f["key"] for f in entity["fields"]] == ["prio", "name"] and entity["rules"] == []


def test_archive_restore_and_openapi_follows(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    h = admin_headers
    client.post("/api/meta/entities", json={"key": "project", "label": "Project"}, headers=h)
    client.post(
        "/api/meta/entities/project/fields",
        json={"key": "name", "label": "Name", "type": "text"},
        headers=h,
    )

    def properties() -> set[str]:
        return set(
            client.get("/api/openapi.json", headers=h).json["components"]["schemas"][
                "ProjectRecord"
            ]["properties"]
        )

    assert "budget" not in properties()
    client.post(
        "/api/meta/entities/project/fields",
        json={"key": "budget", "label": "Budget", "type": "integer"},
        headers=h,
    )
    assert "budget" in properties()  # no restart
    archived = client.delete("/api/meta/entities/project/fields/budget", headers=h)
    assert archived.status_code == 200 and archived.json["archived"] is True
    assert "budget" not in properties()
    assert (
        client.post("/api/meta/entities/project/fields/budget/restore", headers=h).json["archived"]
        is False
    )
    assert client.delete("/api/meta/entities/project", headers=h).json["archived"] is True
    assert "/api/records/project" not in client.get("/api/openapi.json", headers=h).json["paths"]
    assert client.post("/api/meta/entities/project/restore", headers=h).status_code == 200


def test_meta_errors(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    h = admin_headers
    client.post("/api/meta/entities", json={"key": "project", "label": "Project"}, headers=h)
    cases = [
        ("POST", "/api/meta/entities", {"key": "project", "label": "Again"}, 409),
        ("POST", "/api/meta/entities", {"key": "Bad Key", "label": ""}, 422),
        ("POST", "/api/meta/entities", {"key": "x", "label": "X", "colour": "red"}, 400),
        ("POST", "/api/meta/entities", {"label": "X"}, 400),
        ("GET", "/api/meta/entities/nothing", None, 404),
        (
            "POST",
            "/api/meta/entities/project/fields",
            {"key": "x", "label": "X", "type": "colour"},
            422,
        ),
        (
            "POST",
            "/api/meta/entities/project/fields",
            {"key": "x", "label": "X", "type": "text", "settings": {"max_length": -1}},
            422,
        ),
        ("PATCH", "/api/meta/entities/project/fields/nothing", {"label": "X"}, 404),
        (
            "POST",
            "/api/meta/entities/project/rules",
            {"kind": "validation", "expression": "nme == 1", "message": "m"},
            422,
        ),
        (
            "POST",
            "/api/meta/lists",
            {
                "key": "l",
                "label": "L",
                "options": [{"key": "a", "label": "A"}, {"key": "a", "label": "B"}],
            },
            422,
        ),
        ("GET", "/api/meta/lists/nothing", None, 404),
        (
            "POST",
            "/api/meta/entities/project/pipelines",
            {"key": "p", "label": "P", "stages": []},
            422,
        ),
    ]
    for method, path, body, status in cases:
        response = client.open(path, method=method, json=body, headers=h)
        assert response.status_code == status, (method, path, body, response.json)
        assert response.mimetype == PROBLEM
        assert set(response.json) >= {"type", "title", "status", "detail", "errors"}
    unknown_name = client.post(
        "/api/meta/entities/project/rules",
        json={"kind": "validation", "expression": "nme == 1", "message": "m"},
        headers=h,
    )
    assert "Unknown name 'nme'" in unknown_name.json["errors"]["expression"][0]


def test_removing_a_stage_with_records_through_the_api(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    h = admin_headers
    client.post("/api/meta/entities", json={"key": "task", "label": "Task"}, headers=h)
    client.post(
        "/api/meta/entities/task/pipelines",
        json={
            "key": "flow",
            "label": "Flow",
            "stages": [{"key": "todo", "label": "To do"}, {"key": "doing", "label": "Doing"}],
        },
        headers=h,
    )
    task = client.post("/api/records/task", json={"stage": "doing"}, headers=h).json
    assert task["stage"] == "doing"
    only_todo = {"stages": [{"key": "todo", "label": "To do"}]}
    refused = client.patch("/api/meta/entities/task/pipelines/flow", json=only_todo, headers=h)
    assert refused.status_code == 422 and "move_to.doing" in refused.json["errors"]
    moved = client.patch(
        "/api/meta/entities/task/pipelines/flow",
        json={**only_todo, "move_to": {"doing": "todo"}},
        headers=h,
    )
    assert moved.status_code == 200
    assert client.get(f"/api/records/task/{task['id']}", headers=h).json["stage"] == "todo"


def test_field_flags_must_be_booleans(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    h = admin_headers
    client.post("/api/meta/entities", json={"key": "project", "label": "Project"}, headers=h)
    response = client.post(
        "/api/meta/entities/project/fields",
        json={
            "key": "x",
            "label": "X",
            "type": "text",
            "required": "yes",
            "unique": 1,
            "position": "first",
        },
        headers=h,
    )
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"required", "unique", "position"}
