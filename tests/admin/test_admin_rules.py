"""Issue 10.6 in the admin UI: the rule form shows only the inputs of the chosen kind,
explains that validation rules leave empty fields alone, and a rule can be edited."""

from __future__ import annotations

import re


def inputs(page: str) -> set[str]:
    """Names of the inputs in the rule form."""
    start = page.index('id="rule-form"')
    form = page[start : page.index("</form>", start)]
    return set(re.findall(r'name="(\w+)"', form)) - {"csrf_token"}


def test_the_rule_form_shows_only_the_inputs_of_its_kind(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "task", {"name": "text", "days": "integer"}, pipelines={"flow": ["todo", "done"]}
    )
    required = admin.get("/admin/entities/task?tab=rules").get_data(as_text=True)
    assert inputs(required) == {"kind", "field", "when", "from_stage"}
    validation = admin.get("/admin/entities/task?tab=rules&kind=validation").get_data(as_text=True)
    assert inputs(validation) == {"kind", "field", "expression", "message"}
    assert "while one of them is empty it is not checked" in validation
    assert "does not make Days required" in validation


def test_a_rule_is_edited_in_the_admin_ui(admin, factory, page_errors) -> None:  # type: ignore[no-untyped-def]
    factory.entity("task", {"name": "text", "days": "integer"})
    rule = factory.meta(
        "add_rule", "task", "validation", field="days", expression="days > 0", message="Positive."
    )
    listing = admin.get("/admin/entities/task?tab=rules").get_data(as_text=True)
    assert f"/admin/entities/task?tab=rules&amp;edit={rule.id}" in listing
    form = admin.get(f"/admin/entities/task?tab=rules&edit={rule.id}").get_data(as_text=True)
    assert f'action="/admin/entities/task/rules/{rule.id}/edit"' in form
    assert 'value="days &gt; 0"' in form and 'value="Positive."' in form
    assert inputs(form) == {"kind", "field", "expression", "message"}
    url = f"/admin/entities/task/rules/{rule.id}/edit"
    bad = admin.post(url, kind="validation", field="days", expression="dayz > 2", message="")
    assert bad.status_code == 422 and {"expression", "message"} <= set(page_errors(bad))
    assert 'value="dayz &gt; 2"' in bad.get_data(as_text=True)  # what was typed stays
    saved = admin.post(
        url, kind="validation", field="days", expression="days > 2", message="Over 2."
    )
    assert saved.status_code == 302
    with factory.runtime.transaction() as session:
        rules = factory.runtime.model(session).entities["task"].rules
    assert [(r.id, r.expression.source, r.message) for r in rules] == [
        (rule.id, "days > 2", "Over 2.")
    ]
    # the same rule as a required one
    switched = admin.get(f"/admin/entities/task?tab=rules&edit={rule.id}&kind=required")
    assert inputs(switched.get_data(as_text=True)) == {"kind", "field", "when", "from_stage"}
    assert admin.post(url, kind="required", field="days", when="").status_code == 302
    with factory.runtime.transaction() as session:
        rules = factory.runtime.model(session).entities["task"].rules
    assert [(r.id, r.kind, r.field_key, r.expression) for r in rules] == [
        (rule.id, "required", "days", None)
    ]
