"""Reference inputs (issue 10 items 3 and 4): a name typed without picking a suggestion
finds its record or is an error that keeps the text; a reference to an entity type the user
may not read shows what they may see and no search box that cannot work."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def people(factory):  # type: ignore[no-untyped-def]
    factory.entity(
        "contact", {"first_name": "text", "last_name": "text"}, title="{first_name} {last_name}"
    )
    factory.entity(
        "deal",
        {
            "name": ("text", {"required": True}),
            "contact": ("reference", {"settings": {"target": "contact"}}),
        },
        title="{name}",
    )
    return factory


def ann(factory):  # type: ignore[no-untyped-def]
    return factory.record("contact", first_name="Ann", last_name="Tamm")


def deals(factory) -> list:  # type: ignore[no-untyped-def]
    return factory.records("list", "deal").items


def box(page: str, name: str = "contact") -> str:
    """The value of a reference's search box."""
    return re.search(rf'name="{name}__text"[^>]*value="([^"]*)"', page, re.S).group(1)


@pytest.mark.parametrize("typed", ["Ann Tamm", "  ann   TAMM ", "Ann Tamm (#{id})", "#{id}"])
def test_a_typed_name_without_a_picked_suggestion_finds_its_record(people, boss, typed) -> None:  # type: ignore[no-untyped-def]
    contact = ann(people)
    people.record("contact", first_name="Ann", last_name="Other")
    text = typed.format(id=contact.id)
    saved = boss.post(
        "/records/deal/new", data={"name": "Apollo", "contact": "", "contact__text": text}
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)
    assert deals(people)[0].values["contact"] == contact.id


def test_no_match_or_several_is_an_error_that_keeps_the_text(people, boss) -> None:  # type: ignore[no-untyped-def]
    ann(people)
    refused = boss.post(
        "/records/deal/new", data={"name": "", "contact": "", "contact__text": "Bob Nobody"}
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "No contact named &#39;Bob Nobody&#39;." in page
    assert box(page) == "Bob Nobody"
    assert "Required." in page  # the other problems are listed at once
    ann(people)  # a second Ann Tamm
    several = boss.post(
        "/records/deal/new", data={"name": "Apollo", "contact": "", "contact__text": "Ann Tamm"}
    )
    assert several.status_code == 422
    assert "Several contacts match &#39;Ann Tamm&#39;: pick one." in several.get_data(as_text=True)
    assert deals(people) == []


def test_an_edit_typed_over_a_picked_name_is_not_saved_as_the_old_record(people, boss) -> None:  # type: ignore[no-untyped-def]
    first = ann(people)
    bob = people.record("contact", first_name="Bob", last_name="Berg")
    deal = people.record("deal", name="Apollo", contact=first.id)
    form = boss.get(f"/records/deal/{deal.id}/edit").get_data(as_text=True)
    assert box(form) == "Ann Tamm"
    unchanged = {"name": "Apollo", "version": "1", "contact": str(first.id)}
    kept = boss.post(
        f"/records/deal/{deal.id}/edit", data={**unchanged, "contact__text": "Ann Tamm"}
    )
    assert kept.status_code == 302
    assert people.records("get", "deal", deal.id).values["contact"] == first.id
    # without the script the old id stays in the hidden input while another name is typed
    moved = boss.post(
        f"/records/deal/{deal.id}/edit", data={**unchanged, "contact__text": "Bob Berg"}
    )
    assert moved.status_code == 302
    assert people.records("get", "deal", deal.id).values["contact"] == bob.id
    now = people.records("get", "deal", deal.id)
    wrong = boss.post(
        f"/records/deal/{deal.id}/edit",
        data={
            "name": "Apollo",
            "version": str(now.version),
            "contact": str(bob.id),
            "contact__text": "Zed",
        },
    )
    assert wrong.status_code == 422 and box(wrong.get_data(as_text=True)) == "Zed"
    assert people.records("get", "deal", deal.id).values["contact"] == bob.id
    cleared = boss.post(
        f"/records/deal/{deal.id}/edit",
        data={"name": "Apollo", "version": str(now.version), "contact": "", "contact__text": ""},
    )
    assert cleared.status_code == 302
    assert people.records("get", "deal", deal.id).values["contact"] is None


def test_a_reference_to_an_unreadable_entity_type_has_no_search_box(
    people, boss, user_with
) -> None:  # type: ignore[no-untyped-def]
    contact = ann(people)
    boss.post("/admin/roles/", data={"key": "sales", "label": "Sales"})
    grant = {"create": "on", "read": "all", "update": "all", "delete": "none"}
    boss.post("/admin/roles/sales", data={"entity": "deal", **grant})
    sam = user_with("sam", ["sales"])
    assert sam.get("/records/contact/lookup?q=Ann").status_code == 404  # what the box called
    new = sam.get("/records/deal/new").get_data(as_text=True)
    assert 'data-field="contact"' in new
    assert "data-reference=" not in new and 'name="contact__text"' not in new
    deal = people.record("deal", name="Apollo", contact=contact.id)
    form = sam.get(f"/records/deal/{deal.id}/edit").get_data(as_text=True)
    assert "data-reference=" not in form and "Ann Tamm" not in form
    assert "A contact you cannot open" in form
    saved = sam.post(f"/records/deal/{deal.id}/edit", data={"name": "Apollo 2", "version": "1"})
    assert saved.status_code == 302
    after = people.records("get", "deal", deal.id)
    assert (after.values["name"], after.values["contact"]) == ("Apollo 2", contact.id)


def test_the_stage_dialog_resolves_a_typed_name_too(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "contact", {"first_name": "text", "last_name": "text"}, title="{first_name} {last_name}"
    )
    factory.entity(
        "deal",
        {"name": "text", "contact": ("reference", {"settings": {"target": "contact"}})},
        title="{name}",
        pipelines={"sales": ["new", "offer", "won:success"]},
    )
    factory.meta("add_rule", "deal", "required", field="contact", from_stage="sales.offer")
    contact = ann(factory)
    deal = factory.record("deal", name="Apollo")
    url = f"/records/deal/{deal.id}/stage"
    asked = {"stage": "offer", "asked": "contact", "contact": ""}
    fetch = {"X-Requested-With": "fetch"}
    refused = boss.post(url, data={**asked, "contact__text": "Bob Nobody"}, headers=fetch)
    assert refused.status_code == 422
    assert refused.json["errors"] == {"contact": ["No contact named 'Bob Nobody'."]}
    assert box(refused.json["html"]) == "Bob Nobody"
    assert factory.records("get", "deal", deal.id).stage == "new"
    moved = boss.post(url, data={**asked, "contact__text": "Ann Tamm"}, headers=fetch)
    assert moved.status_code == 200 and moved.json["ok"], moved.json
    after = factory.records("get", "deal", deal.id)
    assert (after.stage, after.values["contact"]) == ("offer", contact.id)


def lookup(client, q: str) -> list[str]:  # type: ignore[no-untyped-def]
    found = client.get("/records/contact/lookup", query_string={"q": q})
    assert found.status_code == 200
    return [item["title"] for item in found.get_json()]


def test_the_whole_name_typed_still_suggests_its_records(people, boss) -> None:  # type: ignore[no-untyped-def]
    ann(people)
    ann(people)
    people.record("contact", first_name="Ann", last_name="Other")
    people.record("contact", first_name="Tamm", last_name="Berg")
    assert lookup(boss, "Tamm") == ["Tamm Berg", "Ann Tamm", "Ann Tamm"]
    # each word in one of the title's fields, in any order and case
    for typed in ("Ann Tamm", "  ann   TAMM ", "Tamm Ann", "an tam"):
        assert lookup(boss, typed) == ["Ann Tamm", "Ann Tamm"], typed
    assert lookup(boss, "Ann Tamm Berg") == []
    assert lookup(boss, "Ann Bob") == []


def test_the_whole_name_is_not_matched_on_a_field_hidden_from_the_user(
    people, boss, user_with
) -> None:  # type: ignore[no-untyped-def]
    ann(people)
    boss.post("/admin/roles/", data={"key": "sales", "label": "Sales"})
    grant = {"create": "on", "read": "all", "update": "all", "delete": "none"}
    boss.post("/admin/roles/sales", data={"entity": "contact", **grant})
    sam = user_with("sam", ["sales"])
    assert lookup(sam, "Ann Tamm") == ["Ann Tamm"]
    boss.post(
        "/admin/roles/sales", data={"entity": "contact", **grant, "field_last_name": "hidden"}
    )
    assert lookup(sam, "Ann") != []
    # the hidden last name tells nothing: neither alone nor as a word of the whole name
    assert lookup(sam, "Tamm") == []
    assert lookup(sam, "Ann Tamm") == []
