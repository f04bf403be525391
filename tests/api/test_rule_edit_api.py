"""Issue 10.6 over HTTP: a rule is changed with PATCH, checked as a new rule is, and only
administrators may do it."""

from __future__ import annotations

from api_helpers import assert_problem


def test_a_rule_is_patched_in_place(admin, user, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("task", {"name": "text", "days": "integer"})
    rules = "/api/meta/entities/task/rules"
    rule = admin.ok(
        "POST",
        rules,
        {"kind": "validation", "field": "days", "expression": "days > 0", "message": "Positive."},
        201,
    )
    assert admin.post("/api/records/task", {"name": "no days yet"}).status_code == 201
    changed = admin.ok("PATCH", f"{rules}/{rule['id']}", {"expression": "days > 2"})
    assert changed == {**rule, "expression": "days > 2"}
    assert admin.ok("GET", rules)["items"] == [changed]
    refused = assert_problem(admin.post("/api/records/task", {"days": 2}), 422, "days")
    assert refused["errors"]["days"] == ["Positive."]
    assert_problem(
        admin.patch(f"{rules}/{rule['id']}", {"expression": "dayz > 2"}), 422, "expression"
    )
    assert_problem(admin.patch(f"{rules}/{rule['id']}", {"colour": "red"}), 422, "colour")
    assert admin.patch(f"{rules}/{rule['id'] + 50}", {"message": "x"}).status_code == 404
    assert user("ivy", ["user"]).patch(f"{rules}/{rule['id']}", {"message": "x"}).status_code in (
        403,
        404,
    )
    assert admin.ok("GET", rules)["items"] == [changed]
