"""The pipeline page of the admin UI edits who moves records where (issue 13, item 6): per
stage its allowed next stages, the roles that may move records into it, and whether only
flows do. The form is read from the page and posted back as a browser would (CSRF on)."""

from __future__ import annotations

from admin_pages import FormValues, post_form
from admin_pages import read_form as read_any_form

from trellis.access.grants import create_role
from trellis.accounts import SYSTEM

PAGE = "/admin/entities/claim/pipelines/approval"


def read_form(page: str) -> FormValues:
    return read_any_form(page, "pipeline-form")


def ticked(form: FormValues, name: str, value: str = "on", on: bool = True) -> None:
    assert name in form.checkboxes, f"no checkbox {name}"
    form.values = [(n, v) for n, v in form.values if (n, v) != (name, value)]
    if on:
        form.values.append((name, value))


def post(admin, form: FormValues):  # type: ignore[no-untyped-def]
    return post_form(admin, PAGE, form)


def stages_of(runtime):  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return runtime.model(session).entities["claim"].pipelines["approval"].stages


def test_the_pipeline_form_edits_transitions_roles_and_flow_only_stages(
    admin, factory, runtime
) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "claim",
        {"name": "text"},
        pipelines={"approval": ["draft", "submitted", "paid:success", "refused:failure"]},
    )
    with runtime.transaction() as session:
        create_role(session, SYSTEM, "finance", "Finance")
    page = admin.get(PAGE)
    assert page.status_code == 200
    form = read_form(page.get_data(as_text=True))
    # nothing configured: every stage lets records go anywhere, anyone may enter it
    assert {f"stage_any_{n}" for n in range(4)} <= {n for n, _v in form.values}
    assert all(s.next_stages is None and not s.enter_roles for s in stages_of(runtime).values())

    # Draft moves only to Submitted; only Finance pays; Refused is only a flow's outcome
    ticked(form, "stage_any_0", on=False)
    ticked(form, "stage_next_0", "submitted")
    ticked(form, "stage_roles_2", "finance")
    ticked(form, "stage_any_3", on=False)  # a refused claim stays refused
    ticked(form, "stage_flow_only_3")
    saved = post(admin, form)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    stages = stages_of(runtime)
    assert stages["draft"].next_stages == frozenset({"submitted"})
    assert stages["submitted"].next_stages is None
    assert stages["paid"].enter_roles == {"finance": "Finance"}
    assert stages["refused"].next_stages == frozenset() and stages["refused"].flow_only
    assert not stages["paid"].flow_only

    # the page shows what was saved, and saving it unchanged changes nothing
    form = read_form(admin.get(PAGE).get_data(as_text=True))
    values = set(form.values)
    assert ("stage_next_0", "submitted") in values and ("stage_any_0", "on") not in values
    assert ("stage_roles_2", "finance") in values and ("stage_flow_only_3", "on") in values
    assert post(admin, form).status_code == 302
    assert stages_of(runtime) == stages

    # a refusal is shown under the stage and nothing is saved
    ticked(form, "stage_flow_only_0")  # new records start in Draft
    refused = post(admin, form)
    assert refused.status_code == 422
    assert "New records start here: it cannot be only for flows." in refused.get_data(as_text=True)
    assert not stages_of(runtime)["draft"].flow_only

    # removing a stage that others name as a next stage keeps the rest
    form = read_form(admin.get(PAGE).get_data(as_text=True))
    ticked(form, "stage_remove_1")
    assert post(admin, form).status_code == 302
    stages = stages_of(runtime)
    assert "submitted" not in stages and stages["draft"].next_stages == frozenset()
