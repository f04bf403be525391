"""The reference scenario (product.md, steps 1-7) through the API."""

from __future__ import annotations

import pytest


def convert(client, headers, lead_id: int, targets: dict, dry_run: bool = False):  # type: ignore[no-untyped-def]
    body = {"targets": targets, **({"dry_run": True} if dry_run else {})}
    return client.post(f"/api/records/lead/{lead_id}/convert", json=body, headers=headers)


def test_all_three_with_the_chosen_pipeline_linked_together(client, demo, new_lead) -> None:  # type: ignore[no-untyped-def]
    lead = new_lead()
    response = convert(
        client,
        demo,
        lead["id"],
        {
            "contact": {},
            "company": {"tin": "EE102030405"},
            "deal": {"pipeline": "wholesale"},
        },
    )
    assert response.status_code == 201, response.json
    created = response.json["created"]
    deal, contact, company = created["deal"], created["contact"], created["company"]
    assert (deal["pipeline"], deal["stage"]) == ("wholesale", "new")
    assert deal["contact"] == {"id": contact["id"], "title": "Peter Gibbons"}
    assert deal["company"] == {"id": company["id"], "title": "Initech"}
    assert contact["company"] == {"id": company["id"], "title": "Initech"}
    assert deal["amount"] == {"amount": "12000.00", "currency": "EUR"}
    assert contact["source"] == {"key": "website", "label": "Website"}
    assert response.json["source"]["stage"] == "converted"
    # step 7: the lead lists what was created from it; each new record says where it came from
    links = client.get(f"/api/records/lead/{lead['id']}/links", headers=demo).json["items"]
    assert {(link["kind"], link["entity"], link["id"]) for link in links} == {
        ("converted_into", "contact", contact["id"]),
        ("converted_into", "company", company["id"]),
        ("converted_into", "deal", deal["id"]),
    }
    for entity, record in created.items():
        back = client.get(f"/api/records/{entity}/{record['id']}/links", headers=demo).json["items"]
        assert {"kind": "converted_from", "entity": "lead", "id": lead["id"]}.items() <= next(
            link for link in back if link["kind"] == "converted_from"
        ).items()


@pytest.mark.parametrize(
    "targets",
    [["contact"], ["deal"], ["company", "deal"], ["contact", "deal"], ["contact", "company"]],
)
def test_any_combination_of_targets(client, demo, new_lead, counts, targets) -> None:  # type: ignore[no-untyped-def]
    before = counts()
    lead = new_lead()
    options = {t: ({"tin": "EE1"} if t == "company" else {}) for t in targets}
    response = convert(client, demo, lead["id"], options)
    assert response.status_code == 201, response.json
    assert set(response.json["created"]) == set(targets)
    after = counts()
    for entity in ("contact", "company", "deal"):
        assert after[entity] - before[entity] == (1 if entity in targets else 0)
    if {"company", "deal"} <= set(targets):
        created = response.json["created"]
        assert created["deal"]["company"]["id"] == created["company"]["id"]


def test_missing_tin_is_asked_for_and_nothing_is_created(client, demo, new_lead, counts) -> None:  # type: ignore[no-untyped-def]
    lead = new_lead()
    before = counts()
    response = convert(
        client, demo, lead["id"], {"contact": {}, "company": {}, "deal": {"pipeline": "sales"}}
    )
    assert response.status_code == 422
    assert response.json["errors"] == {"company": {"tin": ["Required."]}}
    assert response.json["missing"] == {"company": ["tin"]}
    assert counts() == before  # nothing half-converted, not even an audit row
    assert client.get(f"/api/records/lead/{lead['id']}", headers=demo).json["stage"] == "new"
    done = convert(
        client,
        demo,
        lead["id"],
        {"contact": {}, "company": {"tin": "EE9"}, "deal": {"pipeline": "sales"}},
    )
    assert done.status_code == 201


def test_dry_run_shows_what_would_happen_and_creates_nothing(
    client, demo, new_lead, counts
) -> None:  # type: ignore[no-untyped-def]
    lead = new_lead(email="ann@acme.example")  # the demo has a contact with this e-mail
    before = counts()
    response = convert(
        client,
        demo,
        lead["id"],
        {"contact": {}, "company": {}, "deal": {"pipeline": "wholesale"}},
        dry_run=True,
    )
    assert response.status_code == 200 and response.json["dry_run"] is True
    preview = response.json["records"]
    assert preview["contact"]["first_name"] == "Peter" and "id" not in preview["contact"]
    assert preview["deal"]["contact"] == {"id": None, "title": "Peter Gibbons"}
    assert preview["deal"]["pipeline"] == "wholesale"
    assert response.json["missing"] == {"company": ["tin"]}
    assert [d["title"] for d in response.json["duplicates"]["contact"]] == ["Ann Tamm"]
    assert counts() == before
    assert client.get(f"/api/records/lead/{lead['id']}", headers=demo).json["stage"] == "new"


def test_a_converted_lead_cannot_be_converted_again(client, demo, new_lead) -> None:  # type: ignore[no-untyped-def]
    lead = new_lead()
    assert convert(client, demo, lead["id"], {"contact": {}}).status_code == 201
    again = convert(client, demo, lead["id"], {"contact": {}})
    assert again.status_code == 409 and "converted already" in again.json["detail"]


def test_junk_creates_nothing_and_cannot_be_converted(client, demo, new_lead, counts) -> None:  # type: ignore[no-untyped-def]
    lead = new_lead()
    before = counts()
    junk = client.post(
        f"/api/records/lead/{lead['id']}/stage", json={"stage": "junk"}, headers=demo
    )
    assert junk.status_code == 200 and junk.json["stage"] == "junk"
    after = counts()
    assert {k: after[k] for k in ("contact", "company", "deal")} == {
        k: before[k] for k in ("contact", "company", "deal")
    }
    assert convert(client, demo, lead["id"], {"contact": {}}).status_code == 409


def test_the_success_stage_is_reached_only_by_converting(client, demo, new_lead) -> None:  # type: ignore[no-untyped-def]
    lead = new_lead()
    response = client.post(
        f"/api/records/lead/{lead['id']}/stage", json={"stage": "converted"}, headers=demo
    )
    assert response.status_code == 422 and "converting" in response.json["errors"]["stage"][0]


def test_bad_conversion_requests(client, demo, new_lead) -> None:  # type: ignore[no-untyped-def]
    lead = new_lead()
    assert convert(client, demo, lead["id"], {}).status_code == 400
    assert convert(client, demo, lead["id"], {"invoice": {}}).status_code == 400
    assert convert(client, demo, lead["id"], {"deal": {"pipeline": "retail"}}).status_code == 422
    assert convert(client, demo, 99999, {"contact": {}}).status_code == 404
    assert (
        client.post(
            "/api/records/contact/1/convert", json={"targets": {"deal": {}}}, headers=demo
        ).status_code
        == 404
    )


def test_a_conversion_failing_at_the_last_target_leaves_nothing(
    client, demo, new_lead, counts
) -> None:  # type: ignore[no-untyped-def]
    lead = new_lead()
    before = counts()
    response = convert(
        client,
        demo,
        lead["id"],
        {
            "company": {"tin": "EE5"},
            "contact": {},
            "deal": {"probability": 300},
        },
    )
    assert response.status_code == 422 and list(response.json["errors"]) == ["deal"]
    assert counts() == before


def test_linking_an_existing_company_instead_of_creating_one(
    client, demo, new_lead, counts
) -> None:  # type: ignore[no-untyped-def]
    lead = new_lead(company_name="  ACME   ltd ")
    preview = convert(
        client, demo, lead["id"], {"company": {"tin": "NEW"}, "deal": {}}, dry_run=True
    ).json
    candidates = preview["duplicates"]["company"]
    assert [c["title"] for c in candidates] == ["Acme Ltd"] and candidates[0]["matched"] == ["name"]
    before = counts()
    done = convert(
        client, demo, lead["id"], {"company": {"use_existing": candidates[0]["id"]}, "deal": {}}
    )
    assert done.status_code == 201, done.json
    assert (
        set(done.json["created"]) == {"deal"}
        and done.json["linked"]["company"]["id"] == candidates[0]["id"]
    )
    assert done.json["created"]["deal"]["company"]["id"] == candidates[0]["id"]
    after = counts()
    assert (after["company"], after["deal"]) == (before["company"], before["deal"] + 1)


def test_a_source_lacking_a_field_of_its_success_stage_is_named_and_can_be_filled(  # type: ignore[no-untyped-def]
    client, demo, new_lead, counts
) -> None:
    """Issue 10.2: a lead without a Source (required from "Qualified" on) cannot reach
    "Converted"; the dry run and the refusal name the lead's own field next to the targets'
    ones, and ``source_values`` fills it on the way."""
    lead = new_lead(source=None)
    targets = {"contact": {}, "company": {}, "deal": {}}
    preview = convert(client, demo, lead["id"], targets, dry_run=True).json
    assert preview["missing"] == {"company": ["tin"], "lead": ["source"]}
    assert preview["errors"]["lead"] == {"source": ["Required from stage 'Qualified' on."]}
    before = counts()
    targets["company"] = {"tin": "EE10"}
    refused = convert(client, demo, lead["id"], targets)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert refused.json["errors"] == {"lead": {"source": ["Required from stage 'Qualified' on."]}}
    assert refused.json["missing"] == {"lead": ["source"]}
    assert counts() == before
    call = {"key": "call", "label": "Incoming call"}
    # the map carries the lead's Source as it will be, in the preview too
    checked = client.post(
        f"/api/records/lead/{lead['id']}/convert",
        json={"targets": targets, "source_values": {"source": "call"}, "dry_run": True},
        headers=demo,
    )
    assert checked.status_code == 200, checked.json
    assert checked.json["records"]["deal"]["source"] == call
    assert checked.json["records"]["contact"]["source"] == call
    done = client.post(
        f"/api/records/lead/{lead['id']}/convert",
        json={"targets": targets, "source_values": {"source": "call"}},
        headers=demo,
    )
    assert done.status_code == 201, done.json
    assert done.json["source"]["stage"] == "converted"
    assert done.json["source"]["source"] == call
    assert done.json["created"]["deal"]["source"] == call
    assert done.json["created"]["contact"]["source"] == call
