"""The conversion wizard through the test client, on the demo CRM: targets and the deal's
pipeline, exactly the missing fields, duplicate candidates to link, the refused second
conversion, junk, errors that keep what was typed, permissions and CSRF."""

from __future__ import annotations

import re

import pytest
from demo_records import INITECH_ENQUIRY

from trellis.records.service import HIDDEN_RULE


@pytest.fixture
def lead(demo, factory):  # type: ignore[no-untyped-def]
    def make(**values):  # type: ignore[no-untyped-def]
        return factory.record("lead", **{**INITECH_ENQUIRY, **values})

    return make


def count(factory, entity: str) -> int:  # type: ignore[no-untyped-def]
    return factory.records("list", entity).total


def section(page: str, target: str) -> str:
    start = page.index(f'data-target="{target}"')
    return page[start : page.index("</section>", start)]


def test_choose_step_offers_targets_and_deal_directions(boss, lead) -> None:  # type: ignore[no-untyped-def]
    record = lead()
    page = boss.get(f"/records/lead/{record.id}/convert").get_data(as_text=True)
    for target in ("contact", "company", "deal"):
        assert f'name="target" value="{target}" checked' in page
    assert 'name="pipeline__deal"' in page and ">Wholesale</option>" in page
    nothing = boss.post(f"/records/lead/{record.id}/convert", data={"action": "preview"})
    assert nothing.status_code == 200 and "Choose at least one element" in nothing.get_data(
        as_text=True
    )


def test_missing_tin_is_asked_for_and_nothing_is_created_until_it_is_given(  # type: ignore[no-untyped-def]
    boss, lead, factory
) -> None:
    record = lead()
    before = {e: count(factory, e) for e in ("contact", "company", "deal")}
    chosen = {"target": ["contact", "company", "deal"], "pipeline__deal": "wholesale"}
    review = boss.post(f"/records/lead/{record.id}/convert", data={**chosen, "action": "preview"})
    page = review.get_data(as_text=True)
    assert review.status_code == 200
    company = section(page, "company")
    assert re.findall(r'name="asked__company" value="(\w+)"', company) == ["tin"]
    assert "Everything needed is there" in section(page, "contact")
    assert "Wholesale" in section(page, "deal")
    # converting without the TIN: refused, nothing created, the form asks again
    refused = boss.post(f"/records/lead/{record.id}/convert", data={**chosen, "action": "convert"})
    assert refused.status_code == 422
    assert {e: count(factory, e) for e in before} == before
    assert factory.records("get", "lead", record.id).stage != "converted"
    done = boss.post(
        f"/records/lead/{record.id}/convert",
        data={**chosen, "asked__company": "tin", "t__company__tin": "EE555", "action": "convert"},
    )
    assert done.status_code == 302 and re.search(r"/records/deal/\d+$", done.location)
    deal_id = int(done.location.rsplit("/", 1)[1])
    deal = factory.records("get", "deal", deal_id)
    assert deal.pipeline == "wholesale" and deal.values["contact"] and deal.values["company"]
    assert factory.records("get", "company", deal.values["company"]).values["tin"] == "EE555"
    card = boss.get(f"/records/lead/{record.id}").get_data(as_text=True)
    assert card.count('data-link="converted_into"') == 3
    # a second conversion is refused with a message, and creates nothing
    again = boss.post(
        f"/records/lead/{record.id}/convert",
        data={**chosen, "asked__company": "tin", "t__company__tin": "EE556", "action": "convert"},
        follow_redirects=True,
    )
    assert "Initech&#39; has been converted already." in again.get_data(as_text=True)
    assert count(factory, "company") == before["company"] + 1


def test_a_duplicate_company_is_offered_and_linked_instead(boss, lead, factory) -> None:  # type: ignore[no-untyped-def]
    record = lead(company_name="ACME ltd")
    acme = factory.records("list", "company", q="Acme").items[0]
    chosen = {"target": ["company", "deal"]}
    page = boss.post(
        f"/records/lead/{record.id}/convert", data={**chosen, "action": "preview"}
    ).get_data(as_text=True)
    company = section(page, "company")
    assert "Possible duplicates" in company and f'value="{acme.id}"' in company
    assert "Acme Ltd" in company and "(same name)" in company
    companies = count(factory, "company")
    done = boss.post(
        f"/records/lead/{record.id}/convert",
        data={**chosen, "use__company": str(acme.id), "action": "convert"},
    )
    assert done.status_code == 302, done.get_data(as_text=True)
    deal = factory.records("get", "deal", int(done.location.rsplit("/", 1)[1]))
    assert deal.values["company"] == acme.id and count(factory, "company") == companies


def test_junk_is_a_plain_stage_move_and_then_nothing_converts(boss, lead, factory) -> None:  # type: ignore[no-untyped-def]
    record = lead()
    contacts = count(factory, "contact")
    moved = boss.post(f"/records/lead/{record.id}/stage", data={"stage": "junk"})
    assert moved.status_code == 302
    assert factory.records("get", "lead", record.id).stage == "junk"
    card = boss.get(f"/records/lead/{record.id}").get_data(as_text=True)
    assert "/convert" not in card
    refused = boss.post(
        f"/records/lead/{record.id}/convert",
        data={"target": ["contact"], "action": "convert"},
        follow_redirects=True,
    )
    assert "is closed as &#39;Junk&#39;; reopen it to convert it." in refused.get_data(as_text=True)
    assert count(factory, "contact") == contacts
    assert factory.records("get", "lead", record.id).stage == "junk"


def test_only_users_who_may_change_the_lead_can_convert_it(user_with, lead, boss) -> None:  # type: ignore[no-untyped-def]
    record = lead()
    outsider = user_with("ivy", ["user"])
    assert outsider.get(f"/records/lead/{record.id}/convert").status_code == 404
    posted = outsider.post(
        f"/records/lead/{record.id}/convert", data={"target": ["contact"], "action": "convert"}
    )
    assert posted.status_code == 404
    no_csrf = boss.client.post(
        f"/records/lead/{record.id}/convert", data={"target": ["contact"], "action": "convert"}
    )
    assert no_csrf.status_code == 400


def test_a_lead_without_a_source_is_asked_for_it_and_a_refusal_keeps_all_choices(  # type: ignore[no-untyped-def]
    boss, lead, factory
) -> None:
    """Issue 10.2: the dry run names what the lead itself lacks for "Converted" (its Source,
    required from "Qualified" on) next to the company's TIN; a refused Convert keeps the
    typed TIN, the duplicate list and the link-or-create choice."""
    record = lead(source=None, company_name="ACME ltd")
    acme = factory.records("list", "company", q="Acme").items[0]
    url = f"/records/lead/{record.id}/convert"
    chosen = {"target": ["contact", "company", "deal"]}
    page = boss.post(url, data={**chosen, "action": "preview"}).get_data(as_text=True)
    start = page.index('data-source="lead"')
    lead_part = page[start : page.index("</section>", start)]
    assert re.findall(r'name="asked__source" value="(\w+)"', lead_part) == ["source"]
    assert 'name="s__source"' in lead_part and "Required from stage" in lead_part
    assert re.findall(r'name="asked__company" value="(\w+)"', section(page, "company")) == ["tin"]
    before = {e: count(factory, e) for e in ("contact", "company", "deal")}
    typed = {**chosen, "use__company": "new", "asked__company": "tin", "t__company__tin": "EE777"}
    refused = boss.post(url, data={**typed, "asked__source": "source", "action": "convert"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    company = section(page, "company")
    assert 'value="EE777"' in company
    assert "Possible duplicates" in company and f'value="{acme.id}"' in company
    assert re.search(r'value="new"\s+checked', company)
    assert "Required from stage &#39;Qualified&#39; on." in page and 'name="s__source"' in page
    # choosing to link the duplicate is kept as well
    linked = boss.post(
        url,
        data={
            **chosen,
            "use__company": str(acme.id),
            "asked__source": "source",
            "action": "convert",
        },
    )
    assert linked.status_code == 422
    assert re.search(
        rf'value="{acme.id}"\s+checked', section(linked.get_data(as_text=True), "company")
    )
    assert {e: count(factory, e) for e in before} == before
    assert factory.records("get", "lead", record.id).values["source"] is None
    done = boss.post(
        url, data={**typed, "asked__source": "source", "s__source": "call", "action": "convert"}
    )
    assert done.status_code == 302, done.get_data(as_text=True)
    converted = factory.records("get", "lead", record.id)
    assert (converted.stage, converted.values["source"]) == ("converted", "call")
    assert count(factory, "company") == before["company"] + 1


def test_a_reference_typed_in_the_wizard_is_found_by_its_name(boss, lead, factory) -> None:  # type: ignore[no-untyped-def]
    """Issue 10.3 in the wizard: a name typed into a reference input without picking a
    suggestion names its record, or is an error that keeps the text and creates nothing."""
    factory.meta(
        "add_field", "deal", "partner", "Partner", "reference", settings={"target": "company"}
    )
    factory.meta("add_rule", "deal", "required", field="partner")
    record = lead()
    url = f"/records/lead/{record.id}/convert"
    chosen = {"target": ["deal"], "asked__deal": "partner", "t__deal__partner": ""}
    deals = count(factory, "deal")
    refused = boss.post(
        url, data={**chosen, "t__deal__partner__text": "Nobody Inc", "action": "convert"}
    )
    assert refused.status_code == 422
    page = section(refused.get_data(as_text=True), "deal")
    assert "No company named &#39;Nobody Inc&#39;." in page
    assert re.search(r'name="t__deal__partner__text"[^>]*value="Nobody Inc"', page, re.S)
    assert count(factory, "deal") == deals
    done = boss.post(
        url, data={**chosen, "t__deal__partner__text": "acme ltd", "action": "convert"}
    )
    assert done.status_code == 302, done.get_data(as_text=True)
    deal = factory.records("get", "deal", int(done.location.rsplit("/", 1)[1]))
    acme = factory.records("list", "company", q="Acme").items[0]
    assert deal.values["partner"] == acme.id


def test_a_source_field_the_user_may_not_see_is_not_named_nor_asked_for(  # type: ignore[no-untyped-def]
    boss, lead, user_with, factory
) -> None:
    boss.post("/admin/roles/", data={"key": "sales", "label": "Sales"})
    full = {"create": "on", "read": "all", "update": "all", "delete": "none"}
    for entity in ("contact", "company", "deal"):
        boss.post("/admin/roles/sales", data={"entity": entity, **full})
    boss.post("/admin/roles/sales", data={"entity": "lead", **full, "field_source": "hidden"})
    sam = user_with("sam", ["sales"])
    record = lead(source=None)
    page = sam.post(
        f"/records/lead/{record.id}/convert", data={"target": ["contact"], "action": "preview"}
    ).get_data(as_text=True)
    start = page.index('data-source="lead"')
    part = page[start : page.index("</section>", start)]
    assert HIDDEN_RULE in part  # the refusal, without naming the field or the stage rule
    assert "Source" not in part and "s__source" not in part and "Qualified" not in part
    api = sam.client.post(
        "/api/auth/token", json={"username": "sam", "password": "sam-password"}
    ).json["token"]
    body = sam.client.post(
        f"/api/records/lead/{record.id}/convert",
        json={"targets": {"contact": {}}, "dry_run": True},
        headers={"Authorization": f"Bearer {api}"},
    ).json
    assert body["errors"]["lead"] == {"_record": [HIDDEN_RULE]}
    assert "lead" not in body["missing"]
    # a Source sent for the hidden field anyway is refused, and not carried either
    sent = sam.client.post(
        f"/api/records/lead/{record.id}/convert",
        json={"targets": {"contact": {}}, "dry_run": True, "source_values": {"source": "call"}},
        headers={"Authorization": f"Bearer {api}"},
    ).json
    assert "source" not in sent["errors"]["lead"]
    assert sent["not_carried"] == {"contact": ["source"]}
    assert sent["records"]["contact"]["source"] is None


def test_the_source_picked_in_the_wizard_is_carried_to_the_new_records(  # type: ignore[no-untyped-def]
    boss, lead, factory
) -> None:
    """QA: a lead without a Source, "Trade show" picked in the wizard: the new deal and
    contact (whose map fills their Source from the lead's) get it too, not an empty one."""
    record = lead(source=None)
    url = f"/records/lead/{record.id}/convert"
    typed = {
        "target": ["contact", "deal"],
        "asked__source": "source",
        "s__source": "trade_show",
    }
    checked = boss.post(url, data={**typed, "action": "preview"})
    assert checked.status_code == 200 and "Everything needed is there" in section(
        checked.get_data(as_text=True), "deal"
    )
    done = boss.post(url, data={**typed, "action": "convert"})
    assert done.status_code == 302, done.get_data(as_text=True)
    deal = factory.records("get", "deal", int(done.location.rsplit("/", 1)[1]))
    assert deal.values["source"] == "trade_show"
    assert factory.records("get", "contact", deal.values["contact"]).values["source"] == (
        "trade_show"
    )
    assert factory.records("get", "lead", record.id).values["source"] == "trade_show"
