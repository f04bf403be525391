"""Rules have keys (issue 14: config packs name rules by key, never by id): given on create,
or generated (``required_<field>``, ``validation_<n>``), unique per entity type, fixed once
made."""

from __future__ import annotations

from api_helpers import assert_problem


def test_a_rule_gets_the_key_it_is_given_or_one_of_its_own(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("task", {"name": "text", "days": "integer"})
    factory.entity("note", {"name": "text"})
    rules = "/api/meta/entities/task/rules"
    required = admin.ok("POST", rules, {"kind": "required", "field": "days"}, 201)
    again = admin.ok("POST", rules, {"kind": "required", "field": "days", "when": "name"}, 201)
    check = {"kind": "validation", "expression": "days is None or days > 0", "message": "No."}
    first = admin.ok("POST", rules, check, 201)
    second = admin.ok("POST", rules, check, 201)
    named = admin.ok("POST", rules, {**check, "key": "positive_days"}, 201)
    assert [required["key"], again["key"], first["key"], second["key"], named["key"]] == [
        "required_days",
        "required_days_2",
        "validation_1",
        "validation_2",
        "positive_days",
    ]
    assert [r["key"] for r in admin.ok("GET", rules)["items"]] == [
        "required_days",
        "required_days_2",
        "validation_1",
        "validation_2",
        "positive_days",
    ]
    # unique per entity type: another entity type may use the same key
    assert_problem(admin.post(rules, {**check, "key": "positive_days"}), 422, "key")
    other = {"kind": "required", "field": "name", "key": "positive_days"}
    assert admin.ok("POST", "/api/meta/entities/note/rules", other, 201)["key"] == "positive_days"
    for bad in ("Positive", "1st", "with-dash", "x" * 61, ""):
        assert_problem(admin.post(rules, {**check, "key": bad}), 422, "key")
    # the key never changes; sending it back unchanged is fine
    assert_problem(admin.patch(f"{rules}/{named['id']}", {"key": "other"}), 422, "key")
    assert admin.ok("GET", rules)["items"][-1]["key"] == "positive_days"


def test_the_service_reports_a_taken_key_with_the_rule_s_other_problems(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from trellis.errors import ValidationFailed

    factory.entity("task", {"name": "text"})
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        meta.add_rule("task", "required", field="name", key="named")
        with pytest.raises(ValidationFailed) as caught:
            meta.add_rule("task", "required", field="nope", key="named")
    assert set(caught.value.errors) == {"field", "key"}
