"""The admin speaks to administrators in plain words: labels and names, never internal keys,
code markup, user ids or raw JSON; the role matrix saves with one Save; money has a range."""

from __future__ import annotations

import re

from sqlalchemy import select

from trellis.access.models import RolePermission
from trellis.conversion import duplicates
from trellis.errors import ValidationFailed


def flashed(admin, response) -> str:  # type: ignore[no-untyped-def]
    """The page a redirect leads to (where the flashed message shows)."""
    assert response.status_code == 302, response.get_data(as_text=True)
    return admin.get(response.headers["Location"]).get_data(as_text=True)


def test_field_type_help_is_for_people(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("ticket", {"name": "text"})
    for type_name in ("text", "reference", "decimal", "money", "integer"):
        page = admin.get(f"/admin/entities/ticket/fields/new?type={type_name}").get_data(
            as_text=True
        )
        help_text = re.search(
            r'id="f-type".*?<small class="form-text text-muted">([^<]*)<', page, re.S
        )
        assert help_text and help_text.group(1).strip(), type_name
        for jargon in ("``", "TEXT", "NUMERIC", "record id", "ISO 4217", "on_delete", "min/max"):
            assert jargon not in help_text.group(1), (type_name, jargon)


def test_saves_are_confirmed_with_labels_not_internals(admin, factory) -> None:  # type: ignore[no-untyped-def]
    page = flashed(
        admin,
        admin.post("/admin/entities/create", key="vacation_request", label="Vacation request"),
    )
    assert "Entity type “Vacation request” created." in page and "table exists" not in page
    page = flashed(
        admin,
        admin.post(
            "/admin/entities/vacation_request/fields/new?type=integer",
            key="days",
            label="Days",
            submit="save",
        ),
    )
    assert "Field “Days” added." in page and "column exists" not in page
    admin.post("/admin/roles/", key="staff", label="Staff")
    page = flashed(admin, admin.post("/admin/roles/staff", **{"vacation_request.read": "own"}))
    assert (
        "Permissions of Staff saved." in page and "vacation_request" not in page.split("alert")[1]
    )


def test_refusals_name_things_by_their_labels(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("contact", {"name": "text"}, title="{name}")
    factory.entity(
        "deal",
        {
            "name": "text",
            "contact": ("reference", {"settings": {"target": "contact"}}),
            "days": "integer",
        },
    )
    factory.meta("add_rule", "deal", "required", field="days")
    response = admin.post("/admin/entities/contact/archive")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The field “Contact” of Deals refers to it." in page
    assert "_entity" not in page and "deal.contact" not in page
    response = admin.post("/admin/entities/deal/fields/days/archive")
    page = response.get_data(as_text=True)
    assert "Used by the rule that makes “Days” required." in page
    assert not re.search(r"rule #\d", page)
    assert "days:" not in page


def test_setting_problems_show_under_their_input_in_words(admin, factory, page_errors) -> None:  # type: ignore[no-untyped-def]
    factory.entity("ticket", {"name": "text"})
    response = admin.post(
        "/admin/entities/ticket/fields/new?type=integer",
        key="size",
        label="Size",
        setting_min="10",
        setting_max="5",
        submit="save",
    )
    assert response.status_code == 422
    errors = page_errors(response)
    assert errors["setting_min"] == ["The minimum must not be greater than the maximum."]
    assert "settings" not in errors
    response = admin.post(
        "/admin/entities/ticket/fields/new?type=text",
        key="code",
        label="Code",
        setting_max_length="many",
        submit="save",
    )
    assert page_errors(response)["setting_max_length"] == ["Enter a whole number."]


def test_money_fields_have_a_minimum_and_a_maximum(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text"})
    form = admin.get("/admin/entities/deal/fields/new?type=money").get_data(as_text=True)
    assert 'name="setting_min"' in form and 'name="setting_max"' in form
    response = admin.post(
        "/admin/entities/deal/fields/new?type=money",
        key="amount",
        label="Amount",
        setting_min="100",
        setting_max="5000",
        submit="save",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    try:
        factory.record("deal", name="Too small", amount={"amount": "99.99", "currency": "EUR"})
    except ValidationFailed as exc:
        assert exc.errors["amount"] == ["Must be at least 100."]
    else:
        raise AssertionError("an amount below the minimum was accepted")
    factory.record("deal", name="Fine", amount={"amount": "100", "currency": "EUR"})
    response = admin.post(
        "/admin/entities/deal/fields/new?type=money",
        key="fee",
        label="Fee",
        setting_min="9",
        setting_max="1",
        submit="save",
    )
    assert response.status_code == 422


def test_the_role_matrix_saves_every_entity_type_with_one_save(admin, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text", "margin": "integer"})
    factory.entity("company", {"name": "text"})
    admin.post("/admin/roles/", key="sales", label="Sales")
    page = admin.get("/admin/roles/sales").get_data(as_text=True)
    assert page.count('<form method="post" id="grants"') == 1
    assert page.count('type="submit">Save permissions</button>') == 1
    response = admin.post(
        "/admin/roles/sales",
        **{
            "deal.create": "on",
            "deal.read": "own",
            "deal.update": "own",
            "deal.delete": "none",
            "deal.field_margin": "hidden",
            "company.read": "all",
            "company.update": "none",
            "company.delete": "none",
        },
    )
    assert response.status_code == 302
    with runtime.transaction() as session:
        grants = {
            g.entity: (g.can_create, g.read, g.update)
            for g in session.scalars(select(RolePermission))
        }
    assert grants == {"deal": (True, "own", "own"), "company": (False, "all", "none")}


def test_history_is_a_readable_list_of_changes(admin, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    admin.post("/admin/entities/create", key="lead", label="Lead")
    admin.post(
        "/admin/entities/lead/fields/new?type=email", key="email", label="E-mail", submit="save"
    )
    with runtime.transaction() as session:
        duplicates.add_rule(
            session, _admin_actor(session), runtime.model(session), "lead", ["email"]
        )
    rule = factory.meta("add_rule", "lead", "required", field="email")
    factory.meta("update_rule", "lead", rule.id, when="email != ''")
    page = admin.get("/admin/history/").get_data(as_text=True)
    body = page[page.index('id="history"') :]
    assert "Made “E-mail” of Leads required" in body
    assert "Changed the rule that makes “E-mail” of Leads required when email !=" in body
    assert "lead#" not in body
    assert "Created the entity type Lead" in body
    assert "Added the e-mail field “E-mail” to Leads" in body
    assert "Added a duplicate check to Leads (same “E-mail”)" in body
    assert "root" in body  # who, by name
    assert not re.search(r"\d\d:\d\d:\d\d", body)  # no seconds, no microseconds
    assert "{" not in body and "entity.create" not in body and "duplicates.add" not in body
    dashboard = admin.get("/admin/").get_data(as_text=True)
    assert "Added a duplicate check to Leads" in dashboard
    assert "duplicates.add" not in dashboard and "<code>" not in dashboard.split("Latest")[1]


def test_history_names_pipelines_stages_and_rules_by_their_labels(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "deal",
        {"amount": "decimal", "note": "text"},
        pipelines={"approval": ["asked", "approved:success"]},
    )
    factory.meta(
        "create_pipeline",
        "deal",
        "sales",
        "Sales process",
        [{"key": "new", "label": "New"}, {"key": "won", "label": "Won", "kind": "success"}],
    )
    factory.meta("add_rule", "deal", "required", field="amount", from_stage="sales.won")
    factory.meta("add_rule", "deal", "required", field="amount", when="note != ''")
    check = factory.meta(
        "add_rule", "deal", "validation", field="amount", expression="amount > 0", message="Pay"
    )
    factory.meta("update_rule", "deal", check.id, message="Say a positive amount")
    factory.meta("delete_rule", "deal", check.id)
    body = admin.get("/admin/history/").get_data(as_text=True)
    body = body[body.index('id="history"') :]
    assert "Created the pipeline “Sales process” of Deals" in body
    assert "“sales”" not in body
    assert "Made “Amount” of Deals required from Won on" in body
    assert "Made “Amount” of Deals required when note !=" in body
    assert "Changed the validation rule about “Amount” of Deals: “Say a positive amount”" in body
    assert "Removed the validation rule about “Amount” of Deals" in body
    assert "a rule of" not in body


def _admin_actor(session):  # type: ignore[no-untyped-def]
    from trellis.accounts import Actor, get_user

    return Actor.of(get_user(session, "root"))


def test_option_lists_name_the_fields_that_use_them(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "deal",
        {"lead_source": ("list", {"settings": {"list": "source"}})},
        lists={"source": ["web", "fair"]},
    )
    for url in ("/admin/lists/", "/admin/lists/source"):
        page = admin.get(url).get_data(as_text=True)
        assert "The field “Lead Source” of Deals" in page and "deal.lead_source" not in page, url
    refused = admin.post("/admin/lists/source", action="delete_list")
    assert "Used by the field “Lead Source” of Deals." in refused.get_data(as_text=True)


def test_field_types_show_in_words_with_the_list_label(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.meta(
        "create_list", "leave_types", "Leave types", [{"key": "annual", "label": "Annual"}]
    )
    factory.entity(
        "vacation",
        {"kind": ("list", {"settings": {"list": "leave_types"}}), "note": "long_text"},
    )
    factory.entity("company", {"name": "text", "note": "long_text"})
    page = admin.get("/admin/entities/vacation").get_data(as_text=True)
    row = page.split("<td>List")[1].split("</td>")[0]
    assert re.sub(r"<[^>]+>", "", row).strip() == "(Leave types)"
    assert "leave_types</a>" not in page and ">list <" not in page
    response = admin.post(
        "/admin/conversions/", action="create", key="v_to_c", source="vacation", targets="company"
    )
    assert response.status_code == 302
    page = admin.get("/admin/conversions/v_to_c").get_data(as_text=True)
    note_row = page.split('data-field="note"')[1].split("</tr>")[0]
    assert "Long text" in note_row and "long_text" not in note_row


def test_validation_rule_help_has_no_python(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("vacation", {"days": "integer"})
    page = admin.get("/admin/entities/vacation?tab=rules&kind=validation").get_data(as_text=True)
    help_text = page.split('id="validation-help">')[1].split("</p>")[0]
    assert "is_empty(...)" in help_text and "asks whether a field is empty" in help_text
    assert "None" not in help_text


def test_the_rules_table_names_fields_by_their_labels(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("vacation", {"days_off": "integer"})
    factory.meta("add_rule", "vacation", "required", field="days_off")
    factory.meta(
        "add_rule",
        "vacation",
        "validation",
        field="days_off",
        expression="days_off > 0",
        message="Positive.",
    )
    page = admin.get("/admin/entities/vacation?tab=rules").get_data(as_text=True)
    table = page[page.index('id="rules"') : page.index("</table>", page.index('id="rules"'))]
    assert "<b>Days Off</b> is required always" in table
    assert "(shown at Days Off)" in table
    assert ">Required<" in table and ">Validation<" in table
    assert "<b>days_off</b>" not in table and "(on days_off)" not in table
