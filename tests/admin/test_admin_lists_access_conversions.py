"""Option lists, users and roles, conversion maps and duplicate rules in the admin UI."""

from __future__ import annotations

from sqlalchemy import select

from trellis.access.models import FieldPermission, RolePermission
from trellis.accounts import User


def compiled(runtime):  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return runtime.model(session)


def test_lists_with_options_inline_and_who_shares_them(admin, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    response = admin.post(
        "/admin/lists/create", key="source", label="Source", options="Website\nCold call"
    )
    assert response.status_code == 302
    factory.entity("lead", {"source": ("list", {"settings": {"list": "source"}})})
    factory.entity("deal", {"origin": ("list", {"settings": {"list": "source"}})})
    page = admin.get("/admin/lists/source").get_data(as_text=True)
    assert "The field “Source” of Leads" in page and "The field “Origin” of Deals" in page
    admin.post(
        "/admin/lists/source",
        action="add_option",
        new_key="fair",
        new_label="Trade fair",
        new_color="#ff0000",
    )
    admin.post(
        "/admin/lists/source",
        action="save_option",
        option="website",
        label_website="Web site",
        color_website="#00ff00",
    )
    admin.post("/admin/lists/source", action="retire", option="cold_call")
    admin.post("/admin/lists/source", action="up", option="fair", position="2")
    options = compiled(runtime).option_lists["source"].options
    ordered = sorted(options.values(), key=lambda o: o.position)
    assert [o.key for o in ordered] == ["website", "fair", "cold_call"]
    assert options["website"].label == "Web site" and options["website"].color == "#00ff00"
    assert options["cold_call"].active is False


def test_an_option_added_with_only_a_label_gets_a_key_from_it(admin, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    admin.post("/admin/lists/create", key="source", label="Source", options="Website")
    response = admin.post(
        "/admin/lists/source", action="add_option", new_key="", new_label="Trade fair"
    )
    assert response.status_code == 302
    options = compiled(runtime).option_lists["source"].options
    assert options["trade_fair"].label == "Trade fair"


def test_a_shared_list_cannot_be_deleted(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "lead", {"source": ("list", {"settings": {"list": "source"}})}, lists={"source": ["web"]}
    )
    response = admin.post("/admin/lists/source", action="delete_list")
    assert response.status_code == 422
    assert "Used by the field “Source” of Leads." in response.get_data(as_text=True)


def test_users_are_created_disabled_and_given_new_passwords(admin, runtime, page_errors) -> None:  # type: ignore[no-untyped-def]
    bad = admin.post("/admin/users/", action="create", username="x", password="short", roles="user")
    assert bad.status_code == 422 and {"username", "password"} <= set(page_errors(bad))
    admin.post(
        "/admin/users/", action="create", username="sam", password="sam-password", roles="user"
    )
    with runtime.transaction() as session:
        sam = session.scalar(select(User).where(User.username == "sam"))
        sam_id = sam.id
    admin.post("/admin/users/", action="disable", user_id=str(sam_id))
    admin.post(
        "/admin/users/", action="password", user_id=str(sam_id), new_password="another-password"
    )
    with runtime.transaction() as session:
        sam = session.get(User, sam_id)
        assert sam.is_active is False
        assert sam.check_password("another-password")


def test_role_permission_matrix_and_field_access(admin, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text", "margin": "integer"})
    admin.post("/admin/roles/", key="sales", label="Sales")
    page = admin.get("/admin/roles/sales").get_data(as_text=True)
    assert 'data-entity="deal"' in page
    admin.post(
        "/admin/roles/sales",
        entity="deal",
        create="on",
        read="own",
        update="own",
        delete="none",
        field_margin="hidden",
    )
    with runtime.transaction() as session:
        grant = session.scalar(select(RolePermission).where(RolePermission.entity == "deal"))
        assert (grant.can_create, grant.read, grant.update, grant.delete) == (
            True,
            "own",
            "own",
            "none",
        )
        hidden = session.scalar(select(FieldPermission).where(FieldPermission.field == "margin"))
        assert hidden.access == "hidden"


def test_conversion_map_table_transfer_and_duplicate_rules(admin, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "lead",
        {"name": "text", "tin": "text", "grade": ("list", {"settings": {"list": "grade"}})},
        lists={"grade": ["a", "b"]},
    )
    factory.entity("company", {"label": "text", "vat": "integer"})
    response = admin.post(
        "/admin/conversions/",
        action="create",
        key="lead_to_company",
        source="lead",
        targets="company",
    )
    assert response.status_code == 302
    page = admin.get("/admin/conversions/lead_to_company").get_data(as_text=True)
    # choices are filtered to compatible types: a text cannot fill an integer field
    vat_row = page.split('data-field="vat"')[1].split("</tr>")[0]
    assert 'value="f:name"' not in vat_row
    saved = admin.post(
        "/admin/conversions/lead_to_company",
        action="save",
        src_company__label="f:name",
        src_company__vat="value",
        txt_company__vat="42",
    )
    assert saved.status_code == 302
    bad = admin.post(
        "/admin/conversions/lead_to_company",
        action="save",
        src_company__vat="expr",
        txt_company__vat="nme + 1",
    )
    assert bad.status_code == 422 and "Unknown name" in bad.get_data(as_text=True).replace(
        "&#39;", "'"
    )
    transferred = admin.post(
        "/admin/conversions/lead_to_company", action="transfer", field="grade", target="company"
    )
    assert transferred.status_code == 302
    model = compiled(runtime)
    assert (
        model.entities["company"].fields["grade"].settings["list"] == "grade"
    )  # the same shared list
    admin.post("/admin/conversions/", action="add_duplicate_rule", entity="company", fields="label")
    assert "label" in admin.get("/admin/conversions/").get_data(as_text=True)


def test_dashboard_counts_and_shortcuts(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("project", {"name": "text"})
    factory.record("project", name="Apollo")
    page = admin.get("/admin/").get_data(as_text=True)
    assert 'data-count="Entity types">1<' in page
    assert "New entity type" in page


def test_a_value_table_maps_options_between_different_lists(admin, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "lead",
        {"name": "text", "grade": ("list", {"settings": {"list": "grade"}})},
        lists={"grade": ["hot", "cold"]},
    )
    factory.entity(
        "deal",
        {"name": "text", "level": ("list", {"settings": {"list": "level"}})},
        lists={"level": ["high", "low"]},
    )
    admin.post(
        "/admin/conversions/", action="create", key="lead_deal", source="lead", targets="deal"
    )
    asked = admin.post(
        "/admin/conversions/lead_deal",
        action="save",
        src_deal__name="f:name",
        src_deal__level="f:grade",
    )
    assert asked.status_code == 422
    page = asked.get_data(as_text=True)
    assert "different lists" in page and 'name="vt_deal__level__hot"' in page
    saved = admin.post(
        "/admin/conversions/lead_deal",
        action="save",
        src_deal__name="f:name",
        src_deal__level="f:grade",
        vt_deal__level__hot="high",
        vt_deal__level__cold="low",
    )
    assert saved.status_code == 302
    with runtime.transaction() as session:
        from trellis.conversion.models import ConversionMap

        stored = session.scalar(select(ConversionMap).where(ConversionMap.key == "lead_deal"))
        assert stored.targets["deal"]["values"] == {"level": {"hot": "high", "cold": "low"}}
