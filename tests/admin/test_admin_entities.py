"""Administrators design entity types and fields in the admin UI; every save goes through
the metamodel service (so the table changes on save and every error shows on the form)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import inspect, select

from trellis.metamodel.models import ConfigChange


def compiled(runtime):  # type: ignore[no-untyped-def]
    """The compiled metamodel as committed (the session is closed again at once)."""
    with runtime.transaction() as session:
        return runtime.model(session)


#: the stages of the "delivery" pipeline the pipeline tests post: key, label and kind
DELIVERY = [("plan", "Plan", "open"), ("build", "Build", "open"), ("done", "Done", "success")]


def stage_rows(stages: list[tuple[str, str, str]], **more: str) -> dict[str, str]:
    """The pipeline form's stage rows as it posts them (key, label, kind and order of each
    row, in the order given), with ``more`` inputs added or replaced."""
    form: dict[str, str] = {}
    for n, (key, label, kind) in enumerate(stages):
        form |= {
            f"stage_key_{n}": key,
            f"stage_label_{n}": label,
            f"stage_kind_{n}": kind,
            f"stage_order_{n}": str(n),
        }
    return {**form, **more}


def columns(runtime, table: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {c["name"] for c in inspect(runtime.engine).get_columns(table)}


def test_creating_an_entity_type_builds_its_table(admin, runtime) -> None:  # type: ignore[no-untyped-def]
    response = admin.post(
        "/admin/entities/create", key="project", label="Project", label_plural="Projects"
    )
    assert response.status_code == 302
    assert "rec_project" in inspect(runtime.engine).get_table_names()
    page = admin.get("/admin/entities/project").get_data(as_text=True)
    assert "Project" in page and "No fields yet." in page


def test_every_problem_of_the_entity_form_shows_at_once(admin, page_errors, runtime) -> None:  # type: ignore[no-untyped-def]
    response = admin.post("/admin/entities/create", key="Not A Key", label="")
    assert response.status_code == 422
    errors = page_errors(response)
    assert set(errors) == {"key", "label"}
    assert "rec_not_a_key" not in inspect(runtime.engine).get_table_names()
    assert 'value="Not A Key"' in response.get_data(as_text=True)  # what was typed stays


@pytest.mark.parametrize(
    ("type_name", "inputs", "expected_columns"),
    [
        ("text", {"setting_max_length": "40"}, {"code"}),
        ("money", {"setting_currencies": "eur, usd"}, {"code_amount", "code_currency"}),
        ("decimal", {"setting_precision": "10", "setting_scale": "3"}, {"code"}),
        ("list", {"setting_list": "colours"}, {"code"}),
        ("reference", {"setting_target": "project", "setting_on_delete": "cascade"}, {"code_id"}),
        ("user", {}, {"code_id"}),
    ],
)
def test_adding_a_field_with_type_settings_adds_its_columns(  # type: ignore[no-untyped-def]
    admin, factory, runtime, type_name, inputs, expected_columns
) -> None:
    factory.entity("project", {"name": "text"}, lists={"colours": ["red", "blue"]})
    form = admin.get(f"/admin/entities/project/fields/new?type={type_name}").get_data(as_text=True)
    for name in inputs:
        assert f'name="{name}"' in form  # a proper input per setting, not a JSON box
    response = admin.post(
        "/admin/entities/project/fields/new",
        type=type_name,
        key="code",
        label="Code",
        submit="save",
        **inputs,
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert expected_columns <= columns(runtime, "rec_project")
    model = compiled(runtime)
    stored = model.entities["project"].fields["code"].settings
    if type_name == "money":
        assert stored["currencies"] == ["EUR", "USD"]
    if type_name == "reference":
        assert stored == {"target": "project", "on_delete": "cascade"}


def test_bad_settings_are_shown_on_the_field_form(admin, factory, page_errors) -> None:  # type: ignore[no-untyped-def]
    factory.entity("project", {"name": "text"})
    response = admin.post(
        "/admin/entities/project/fields/new",
        type="decimal",
        key="rate",
        label="Rate",
        submit="save",
        setting_precision="4",
        setting_scale="9",
    )
    assert response.status_code == 422
    # shown under the setting's own input, in words
    assert page_errors(response)["setting_scale"] == [
        "There cannot be more decimal places than digits in all."
    ]


def test_a_fields_key_is_fixed_and_its_label_free(admin, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("project", {"name": "text"})
    page = admin.get("/admin/entities/project/fields/name").get_data(as_text=True)
    assert 'value="name" disabled' in page
    response = admin.post("/admin/entities/project/fields/name", label="Project name", key="other")
    assert response.status_code == 302
    model = compiled(runtime)
    assert model.entities["project"].fields["name"].label == "Project name"
    assert "other" not in model.entities["project"].fields


def test_a_fields_type_changes_only_to_types_that_keep_its_values(
    admin, factory, runtime, page_errors
) -> None:  # type: ignore[no-untyped-def]
    factory.entity("project", {"name": "text", "site": "text", "start": "date"})
    record = factory.record("project", name="Apollo", site="apollo.example")
    form = admin.get("/admin/entities/project/fields/site").get_data(as_text=True)
    offered = re.findall(
        r'<option value="(\w+)"', form[form.index('id="f-type"') :].split("</select>")[0]
    )
    assert offered == ["text", "long_text", "email", "phone", "url"]
    date_form = admin.get("/admin/entities/project/fields/start").get_data(as_text=True)
    assert 'id="f-type"' not in date_form and "keeps its type" in date_form
    # choosing a type shows its settings and saves nothing
    shown = admin.post(
        "/admin/entities/project/fields/site", label="Site", type="long_text", submit="type"
    )
    assert shown.status_code == 200 and "Long text settings" in shown.get_data(as_text=True)
    assert compiled(runtime).entities["project"].fields["site"].type.name == "text"
    # a value the new type refuses: the form says which record, nothing changes
    refused = admin.post(
        "/admin/entities/project/fields/site", label="Site", type="url", submit="save"
    )
    assert refused.status_code == 422
    assert "“apollo.example” (Not a valid http(s) address.)" in " ".join(
        page_errors(refused)["type"]
    )
    assert compiled(runtime).entities["project"].fields["site"].type.name == "text"
    factory.records("update", "project", record.id, {"site": "https://apollo.example"}, version=1)
    saved = admin.post(
        "/admin/entities/project/fields/site", label="Site", type="url", submit="save"
    )
    assert saved.status_code == 302
    assert compiled(runtime).entities["project"].fields["site"].type.name == "url"


def test_archive_restore_and_purge_a_field(admin, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("project", {"name": "text", "budget": "integer"})
    factory.record("project", name="Apollo", budget=5)
    admin.post("/admin/entities/project/fields/budget/archive")
    assert "budget" in columns(runtime, "rec_project")  # the data stays
    assert "archived" in admin.get("/admin/entities/project").get_data(as_text=True)
    admin.post("/admin/entities/project/fields/budget/restore")
    record = factory.records("list", "project").items[0]
    assert record.values["budget"] == 5
    admin.post("/admin/entities/project/fields/budget/archive")
    admin.post("/admin/entities/project/fields/budget/purge")
    assert "budget" not in columns(runtime, "rec_project")


def test_archiving_a_field_a_rule_uses_is_refused_with_the_reason(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("project", {"name": "text", "budget": "integer"})
    factory.meta(
        "add_rule",
        "project",
        "validation",
        expression="budget is None or budget > 0",
        message="Positive",
    )
    response = admin.post("/admin/entities/project/fields/budget/archive")
    assert response.status_code == 422
    assert "validation rule" in response.get_data(as_text=True)


def test_reorder_fields_with_the_arrows(admin, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("project", {"a": "text", "b": "text", "c": "text"})
    admin.post("/admin/entities/project/fields/c/up")
    order = list(compiled(runtime).entities["project"].fields)
    assert order == ["a", "c", "b"]


def test_entity_settings_title_and_archive(admin, factory, runtime, page_errors) -> None:  # type: ignore[no-untyped-def]
    factory.entity("project", {"name": "text"})
    bad = admin.post("/admin/entities/project/update", label="Project", title_template="{nope}")
    assert bad.status_code == 422 and "title_template" in page_errors(bad)
    admin.post(
        "/admin/entities/project/update",
        label="Project",
        label_plural="Projects",
        title_template="{name}",
    )
    assert compiled(runtime).entities["project"].title_template == "{name}"
    admin.post("/admin/entities/project/archive")
    assert "project" in compiled(runtime).archived_entities
    admin.post("/admin/entities/project/restore")
    assert "project" in compiled(runtime).entities


def test_pipelines_are_created_and_stages_reordered(admin, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("project", {"name": "text"})
    response = admin.post(
        "/admin/entities/project/pipelines/new",
        pipeline_key="delivery",
        pipeline_label="Delivery",
        **stage_rows(DELIVERY),
    )
    assert response.status_code == 302
    admin.post(
        "/admin/entities/project/pipelines/delivery",
        label="Delivery",
        **stage_rows(DELIVERY, stage_order_0="1", stage_order_1="0", stage_color_2="#28a745"),
    )
    stages = compiled(runtime).entities["project"].pipelines["delivery"].stages
    assert [s.key for s in sorted(stages.values(), key=lambda s: s.position)] == [
        "build",
        "plan",
        "done",
    ]
    assert stages["done"].color == "#28a745"


def test_new_pipeline_rows_only_hint_and_keys_come_from_labels(admin, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("claim", {"name": "text"})
    page = admin.get("/admin/entities/claim?tab=pipelines").get_data(as_text=True)
    for n in range(3):  # the first rows hint at new/won/lost but hold no value
        for part in ("key", "label"):
            row = re.search(rf'<input[^>]*name="stage_{part}_{n}"[^>]*>', page)
            assert row is not None and 'value=""' in row.group(0), row
    assert 'placeholder="e.g. new"' in page and 'placeholder="e.g. Won"' in page
    response = admin.post(  # keys left empty (as without JavaScript) come from the labels
        "/admin/entities/claim/pipelines/new",
        pipeline_key="approval",
        pipeline_label="Approval",
        **stage_rows(
            [
                ("", "Draft", "open"),
                ("", "Submitted request", "open"),
                ("ok", "Approved", "success"),
                ("", "", "open"),
            ]
        ),
    )
    assert response.status_code == 302
    stages = compiled(runtime).entities["claim"].pipelines["approval"].stages
    ordered = sorted(stages.values(), key=lambda s: s.position)
    assert [(s.key, s.label) for s in ordered] == [
        ("draft", "Draft"),
        ("submitted_request", "Submitted request"),
        ("ok", "Approved"),  # a key typed by hand is kept
    ]


def test_removing_a_stage_with_records_asks_where_they_go(admin, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "project", {"name": "text"}, pipelines={"delivery": ["plan", "build", "done:success"]}
    )
    record = factory.record("project", name="Apollo")
    factory.records("move_stage", "project", record.id, "build")
    keep = dict(label="Delivery", **stage_rows(DELIVERY, stage_remove_1="on"))
    asked = admin.post("/admin/entities/project/pipelines/delivery", **keep)
    assert asked.status_code == 422
    assert "say where they move" in asked.get_data(as_text=True)
    assert 'name="move_to_build"' in asked.get_data(as_text=True)
    moved = admin.post("/admin/entities/project/pipelines/delivery", move_to_build="plan", **keep)
    assert moved.status_code == 302
    assert factory.records("get", "project", record.id).stage == "plan"
    stages = compiled(runtime).entities["project"].pipelines["delivery"].stages
    assert "build" not in stages


def test_rules_check_expressions_on_save(admin, factory, runtime, page_errors) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "project", {"name": "text", "budget": "integer"}, pipelines={"delivery": ["plan", "build"]}
    )
    bad = admin.post(
        "/admin/entities/project/rules/new", kind="required", field="budget", when="budgett > 1"
    )
    assert bad.status_code == 422
    assert "Unknown name 'budgett'" in " ".join(page_errors(bad)["when"]).replace("&#39;", "'")
    ok = admin.post(
        "/admin/entities/project/rules/new",
        kind="required",
        field="budget",
        from_stage="delivery.build",
    )
    assert ok.status_code == 302
    rules = compiled(runtime).entities["project"].rules
    assert [(r.field_key, r.from_stage) for r in rules] == [("budget", "build")]


def test_every_change_is_in_the_configuration_history(admin, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    admin.post("/admin/entities/create", key="project", label="Project")
    with runtime.transaction() as session:
        actions = session.scalars(select(ConfigChange.action)).all()
    assert "entity.create" in actions
    page = admin.get("/admin/history/").get_data(as_text=True)
    assert "Created the entity type Project" in page and "entity.create" not in page
