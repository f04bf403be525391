"""What the document says of record bodies, and what it declares it cannot say: a create,
a change or a stage move whose body matches the document is accepted, or refused with a 422
naming only the operation's ``x-configuration-dependent`` properties (a user, a referenced
record or an option that must exist, a unique value, a field a conditional or stage rule
checks, the pipeline and stage); a PATCH naming a pipeline needs the stage
(``dependentRequired``); a change may not empty a field that is always required."""

from __future__ import annotations

import jsonschema
import pytest
from api_helpers import Caller, assert_problem
from configured_fixtures import configured

from trellis.api.blueprint import CONFIGURATION_DEPENDENT, is_declared


@configured
def deal_types(factory, client, admin_headers):  # type: ignore[no-untyped-def]
    factory.entity(
        "firm", {"name": ("text", {"required": True}), "code": ("text", {"unique": True})}
    )
    factory.entity(
        "deal",
        {
            "name": ("text", {"required": True}),
            "amount": "integer",
            "owner_user": "user",
            "firm": ("reference", {"settings": {"target": "firm"}}),
            "source": ("list", {"settings": {"list": "source"}}),
        },
        pipelines={"sales": ["new", "quote", "won:success"], "other": ["open"]},
        lists={"source": ["web", "call"]},
    )
    rule = {"kind": "required", "field": "amount", "from_stage": "sales.quote"}
    Caller(client, admin_headers).ok("POST", "/api/meta/entities/deal/rules", rule, 201)


@pytest.fixture
def deals(deal_types, admin):  # type: ignore[no-untyped-def]
    return admin


def _operation(document, method: str, path: str):  # type: ignore[no-untyped-def]
    return document["paths"][path][method]


def _validator(document, name: str) -> jsonschema.Draft202012Validator:  # type: ignore[no-untyped-def]
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    )


def test_record_writes_declare_what_the_configuration_decides(deals) -> None:  # type: ignore[no-untyped-def]
    document = deals.ok("GET", "/api/openapi.json")
    expected = ["amount", "firm", "owner_user", "pipeline", "source", "stage"]
    for method, path in (
        ("post", "/api/records/deal"),
        ("patch", "/api/records/deal/{id}"),
        ("post", "/api/records/deal/{id}/stage"),
    ):
        assert _operation(document, method, path)[CONFIGURATION_DEPENDENT] == expected
    # a firm's unique code: taken values are the stored records' business
    assert _operation(document, "post", "/api/records/firm")[CONFIGURATION_DEPENDENT] == ["code"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"name": "A", "owner_user": 99999}, {"owner_user"}),
        ({"name": "A", "owner_user": "nobody"}, {"owner_user"}),
        ({"name": "A", "firm": 99999}, {"firm"}),
        ({"name": "A", "source": "fax"}, {"source"}),
        ({"name": "A", "pipeline": "sales", "stage": "quote"}, {"amount"}),
        ({"name": "A", "pipeline": "sales", "stage": "nowhere"}, {"stage"}),
        ({"name": "A", "pipeline": "nowhere"}, {"pipeline"}),
    ],
)
def test_a_valid_create_is_refused_only_for_declared_properties(deals, body, named) -> None:  # type: ignore[no-untyped-def]
    document = deals.ok("GET", "/api/openapi.json")
    assert _validator(document, "DealCreate").is_valid(body)
    response = deals.post("/api/records/deal", body)
    assert_problem(response, 422)
    assert set(response.json["errors"]) == named
    declared = _operation(document, "post", "/api/records/deal")[CONFIGURATION_DEPENDENT]
    assert all(is_declared(name, declared) for name in named)


def test_the_document_refuses_what_the_server_refuses_of_a_change(deals) -> None:  # type: ignore[no-untyped-def]
    document = deals.ok("GET", "/api/openapi.json")
    created = deals.ok("POST", "/api/records/deal", {"name": "A"}, 201)
    url = f"/api/records/deal/{created['id']}"
    patch = _validator(document, "DealPatch")
    for body, status in (
        ({"pipeline": "other", "version": 1}, 400),  # a move needs the stage
        ({"name": None, "version": 1}, 422),  # always required
        ({"name": "  ", "version": 1}, 422),
        ({"firm": 0, "version": 1}, 422),  # record ids start at 1
    ):
        assert not patch.is_valid(body), body
        assert deals.patch(url, body).status_code == status, body
    moved = {"pipeline": "other", "stage": "open", "version": 1}
    assert patch.is_valid(moved)
    assert deals.patch(url, moved).status_code == 200
    values = _validator(document, "DealStageMove")
    assert not values.is_valid({"stage": "open", "values": {"name": None}})
    refused = deals.post(f"{url}/stage", {"stage": "open", "values": {"name": None}})
    assert_problem(refused, 422, "name")


@configured
def lead_types(deal_types, factory, client, admin_headers):  # type: ignore[no-untyped-def]
    deals = Caller(client, admin_headers)
    factory.entity(
        "lead", {"name": ("text", {"required": True})}, pipelines={"l": ["new", "won:success"]}
    )
    conversion = {
        "key": "lead_to_deal",
        "label": "Lead to deal",
        "source": "lead",
        "targets": {"firm": {"fields": {"name": "name"}}, "deal": {"fields": {"name": "name"}}},
    }
    deals.ok("POST", "/api/meta/conversions", conversion, 201)
    return deals.ok("POST", "/api/records/lead", {"name": "Initech"}, 201)


@pytest.fixture
def leads(deals, lead_types):  # type: ignore[no-untyped-def]
    return {"admin": deals, "lead": lead_types}


def test_conversion_targets_are_typed_by_the_target_entity_types(leads) -> None:  # type: ignore[no-untyped-def]
    admin, lead = leads["admin"], leads["lead"]
    document = admin.ok("GET", "/api/openapi.json")
    request = _validator(document, "LeadConversionRequest")
    url = f"/api/records/lead/{lead['id']}/convert"
    # wrong for the target's own fields: the document and the server refuse alike
    for targets in (
        {"deal": {"amount": "many"}},
        {"deal": {"nothing": 1}},
        {"firm": {"name": " "}},
    ):
        assert not request.is_valid({"targets": targets, "dry_run": True}), targets
        refused = admin.post(url, {"targets": targets})
        assert refused.status_code in (400, 422), (targets, refused.json)
    # well typed, but the configuration decides: a 422 under declared paths only
    declared = _operation(document, "post", "/api/records/lead/{id}/convert")[
        CONFIGURATION_DEPENDENT
    ]
    body = {"targets": {"deal": {"source": "fax"}, "firm": {"use_existing": 99999}}}
    assert request.is_valid(body)
    response = admin.post(url, body)
    assert_problem(response, 422)
    named = {f"{t}.{k}" for t, errors in response.json["errors"].items() for k in errors}
    assert named == {"deal.source", "firm.use_existing"}
    assert all(is_declared(name, declared) for name in named)
    created = admin.post(url, {"targets": {"deal": {"amount": 3}, "firm": {}}})
    assert created.status_code == 201, created.json
    records = _validator(document, "LeadConversion")
    assert records.is_valid(created.json), list(records.iter_errors(created.json))[:3]


def test_what_fuzzing_found_the_document_and_server_agree_on(factory, admin) -> None:  # type: ignore[no-untyped-def]
    factory.entity("item", {"name": "text", "rate": "decimal", "email": "email", "site": "url"})
    document = admin.ok("GET", "/api/openapi.json")
    properties = document["components"]["schemas"]["ItemCreate"]["properties"]
    assert properties["email"]["maxLength"] == 254
    long_address = "a@" + "b" * 250 + ".ee"  # 255 characters
    assert_problem(admin.post("/api/records/item", {"email": long_address}), 422, "email")
    # a web address is at most 2,000 characters: the document says so too
    assert properties["site"]["maxLength"] == 2000
    long_site = "https://example.com/" + "p" * 1981  # 2,001 characters
    assert_problem(admin.post("/api/records/item", {"site": long_site}), 422, "site")
    admin.ok("POST", "/api/records/item", {"name": "S", "site": long_site[:2000]}, 201)
    # a number finer than any column's places compares, on every database
    for query in ("rate__gte=-1.1125369292536007e-308", "rate__lt=1e-400", "rate=1e-308"):
        response = admin.get(f"/api/records/item?{query}")
        assert response.status_code == 200, (query, response.json)
    item = admin.ok("POST", "/api/records/item", {"name": "A", "rate": "0.5"}, 201)
    assert admin.get("/api/records/item?rate__gt=1e-308").json["items"] != []
    assert admin.get("/api/records/item?rate__lt=1e-308").json["items"] == []
    # a version of 3.0 is the integer 3, as JSON (and the document's integer) has it
    changed = admin.patch(f"/api/records/item/{item['id']}", {"name": "B", "version": 1.0})
    assert changed.status_code == 200, changed.json


def test_numbers_as_text_are_what_the_document_s_pattern_says(factory, admin) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "quote", {"price": "decimal", "cost": ("money", {"settings": {"currencies": ["EUR"]}})}
    )
    document = admin.ok("GET", "/api/openapi.json")
    validator = _validator(document, "QuoteCreate")
    for text, accepted in (
        ("12.50", True),
        (" 12.5 ", True),
        ("1e2", True),
        (".5", True),
        ("", False),
        ("1_000", False),  # Python's Decimal reads it; the document does not
        ("١٢", False),  # digits beyond ASCII
        ("12,50", False),
    ):
        for body in ({"price": text}, {"cost": text}, {"cost": {"amount": text}}):
            assert validator.is_valid(body) is accepted, (text, body)
            answer = admin.open("POST", "/api/records/quote", body)
            assert (answer.status_code == 201) is accepted, (text, body, answer.json)
            if not accepted:
                assert_problem(answer, 422)


def test_stage_and_pipeline_keys_are_documented_without_nul(deals) -> None:  # type: ignore[no-untyped-def]
    document = deals.ok("GET", "/api/openapi.json")
    for name in ("DealPatch", "DealCreate"):
        assert not _validator(document, name).is_valid({"stage": "new\x00", "pipeline": "sales"})
    record = deals.ok("POST", "/api/records/deal", {"name": "x"}, 201)
    assert_problem(
        deals.open("PATCH", f"/api/records/deal/{record['id']}", {"stage": "new\x00"}), 400
    )


def test_an_unknown_query_parameter_of_the_task_list_is_a_400(admin) -> None:  # type: ignore[no-untyped-def]
    assert admin.ok("GET", "/api/tasks") == {"items": []}
    assert_problem(admin.open("GET", "/api/tasks?asignee=admin"), 400)
