"""One permission policy on every path. Roles and grants are set up through the API; then
users try to get around them (lists, search, totals, ids, history, links, reference titles,
the metamodel, the OpenAPI document, filters and sorting on hidden fields) and fail."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_helpers import Caller, assert_problem
from configured_fixtures import configured

from trellis.accounts import create_user

SALES_GRANT = {
    "create": True,
    "read": "own",
    "update": "own",
    "delete": "none",
    "fields": {"margin": "hidden", "notes": "hidden", "probability": "read_only"},
}


def grant(admin: Caller, role: str, entity: str, rights: dict[str, Any]) -> dict[str, Any]:
    return admin.ok("PUT", f"/api/meta/roles/{role}/permissions/{entity}", rights)


@configured
def crm_built(factory, runtime, client, admin_headers):  # type: ignore[no-untyped-def]
    """Companies and deals. ``sam`` and ``sally`` (role sales) read, change and create their
    own deals only; a deal's margin and notes are hidden from them and its probability is
    read-only; they have no grant on companies. ``ivy`` has no grants at all. The
    administrator owns a secret deal for Secret Corp; sam owns a small one for the same
    company (linked by the administrator: sam cannot pick a company he cannot read).
    Returns the users' bearer headers and the records (``crm`` binds them to a test)."""
    admin = Caller(client, admin_headers)
    factory.entity("company", {"name": "text"}, title="{name}", lists={"source": ["web", "fair"]})
    factory.entity(
        "deal",
        {
            "name": "text",
            "margin": "integer",
            "notes": "text",
            "probability": "integer",
            "source": ("list", {"settings": {"list": "source"}}),
            "company": ("reference", {"settings": {"target": "company"}}),
        },
        title="{name}",
        pipelines={"sales": ["new", "won:success"]},
    )
    factory.meta("add_rule", "deal", "required", field="margin", from_stage="sales.won")
    role = admin.post("/api/meta/roles", {"key": "sales", "label": "Sales"})
    assert role.status_code == 201 and role.json["permissions"] == []
    assert grant(admin, "sales", "deal", SALES_GRANT) == {
        "role": "sales",
        "entity": "deal",
        **SALES_GRANT,
    }
    company = admin.ok("POST", "/api/records/company", {"name": "Secret Corp"}, 201)
    theirs = admin.ok(
        "POST",
        "/api/records/deal",
        {
            "name": "Big secret deal",
            "margin": 900,
            "notes": "walk-away price 1.2M",
            "probability": 10,
            "company": company["id"],
        },
        201,
    )
    headers = {"admin": admin_headers}
    for name, roles in (("sam", ["sales"]), ("sally", ["sales"]), ("ivy", ["user"])):
        with runtime.transaction() as session:
            create_user(session, name, f"{name}-password", roles)
        token = client.post(
            "/api/auth/token", json={"username": name, "password": f"{name}-password"}
        )
        assert token.status_code == 201, token.json
        headers[name] = {"Authorization": f"Bearer {token.json['token']}"}
    sam, sally = Caller(client, headers["sam"]), Caller(client, headers["sally"])
    mine = sam.ok("POST", "/api/records/deal", {"name": "Small deal", "source": "web"}, 201)
    mine = admin.ok(
        "PATCH",
        f"/api/records/deal/{mine['id']}",
        {"company": company["id"], "margin": 120, "notes": "discount code ZEBRA", "version": 1},
    )
    hers = sally.ok("POST", "/api/records/deal", {"name": "Sally's deal"}, 201)
    return {
        "headers": headers,
        "records": {"theirs": theirs, "mine": mine, "hers": hers, "company": company},
    }


@pytest.fixture
def crm(client, crm_built):  # type: ignore[no-untyped-def]
    """``crm_built``'s users as callers on the test's client (``admin``, ``sam``, ``sally``,
    ``ivy``) and its records (``theirs``, ``mine``, ``hers``, ``company``)."""
    callers = {name: Caller(client, headers) for name, headers in crm_built["headers"].items()}
    return {**callers, **crm_built["records"]}


TIMES = {"at", "created_at", "updated_at", "entered_at", "left_at", "expires_at"}


def untimed(body: Any) -> str:
    """``body`` as JSON text without its timestamps (their digits could spell anything)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in TIMES}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return json.dumps(strip(body))


def names(caller: Caller, query: str = "") -> list[str]:
    return [d["name"] for d in caller.ok("GET", f"/api/records/deal?sort=id&{query}")["items"]]


# -- read scope "own" --------------------------------------------------------------------


def test_lists_and_totals_show_only_own_records(crm) -> None:  # type: ignore[no-untyped-def]
    sam = crm["sam"]
    listing = sam.ok("GET", "/api/records/deal")
    assert [d["name"] for d in listing["items"]] == ["Small deal"] and listing["total"] == 1
    assert names(crm["sally"]) == ["Sally's deal"]
    assert names(crm["admin"]) == ["Big secret deal", "Small deal", "Sally's deal"]
    assert sam.ok("GET", "/api/records/deal?per_page=1&page=2") == {
        "items": [],
        "total": 1,
        "total_is_lower_bound": False,
        "page": 2,
        "per_page": 1,
        "next_cursor": None,
        "next": None,
    }


def test_search_and_filters_cannot_reach_others_records(crm) -> None:  # type: ignore[no-untyped-def]
    sam, theirs, hers = crm["sam"], crm["theirs"], crm["hers"]
    assert sam.ok("GET", "/api/records/deal?q=secret")["total"] == 0
    assert sam.ok("GET", "/api/records/deal?q=deal")["total"] == 1
    for query in (
        f"id={theirs['id']}",
        f"id__in={theirs['id']},{hers['id']}",
        f"owner={theirs['owner']}",
        f"created_by={hers['created_by']}",
        "owner__isnull=true",
        f"company={crm['company']['id']}&name__contains=Big",
        "probability=10",
    ):
        assert sam.ok("GET", f"/api/records/deal?{query}")["total"] == 0, query
    assert names(sam, "owner__isnull=false") == ["Small deal"]


def test_someone_elses_record_is_a_404_like_one_that_does_not_exist(crm) -> None:  # type: ignore[no-untyped-def]
    sam, theirs = crm["sam"], crm["theirs"]
    for record_id in (theirs["id"], crm["hers"]["id"], 999_999):
        for suffix in ("", "/history", "/links"):
            body = assert_problem(sam.get(f"/api/records/deal/{record_id}{suffix}"), 404)
            assert body["detail"] == f"No Deal with id {record_id}."


def test_changing_someone_elses_record_is_a_404_and_changes_nothing(crm) -> None:  # type: ignore[no-untyped-def]
    sam, admin, theirs = crm["sam"], crm["admin"], crm["theirs"]
    url = f"/api/records/deal/{theirs['id']}"
    assert_problem(sam.patch(url, {"name": "mine now", "version": 1}), 404)
    assert_problem(sam.patch(url, {"name": "mine now"}, headers={"If-Match": '"1"'}), 404)
    assert_problem(sam.post(f"{url}/stage", {"stage": "won"}), 404)
    assert_problem(sam.delete(url), 404)
    assert admin.ok("GET", url) == theirs
    assert admin.ok("GET", f"{url}/history")["items"][-1]["by"] == theirs["created_by"]


def test_nobody_can_plant_a_record_on_someone_else(crm) -> None:  # type: ignore[no-untyped-def]
    sam, mine = crm["sam"], crm["mine"]
    body = assert_problem(
        sam.post("/api/records/deal", {"name": "x", "owner": crm["theirs"]["owner"]}), 422, "owner"
    )
    assert body["errors"]["owner"] == ["Read-only."]
    assert_problem(
        sam.patch(f"/api/records/deal/{mine['id']}", {"owner": 1, "version": mine["version"]}),
        422,
        "owner",
    )
    assert names(crm["admin"]) == ["Big secret deal", "Small deal", "Sally's deal"]


def test_references_to_unreadable_records_carry_no_title(crm) -> None:  # type: ignore[no-untyped-def]
    sam, admin, mine, company = crm["sam"], crm["admin"], crm["mine"], crm["company"]
    assert sam.ok("GET", f"/api/records/deal/{mine['id']}")["company"] == {
        "id": company["id"],
        "title": None,
    }
    assert sam.ok("GET", "/api/records/deal")["items"][0]["company"]["title"] is None
    assert sam.ok("GET", f"/api/records/deal/{mine['id']}/links")["items"] == []
    # the same deal, once sales may read companies, names it: it is the policy that hid it
    grant(admin, "sales", "company", {"read": "all"})
    assert sam.ok("GET", f"/api/records/deal/{mine['id']}")["company"]["title"] == "Secret Corp"
    assert [
        link["title"] for link in sam.ok("GET", f"/api/records/deal/{mine['id']}/links")["items"]
    ] == ["Secret Corp"]


def test_links_of_a_readable_record_list_only_readable_records(crm) -> None:  # type: ignore[no-untyped-def]
    sam, admin, company = crm["sam"], crm["admin"], crm["company"]
    grant(admin, "sales", "company", {"read": "all"})
    links = sam.ok("GET", f"/api/records/company/{company['id']}/links")["items"]
    assert [(link["kind"], link["id"]) for link in links] == [("referenced_by", crm["mine"]["id"])]
    everything = admin.ok("GET", f"/api/records/company/{company['id']}/links")["items"]
    assert {link["id"] for link in everything} == {crm["mine"]["id"], crm["theirs"]["id"]}


def test_a_record_that_cannot_be_read_cannot_be_referenced_either(crm) -> None:  # type: ignore[no-untyped-def]
    sam, company = crm["sam"], crm["company"]
    unreadable = assert_problem(
        sam.post("/api/records/deal", {"name": "x", "company": company["id"]}), 422, "company"
    )
    missing = assert_problem(sam.post("/api/records/deal", {"name": "x", "company": 999}), 422)
    assert unreadable["errors"]["company"] == [f"No Company with id {company['id']}."]
    assert missing["errors"]["company"] == ["No Company with id 999."]
    assert names(sam) == ["Small deal"]
    # keeping a reference someone else set is fine
    mine = crm["mine"]
    kept = sam.ok(
        "PATCH",
        f"/api/records/deal/{mine['id']}",
        {"name": "Small deal, renamed", "company": {"id": company["id"]}, "version": 2},
    )
    assert kept["company"]["id"] == company["id"]


# -- hidden fields -----------------------------------------------------------------------


def test_a_hidden_field_never_appears_in_what_a_user_reads(crm) -> None:  # type: ignore[no-untyped-def]
    sam, mine = crm["sam"], crm["mine"]
    url = f"/api/records/deal/{mine['id']}"
    created = sam.ok("POST", "/api/records/deal", {"name": "Another"}, 201)
    updated = sam.ok("PATCH", url, {"name": "Renamed", "version": mine["version"]})
    moved = sam.post(f"{url}/stage", {"stage": "won"})  # margin was filled in by the admin
    assert moved.status_code == 200
    seen: list[Any] = [
        created,
        updated,
        moved.json,
        sam.ok("GET", url),
        sam.ok("GET", "/api/records/deal"),
        sam.ok("GET", f"{url}/history"),
    ]
    for body in seen:
        text = untimed(body)
        assert '"margin"' not in text and '"notes"' not in text
        assert "120" not in text and "ZEBRA" not in text
    assert {i["field"] for i in sam.ok("GET", f"{url}/history")["items"]} >= {"name", "stage"}
    assert "margin" in {i["field"] for i in crm["admin"].ok("GET", f"{url}/history")["items"]}


def test_a_hidden_field_is_not_in_the_openapi_document_nor_the_metamodel(crm) -> None:  # type: ignore[no-untyped-def]
    sam, admin = crm["sam"], crm["admin"]
    document = sam.ok("GET", "/api/openapi.json")
    schemas = document["components"]["schemas"]
    for schema in ("DealRecord", "DealCreate", "DealPatch"):
        assert not {"margin", "notes"} & set(schemas[schema]["properties"]), schema
    parameters = document["paths"]["/api/records/deal"]["get"]["parameters"]
    assert not {"margin", "notes"} & {p["name"] for p in parameters}
    assert "probability" not in schemas["DealCreate"]["properties"]  # read-only: not an input
    assert "probability" in schemas["DealRecord"]["properties"]
    entity = sam.ok("GET", "/api/meta/entities/deal")
    assert [f["key"] for f in entity["fields"]] == ["name", "probability", "source", "company"]
    assert entity["rules"] == []  # the one rule is about the margin: it would give it away
    assert sam.ok("GET", "/api/meta/entities/deal/rules")["items"] == []
    assert len(admin.ok("GET", "/api/meta/entities/deal/rules")["items"]) == 1
    assert {"margin", "notes"} <= set(
        admin.ok("GET", "/api/openapi.json")["components"]["schemas"]["DealRecord"]["properties"]
    )


@pytest.mark.parametrize(
    "query",
    [
        "margin=120",
        "margin__gt=100",
        "margin__lte=500",
        "margin__in=120,900",
        "margin__isnull=true",
        "margin__ne=0",
        "notes__contains=ZEBRA",
        "notes=discount code ZEBRA",
        "sort=margin",
        "sort=-margin",
        "sort=name,%2Bmargin",
    ],
)
def test_a_hidden_field_cannot_be_probed_by_filtering_or_sorting(crm, query) -> None:  # type: ignore[no-untyped-def]
    body = assert_problem(crm["sam"].get(f"/api/records/deal?{query}"), 400)
    [(key, messages)] = body["errors"].items()
    assert key in ("margin", "notes") and "Unknown" in messages[0]
    # word for word what a field that does not exist gets
    nonexistent = query.replace("margin", "nothing").replace("notes", "nothing")
    other = assert_problem(crm["sam"].get(f"/api/records/deal?{nonexistent}"), 400)
    assert other["errors"] == {"nothing": [messages[0].replace(key, "nothing")]}
    assert crm["admin"].get(f"/api/records/deal?{query}").status_code == 200


def test_a_hidden_field_cannot_be_found_by_search(crm) -> None:  # type: ignore[no-untyped-def]
    sam = crm["sam"]
    assert sam.ok("GET", "/api/records/deal?q=ZEBRA")["total"] == 0  # in the notes of sam's deal
    assert sam.ok("GET", "/api/records/deal?q=Small")["total"] == 1
    assert crm["admin"].ok("GET", "/api/records/deal?q=ZEBRA")["total"] == 1


def test_a_hidden_field_cannot_be_written(crm) -> None:  # type: ignore[no-untyped-def]
    sam, mine = crm["sam"], crm["mine"]
    url = f"/api/records/deal/{mine['id']}"
    for body in ({"margin": 1}, {"notes": "x"}):
        refused = assert_problem(sam.patch(url, {**body, "version": mine["version"]}), 422)
        assert refused["errors"] == {next(iter(body)): ["Unknown field."]}
        assert_problem(sam.post("/api/records/deal", {"name": "x", **body}), 422)
        assert_problem(sam.post(f"{url}/stage", {"stage": "won", "values": body}), 422)
    assert crm["admin"].ok("GET", url)["margin"] == 120


def test_a_title_made_of_a_hidden_field_does_not_show_it(crm) -> None:  # type: ignore[no-untyped-def]
    admin, sam, mine = crm["admin"], crm["sam"], crm["mine"]
    admin.ok("PATCH", "/api/meta/entities/deal", {"title": "{name} ({margin})"})
    assert admin.ok("GET", f"/api/records/deal/{mine['id']}")["title"] == "Small deal (120)"
    seen = sam.ok("GET", f"/api/records/deal/{mine['id']}")
    assert seen["title"] == f"Deal #{mine['id']}" and "120" not in untimed(seen)
    stale = assert_problem(
        sam.patch(f"/api/records/deal/{mine['id']}", {"name": "x", "version": 1}), 409
    )
    assert "120" not in stale["detail"]


def test_a_role_without_a_grant_does_not_lift_another_roles_limits(crm, admin, user) -> None:  # type: ignore[no-untyped-def]
    admin.ok("POST", "/api/meta/roles", {"key": "idle", "label": "Idle"}, 201)
    grant(admin, "idle", "deal", {})  # a grant that allows nothing
    for name, roles in (("sue", ["user", "sales"]), ("stan", ["sales", "idle"])):
        seller = user(name, roles)
        deal = seller.ok("POST", "/api/records/deal", {"name": name}, 201)
        assert "margin" not in deal and "notes" not in deal
        assert_problem(seller.get("/api/records/deal?margin__gt=0"), 400, "margin")
        refused = seller.patch(f"/api/records/deal/{deal['id']}", {"probability": 1, "version": 1})
        assert_problem(refused, 422, "probability")


def test_a_role_that_may_read_a_field_adds_to_another_role(crm, admin, user) -> None:  # type: ignore[no-untyped-def]
    admin.ok("POST", "/api/meta/roles", {"key": "auditor", "label": "Auditor"}, 201)
    grant(admin, "auditor", "deal", {"read": "all"})
    both = user("ada", ["sales", "auditor"])
    assert names(both) == ["Big secret deal", "Small deal", "Sally's deal"]
    assert both.ok("GET", f"/api/records/deal/{crm['theirs']['id']}")["margin"] == 900
    # reading more does not mean changing more: update stays "own"
    assert_problem(
        both.patch(f"/api/records/deal/{crm['theirs']['id']}", {"name": "x", "version": 1}), 403
    )


# -- read-only fields --------------------------------------------------------------------


def test_a_read_only_field_is_readable_but_not_writable(crm) -> None:  # type: ignore[no-untyped-def]
    sam, admin, mine = crm["sam"], crm["admin"], crm["mine"]
    url = f"/api/records/deal/{mine['id']}"
    admin.ok("PATCH", url, {"probability": 30, "version": mine["version"]})
    record = sam.ok("GET", url)
    assert record["probability"] == 30
    assert names(sam, "probability=30") == ["Small deal"]  # filtering on it is fine
    refused = assert_problem(sam.patch(url, {"probability": 99, "version": record["version"]}), 422)
    assert refused["errors"] == {"probability": ["Read-only."]}
    assert_problem(
        sam.post("/api/records/deal", {"name": "x", "probability": 1}), 422, "probability"
    )
    assert_problem(sam.post(f"{url}/stage", {"stage": "won", "values": {"probability": 99}}), 422)
    assert admin.ok("GET", url)["probability"] == 30 and admin.ok("GET", url)["stage"] == "new"


# -- update and delete scopes ------------------------------------------------------------


def test_update_and_delete_outside_the_grant_are_refused_and_nothing_changes(
    crm, admin, user
) -> None:  # type: ignore[no-untyped-def]
    sam, mine = crm["sam"], crm["mine"]
    url = f"/api/records/deal/{mine['id']}"
    assert_problem(sam.delete(url), 403)  # delete: none, even for his own deal
    assert sam.ok("GET", url)["version"] == mine["version"]
    admin.ok("POST", "/api/meta/roles", {"key": "reader", "label": "Reader"}, 201)
    grant(admin, "reader", "deal", {"read": "all", "update": "own", "delete": "own"})
    rita = user("rita", ["reader"])
    theirs = crm["theirs"]
    their_url = f"/api/records/deal/{theirs['id']}"
    assert rita.ok("GET", their_url)["name"] == "Big secret deal"  # she may read it...
    assert_problem(rita.patch(their_url, {"name": "x", "version": 1}), 403)  # ...not change it
    assert_problem(rita.post(f"{their_url}/stage", {"stage": "won"}), 403)
    assert_problem(rita.delete(their_url), 403)
    assert_problem(rita.post("/api/records/deal", {"name": "x"}), 403)  # no create
    assert admin.ok("GET", their_url) == theirs


def test_a_changed_grant_applies_on_the_next_request(crm) -> None:  # type: ignore[no-untyped-def]
    sam, admin = crm["sam"], crm["admin"]
    assert names(sam) == ["Small deal"]
    grant(admin, "sales", "deal", {**SALES_GRANT, "read": "all", "fields": {}})
    assert names(sam) == ["Big secret deal", "Small deal", "Sally's deal"]
    assert sam.ok("GET", f"/api/records/deal/{crm['theirs']['id']}")["margin"] == 900
    grant(admin, "sales", "deal", {})
    assert_problem(sam.get("/api/records/deal"), 404)


# -- no grant at all ---------------------------------------------------------------------


def test_no_grant_means_the_entity_type_does_not_exist_for_the_user(crm) -> None:  # type: ignore[no-untyped-def]
    ivy, mine = crm["ivy"], crm["mine"]
    for method, path, body in (
        ("GET", "/api/records/deal", None),
        ("GET", "/api/records/deal?q=deal", None),
        ("POST", "/api/records/deal", {"name": "x"}),
        ("GET", f"/api/records/deal/{mine['id']}", None),
        ("PATCH", f"/api/records/deal/{mine['id']}", {"name": "x", "version": 2}),
        ("DELETE", f"/api/records/deal/{mine['id']}", None),
        ("POST", f"/api/records/deal/{mine['id']}/stage", {"stage": "won"}),
        ("GET", f"/api/records/deal/{mine['id']}/history", None),
        ("GET", f"/api/records/deal/{mine['id']}/links", None),
        ("GET", "/api/meta/entities/deal", None),
        ("GET", "/api/meta/entities/deal/rules", None),
        ("GET", "/api/meta/entities/deal/pipelines/sales", None),
        ("GET", "/api/meta/entities/deal/duplicate-rules", None),
    ):
        response = ivy.open(method, path, body)
        assert_problem(response, 404)
        assert "deal" in response.json["detail"].lower()
    nonexistent = assert_problem(ivy.get("/api/records/nothing"), 404)
    assert assert_problem(ivy.get("/api/records/deal"), 404)["detail"] == nonexistent[
        "detail"
    ].replace("nothing", "deal")
    assert names(crm["admin"]) == ["Big secret deal", "Small deal", "Sally's deal"]


def test_entity_types_a_user_cannot_read_are_absent_from_the_metamodel(crm) -> None:  # type: ignore[no-untyped-def]
    sam, ivy, admin = crm["sam"], crm["ivy"], crm["admin"]
    admin.ok(
        "POST",
        "/api/meta/conversions",
        {
            "key": "deal_to_company",
            "source": "deal",
            "targets": {"company": {"fields": {"name": "name"}}},
        },
        201,
    )
    assert [e["key"] for e in admin.ok("GET", "/api/meta/entities")["items"]] == ["company", "deal"]
    assert [e["key"] for e in sam.ok("GET", "/api/meta/entities")["items"]] == ["deal"]
    assert ivy.ok("GET", "/api/meta/entities")["items"] == []
    for path in (
        "/api/meta/entities/company",
        "/api/meta/entities/company/rules",
        "/api/meta/entities/company/duplicate-rules",
        "/api/meta/conversions/deal_to_company",
    ):
        assert_problem(sam.get(path), 404)
    assert sam.ok("GET", "/api/meta/conversions")["items"] == []
    assert [m["key"] for m in admin.ok("GET", "/api/meta/conversions")["items"]] == [
        "deal_to_company"
    ]
    assert sam.ok("GET", "/api/meta/lists/source")["used_by"] == ["deal.source"]
    assert_problem(ivy.get("/api/meta/lists/source"), 404)  # no field she sees uses it
    assert ivy.ok("GET", "/api/meta/lists")["items"] == []
    paths = set(sam.ok("GET", "/api/openapi.json")["paths"])
    assert "/api/records/deal" in paths and "/api/records/company" not in paths
    assert not {
        p for p in ivy.ok("GET", "/api/openapi.json")["paths"] if p.startswith("/api/records")
    }


# -- configuration and roles -------------------------------------------------------------


def test_non_administrators_cannot_change_the_configuration_or_roles(crm) -> None:  # type: ignore[no-untyped-def]
    sam, admin = crm["sam"], crm["admin"]
    before = (
        admin.ok("GET", "/api/meta/entities"),
        admin.ok("GET", "/api/meta/roles"),
        admin.ok("GET", "/api/meta/lists"),
    )
    attempts = [
        ("PUT", "/api/meta/roles/sales/permissions/deal", {**SALES_GRANT, "read": "all"}),
        ("PUT", "/api/meta/roles/sales/permissions/deal", {**SALES_GRANT, "fields": {}}),
        ("PUT", "/api/meta/roles/sales/permissions/company", {"read": "all"}),
        ("POST", "/api/meta/roles", {"key": "boss", "label": "Boss"}),
        ("GET", "/api/meta/roles", None),
        ("POST", "/api/meta/entities", {"key": "hack", "label": "Hack"}),
        ("PATCH", "/api/meta/entities/deal", {"title": "{margin}"}),
        ("DELETE", "/api/meta/entities/deal", None),
        ("POST", "/api/meta/entities/deal/fields", {"key": "x", "label": "X", "type": "text"}),
        ("PATCH", "/api/meta/entities/deal/fields/margin", {"label": "Visible?"}),
        ("DELETE", "/api/meta/entities/deal/fields/probability", None),
        ("POST", "/api/meta/entities/deal/rules", {"kind": "required", "field": "name"}),
        ("DELETE", "/api/meta/entities/deal/rules/1", None),
        ("PATCH", "/api/meta/entities/deal/pipelines/sales", {"label": "Mine"}),
        ("POST", "/api/meta/lists", {"key": "l", "label": "L"}),
        ("PATCH", "/api/meta/lists/source/options/web", {"label": "Hacked"}),
        ("POST", "/api/meta/conversions", {"key": "c", "source": "deal", "targets": {}}),
        ("POST", "/api/meta/entities/deal/duplicate-rules", {"fields": ["name"]}),
        # a malformed body is refused for who sends it, not for what it holds
        ("POST", "/api/meta/entities/deal/fields", {"key": 1, "type": {}}),
        ("POST", "/api/meta/flows", []),
    ]
    for method, path, body in attempts:
        assert_problem(sam.open(method, path, body), 403)
    after = (
        admin.ok("GET", "/api/meta/entities"),
        admin.ok("GET", "/api/meta/roles"),
        admin.ok("GET", "/api/meta/lists"),
    )
    assert after == before
    assert names(sam) == ["Small deal"]  # still own only, margin still hidden
    assert "margin" not in sam.ok("GET", f"/api/records/deal/{crm['mine']['id']}")


def test_roles_and_grants_as_the_administrator_sees_them(crm) -> None:  # type: ignore[no-untyped-def]
    admin = crm["admin"]
    roles = {r["key"]: r for r in admin.ok("GET", "/api/meta/roles")["items"]}
    assert set(roles) == {"admin", "user", "sales"}
    assert (roles["admin"]["builtin"], roles["sales"]["builtin"]) == (True, False)
    assert roles["sales"]["permissions"] == [{"role": "sales", "entity": "deal", **SALES_GRANT}]
    assert_problem(admin.post("/api/meta/roles", {"key": "sales", "label": "Again"}), 409)
    assert_problem(
        admin.post("/api/meta/roles", {"key": "Sales Team", "label": ""}), 422, "key", "label"
    )
    assert_problem(
        admin.post("/api/meta/roles", {"key": "x", "label": "X", "rank": 1}), 422, "rank"
    )
    bad = assert_problem(
        admin.put(
            "/api/meta/roles/sales/permissions/deal",
            {
                "create": "yes",
                "read": "some",
                "fields": {"nothing": "hidden", "name": "secret"},
                "x": 1,
            },
        ),
        422,
        "create",
        "read",
        "fields.name",
        "x",
    )
    assert bad["errors"]["fields.name"] == ["Use one of: hidden, read_only."]
    # what only the configuration knows is checked once the body is well formed
    unknown = assert_problem(
        admin.put(
            "/api/meta/roles/sales/permissions/deal",
            {"fields": {"nothing": "hidden", "name": "read_only"}},
        ),
        422,
        "fields",
    )
    assert unknown["errors"]["fields"] == ["Unknown field 'nothing'."]
    assert_problem(admin.put("/api/meta/roles/nobody/permissions/deal", {}), 404)
    assert_problem(admin.put("/api/meta/roles/sales/permissions/nothing", {}), 404)
    assert_problem(
        admin.put("/api/meta/roles/admin/permissions/deal", {"read": "own"}), 422, "role"
    )
    assert admin.ok("GET", "/api/meta/roles")["items"] == list(roles.values())  # nothing changed


def test_the_administrator_may_do_everything(crm) -> None:  # type: ignore[no-untyped-def]
    admin, mine = crm["admin"], crm["mine"]
    assert names(admin) == ["Big secret deal", "Small deal", "Sally's deal"]
    assert names(admin, "margin__gt=500") == ["Big secret deal"]
    record = admin.ok("GET", f"/api/records/deal/{mine['id']}")
    assert (record["margin"], record["notes"]) == (120, "discount code ZEBRA")
    assert admin.ok("GET", f"/api/records/deal/{mine['id']}")["company"]["title"] == "Secret Corp"
    changed = admin.ok(
        "PATCH",
        f"/api/records/deal/{mine['id']}",
        {"probability": 80, "version": record["version"]},
    )
    assert changed["probability"] == 80
    assert admin.delete(f"/api/records/deal/{mine['id']}").status_code == 204
    assert names(crm["sam"]) == []


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/api/meta/automations", "Only administrators read and change automations."),
        ("POST", "/api/meta/automations", "Only administrators may change the configuration."),
        ("GET", "/api/meta/flows", "Only administrators read and change flows."),
        ("GET", "/api/meta/roles", "Only administrators may read roles."),
        ("POST", "/api/meta/entities", "Only administrators may change the configuration."),
        ("GET", "/api/packs", "Only administrators read and apply packs."),
        ("POST", "/api/packs", "Only administrators read and apply packs."),
    ],
)
def test_what_only_administrators_do_is_refused_to_others_saying_so(  # type: ignore[no-untyped-def]
    user, method: str, path: str, message: str
) -> None:
    ivy = user("ivy", ["user"])
    assert assert_problem(ivy.open(method, path, {}), 403)["detail"] == message
