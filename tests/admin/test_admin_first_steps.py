"""First steps in the admin: a list field creates its shared option list inline, keys are
suggested from labels (the same rule in Python and in the static script), archiving asks."""

from __future__ import annotations

import re

from trellis.words import key_from_label


def test_a_list_field_creates_its_option_list_inline(admin, factory, page_errors) -> None:  # type: ignore[no-untyped-def]
    factory.entity("vacation_request", {"reason": "text"})
    form = admin.get("/admin/entities/vacation_request/fields/new?type=list").get_data(as_text=True)
    assert 'value="__new__"' in form and 'name="new_list_options"' in form
    refused = admin.post(
        "/admin/entities/vacation_request/fields/new?type=list",
        key="kind",
        label="Kind",
        setting_list="__new__",
        new_list_options="  ",
        submit="save",
    )
    assert refused.status_code == 422
    assert page_errors(refused)["new_list_options"] == ["Type at least one option."]
    saved = admin.post(
        "/admin/entities/vacation_request/fields/new?type=list",
        key="kind",
        label="Kind",
        setting_list="__new__",
        new_list_label="Vacation kind",
        new_list_options="Paid leave\nUnpaid leave\nSick leave",
        submit="save",
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with factory.runtime.transaction() as session:
        compiled = factory.runtime.model(session)
        field = compiled.entities["vacation_request"].fields["kind"]
        option_list = compiled.option_lists[field.settings["list"]]
    assert option_list.label == "Vacation kind" and field.settings["list"] == "vacation_kind"
    assert [o.label for o in option_list.options.values()] == [
        "Paid leave",
        "Unpaid leave",
        "Sick leave",
    ]
    record = factory.record("vacation_request", reason="Summer", kind="paid_leave")
    assert record.values["kind"] == "paid_leave"


def test_keys_are_suggested_from_labels() -> None:
    assert key_from_label("Vacation request") == "vacation_request"
    assert key_from_label("Über-Größe 2") == "uber_grosse_2"
    assert key_from_label("2nd  reminder!") == "nd_reminder"
    assert key_from_label("???") == ""


def test_key_inputs_ask_for_a_suggestion_and_the_script_is_a_static_file(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("ticket", {"name": "text"})
    pages = {
        "/admin/entities/": "label",
        "/admin/entities/ticket/fields/new?type=text": "label",
        "/admin/lists/": "label",
        "/admin/roles/": "label",
    }
    for url, source in pages.items():
        page = admin.get(url).get_data(as_text=True)
        assert re.search(rf'name="key"[^>]*data-key-from={source}', page), url
        assert "/admin-assets/js/trellis-admin.js" in page, url
        assert "<script>" not in page.split("</nav>")[-1], url  # no inline script


def test_archiving_asks_first(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("ticket", {"name": "text"})
    page = admin.get("/admin/entities/ticket?tab=settings").get_data(as_text=True)
    assert re.search(r'/admin/entities/ticket/archive"[^>]*data-confirm="Archive Tickets\?', page)
    page = admin.get("/admin/entities/ticket").get_data(as_text=True)
    assert re.search(r'fields/name/archive"[^>]*data-confirm="Archive the field Name\?', page)
    assert "onsubmit=" not in page
