"""Conversion maps as data: checked when saved, constants and expressions, value tables,
field transfer with a shared list, and fields a map uses cannot be archived."""

from __future__ import annotations

import pytest


@pytest.fixture
def maps(client, demo):  # type: ignore[no-untyped-def]
    def save(targets: dict, key: str = "test_map", method: str = "post"):  # type: ignore[no-untyped-def]
        body = {"key": key, "source": "lead", "targets": targets}
        if method == "put":
            return client.put(f"/api/meta/conversions/{key}", json=body, headers=demo)
        return client.post("/api/meta/conversions", json=body, headers=demo)

    return save


@pytest.mark.parametrize(
    ("fields", "path", "text"),
    [
        (
            {"position": "comments"},
            "targets.contact.fields.position",
            "characters",
        ),  # long into short
        (
            {"birthday": "name"},
            "targets.contact.fields.birthday",
            "cannot fill",
        ),  # text into a date
        ({"nothing": "name"}, "targets.contact.fields.nothing", "no field"),
        ({"first_name": "nothing"}, "targets.contact.fields.first_name", "no field"),
        (
            {"first_name": {"expr": "frist_name"}},
            "targets.contact.fields.first_name",
            "Unknown name",
        ),
        ({"birthday": {"value": "not a date"}}, "targets.contact.fields.birthday", "date"),
        ({"source": "industry"}, "targets.contact.fields.source", "different lists"),
    ],
)
def test_saving_a_map_checks_everything(maps, fields, path, text) -> None:  # type: ignore[no-untyped-def]
    response = maps({"contact": {"fields": fields}})
    assert response.status_code == 422, response.json
    assert text in " ".join(response.json["errors"][path])


def test_maps_are_listed_read_replaced_and_deleted(client, demo, maps) -> None:  # type: ignore[no-untyped-def]
    assert maps({"contact": {"fields": {"first_name": "first_name"}}}).status_code == 201
    assert maps({"contact": {}}).status_code == 409
    keys = [m["key"] for m in client.get("/api/meta/conversions", headers=demo).json["items"]]
    assert keys == ["lead_conversion", "test_map"]
    replaced = maps(
        {"deal": {"fields": {"name": "name"}, "pipeline": "wholesale", "stage": "quote"}},
        method="put",
    )
    assert replaced.status_code == 200 and list(replaced.json["targets"]) == ["deal"]
    bad_stage = maps({"deal": {"pipeline": "wholesale", "stage": "proposal"}}, method="put")
    assert bad_stage.status_code == 422 and "targets.deal.stage" in bad_stage.json["errors"]
    assert client.delete("/api/meta/conversions/test_map", headers=demo).status_code == 204
    assert client.get("/api/meta/conversions/test_map", headers=demo).status_code == 404


def test_constants_expressions_and_value_tables_fill_targets(client, demo, maps, new_lead) -> None:  # type: ignore[no-untyped-def]
    client.delete("/api/meta/conversions/lead_conversion", headers=demo)
    saved = maps(
        {
            "contact": {
                "fields": {
                    "first_name": {"expr": "upper(first_name)"},
                    "position": {"value": "Buyer"},
                    "source": "source",
                }
            },
            "company": {
                "fields": {
                    "name": "company_name",
                    "tin": {"value": "EE0"},
                    "company_type": {"value": "customer"},
                }
            },
        }
    )
    assert saved.status_code == 201, saved.json
    lead = new_lead()
    done = client.post(
        f"/api/records/lead/{lead['id']}/convert",
        json={"targets": {"contact": {}, "company": {}}},
        headers=demo,
    )
    assert done.status_code == 201, done.json
    contact = done.json["created"]["contact"]
    assert (contact["first_name"], contact["position"]) == ("PETER", "Buyer")
    assert done.json["created"]["company"]["company_type"] == {
        "key": "customer",
        "label": "Customer",
    }


def test_a_value_table_maps_options_between_different_lists(client, demo, maps, new_lead) -> None:  # type: ignore[no-untyped-def]
    client.delete("/api/meta/conversions/lead_conversion", headers=demo)
    bad = maps(
        {
            "company": {
                "fields": {"name": "company_name", "tin": {"value": "X"}, "company_type": "source"},
                "values": {"company_type": {"website": "nonsense"}},
            }
        }
    )
    assert bad.status_code == 422
    saved = maps(
        {
            "company": {
                "fields": {"name": "company_name", "tin": {"value": "X"}, "company_type": "source"},
                "values": {"company_type": {"website": "customer", "partner": "partner"}},
            }
        }
    )
    assert saved.status_code == 201, saved.json
    lead = new_lead(source="website")
    done = client.post(
        f"/api/records/lead/{lead['id']}/convert", json={"targets": {"company": {}}}, headers=demo
    )
    assert done.json["created"]["company"]["company_type"]["key"] == "customer"


def test_a_field_a_map_uses_cannot_be_archived(client, demo) -> None:  # type: ignore[no-untyped-def]
    response = client.delete("/api/meta/entities/lead/fields/company_name", headers=demo)
    assert response.status_code == 422
    assert "The conversion “Convert a lead” uses it." in str(response.json["errors"])
    target_side = client.delete("/api/meta/entities/deal/fields/description", headers=demo)
    assert target_side.status_code == 422


def test_transfer_creates_the_field_with_the_shared_list(client, demo, new_lead) -> None:  # type: ignore[no-untyped-def]
    h = demo
    assert (
        client.post(
            "/api/meta/lists",
            json={
                "key": "channel",
                "label": "Channel",
                "options": [
                    {"key": "email", "label": "E-mail"},
                    {"key": "phone", "label": "Phone"},
                ],
            },
            headers=h,
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/meta/entities/lead/fields",
            json={
                "key": "channel",
                "label": "Channel",
                "type": "list",
                "settings": {"list": "channel"},
            },
            headers=h,
        ).status_code
        == 201
    )
    transferred = client.post(
        "/api/meta/conversions/lead_conversion/transfer",
        json={"field": "channel", "target": "deal"},
        headers=h,
    )
    assert transferred.status_code == 201, transferred.json
    assert transferred.json["type"] == "list" and transferred.json["settings"] == {
        "list": "channel"
    }
    mapping = client.get("/api/meta/conversions/lead_conversion", headers=h).json
    assert mapping["targets"]["deal"]["fields"]["channel"] == "channel"
    again = client.post(
        "/api/meta/conversions/lead_conversion/transfer",
        json={"field": "channel", "target": "deal"},
        headers=h,
    )
    assert again.status_code == 422

    lead = new_lead(channel="phone")
    deal = client.post(
        f"/api/records/lead/{lead['id']}/convert", json={"targets": {"deal": {}}}, headers=h
    ).json["created"]["deal"]
    assert deal["channel"] == {"key": "phone", "label": "Phone"}
    # the list stays shared: rename, add and retire show on the lead and the deal alike
    client.patch("/api/meta/lists/channel/options/phone", json={"label": "Telephone"}, headers=h)
    client.post("/api/meta/lists/channel/options", json={"key": "chat", "label": "Chat"}, headers=h)
    client.patch("/api/meta/lists/channel/options/email", json={"active": False}, headers=h)
    assert (
        client.get(f"/api/records/deal/{deal['id']}", headers=h).json["channel"]["label"]
        == "Telephone"
    )
    assert (
        client.get(f"/api/records/lead/{lead['id']}", headers=h).json["channel"]["label"]
        == "Telephone"
    )
    for entity in ("lead", "deal"):
        body = {
            "name": "x",
            "channel": "chat",
            **({"phone": "+372 1234"} if entity == "lead" else {}),
        }
        assert client.post(f"/api/records/{entity}", json=body, headers=h).status_code == 201
        body["channel"] = "email"
        retired = client.post(f"/api/records/{entity}", json=body, headers=h)
        assert retired.status_code == 422 and "retired" in retired.json["errors"]["channel"][0]


def test_a_field_a_conversion_map_uses_keeps_its_type(client, demo) -> None:  # type: ignore[no-untyped-def]
    response = client.patch(
        "/api/meta/entities/lead/fields/email", json={"type": "text"}, headers=demo
    )
    assert response.status_code == 422
    assert "The conversion “Convert a lead” uses it." in response.json["errors"]["type"][0]


def test_a_replaced_map_takes_its_key_from_the_path(client, demo) -> None:  # type: ignore[no-untyped-def]
    """The document's PUT body has no key (the path names the map); one read from GET can be
    sent back as it is (its key is the path's), another key is a 400 and changes nothing."""
    path = "/api/meta/conversions/lead_conversion"
    read = client.get(path, headers=demo).json
    body = {k: read[k] for k in ("label", "source", "targets")}
    document = client.get("/api/openapi.json", headers=demo).json
    replace = document["components"]["schemas"]["ConversionMapReplace"]
    assert "key" not in replace["properties"] and replace["additionalProperties"] is False
    assert client.put(path, json=body, headers=demo).status_code == 200
    assert client.put(path, json={**body, "key": "lead_conversion"}, headers=demo).json == read
    other = client.put(path, json={**body, "key": "other"}, headers=demo)
    assert other.status_code == 400 and other.json["errors"] == {"key": ["Cannot be changed."]}
    # no map has a key that breaks the pattern: replacing one is a 404, not a 422 about it
    assert client.put("/api/meta/conversions/No+Map", json=body, headers=demo).status_code == 404


@pytest.mark.parametrize(
    ("targets", "named"),
    [
        ({}, "targets"),
        ({"nothing": {}}, "targets.nothing"),
        ({"lead": {}}, "targets.lead"),
        ({"contact": {"fields": {"nothing": "name"}}}, "targets.contact.fields.nothing"),
        ({"deal": {"pipeline": "nowhere"}}, "targets.deal.pipeline"),
        ({"deal": {"pipeline": "wholesale", "stage": "nowhere"}}, "targets.deal.stage"),
    ],
)
def test_what_a_map_names_is_declared_configuration_dependent(  # type: ignore[no-untyped-def]
    client, demo, maps, targets, named
) -> None:
    """A 422 about a well-typed map names only what the operations declare (an empty
    ``targets`` is the schema's own ``minProperties``)."""
    from trellis.api.blueprint import CONFIGURATION_DEPENDENT, is_declared

    document = client.get("/api/openapi.json", headers=demo).json
    for method, response in (
        ("post", maps(targets)),
        ("put", maps(targets, "lead_conversion", "put")),
    ):
        assert response.status_code == 422 and set(response.json["errors"]) == {named}
        path = "/api/meta/conversions" + ("" if method == "post" else "/{key}")
        declared = document["paths"][path][method][CONFIGURATION_DEPENDENT]
        assert is_declared(named, declared) == (named != "targets"), (method, named)
    body = document["components"]["schemas"]["ConversionMapBody"]["properties"]["targets"]
    assert body["minProperties"] == 1
