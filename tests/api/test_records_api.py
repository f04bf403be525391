"""The records part of the API contract (``/api/records``): the record shape, filters, sort,
paging and search, versions, stage moves, history and links, and problems for bad input
(never a 500)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from api_helpers import Caller, assert_problem
from configured_fixtures import configured
from sqlalchemy import select

from trellis.accounts import User

SYSTEM_KEYS = {"id", "version", "title", "created_at", "updated_at", "created_by", "owner"}
DEAL_FIELDS = {
    "name",
    "amount",
    "source",
    "tags",
    "company",
    "contact",
    "close",
    "probability",
    "discount",
    "signed_at",
}


@configured
def crm_types(factory, admin_headers):  # type: ignore[no-untyped-def]
    """Companies, contacts (referring to a company) and deals in a pipeline whose ``proposal``
    stage needs an amount and a close date."""
    factory.entity(
        "company",
        {"name": "text", "tin": "text"},
        title="{name}",
        lists={"source": ["web", "call", "fair"]},
    )
    factory.entity(
        "contact",
        {
            "first_name": "text",
            "last_name": "text",
            "company": ("reference", {"settings": {"target": "company"}}),
        },
        title="{first_name} {last_name}",
    )
    factory.entity(
        "deal",
        {
            "name": "text",
            "amount": ("money", {"settings": {"currencies": ["EUR", "USD"]}}),
            "source": ("list", {"settings": {"list": "source"}}),
            "tags": ("multi_list", {"settings": {"list": "source"}}),
            "company": ("reference", {"settings": {"target": "company", "on_delete": "set_null"}}),
            "contact": ("reference", {"settings": {"target": "contact", "on_delete": "restrict"}}),
            "close": "date",
            "probability": ("integer", {"settings": {"min": 0, "max": 100}}),
            "discount": "decimal",
            "signed_at": "datetime",
        },
        title="{name}",
        pipelines={"sales": ["new", "proposal", "won:success", "lost:failure"]},
    )
    factory.meta("add_rule", "deal", "required", field="amount", from_stage="sales.proposal")
    factory.meta("add_rule", "deal", "required", field="close", from_stage="sales.proposal")


@pytest.fixture
def crm(crm_types, admin):  # type: ignore[no-untyped-def]
    """The administrator, on ``crm_types``."""
    return admin


def admin_id(runtime) -> int:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return session.scalar(select(User.id).where(User.username == "root"))


def count(caller, entity: str = "deal") -> int:  # type: ignore[no-untyped-def]
    return caller.ok("GET", f"/api/records/{entity}")["total"]


# -- the record shape --------------------------------------------------------------------


def test_a_created_record_has_the_documented_shape(crm, runtime) -> None:  # type: ignore[no-untyped-def]
    admin = crm
    company = admin.ok("POST", "/api/records/company", {"name": "Acme", "tin": "EE1"}, 201)
    assert set(company) == SYSTEM_KEYS | {"name", "tin"}  # no pipeline, no stage keys
    response = admin.post(
        "/api/records/deal",
        {
            "name": "Apollo",
            "amount": {"amount": "12.5", "currency": "USD"},
            "source": "web",
            "tags": ["call", "web"],
            "company": company["id"],
            "close": "2026-12-01",
            "probability": 40,
            "discount": 0.1,
            "signed_at": "2026-11-30T10:00:00+02:00",
        },
    )
    assert response.status_code == 201 and response.headers["ETag"] == '"1"'
    deal = response.json
    assert set(deal) == SYSTEM_KEYS | DEAL_FIELDS | {"pipeline", "stage"}
    me = admin_id(runtime)
    assert (deal["version"], deal["title"], deal["created_by"], deal["owner"]) == (
        1,
        "Apollo",
        me,
        me,
    )
    assert deal["created_at"] == deal["updated_at"] and deal["created_at"].endswith("+00:00")
    assert deal["amount"] == {"amount": "12.50", "currency": "USD"}
    assert deal["source"] == {"key": "web", "label": "Web"}
    assert deal["tags"] == [{"key": "web", "label": "Web"}, {"key": "call", "label": "Call"}]
    assert deal["company"] == {"id": company["id"], "title": "Acme"}
    assert deal["contact"] is None
    assert (deal["close"], deal["probability"], deal["discount"]) == ("2026-12-01", 40, "0.10")
    assert deal["signed_at"] == "2026-11-30T08:00:00+00:00"  # kept in UTC
    assert (deal["pipeline"], deal["stage"]) == ("sales", "new")
    assert admin.ok("GET", f"/api/records/deal/{deal['id']}") == deal
    assert admin.get(f"/api/records/deal/{deal['id']}").headers["ETag"] == '"1"'


def test_empty_values_and_defaults(crm) -> None:  # type: ignore[no-untyped-def]
    deal = crm.ok("POST", "/api/records/deal", {}, 201)
    assert {k: deal[k] for k in DEAL_FIELDS} == {
        **dict.fromkeys(DEAL_FIELDS),
        "tags": [],
    }
    assert deal["title"] == f"Deal #{deal['id']}"  # no name, no title text
    bare = crm.ok("POST", "/api/records/deal", {"amount": "99"}, 201)
    assert bare["amount"] == {"amount": "99.00", "currency": "EUR"}  # the first currency


def test_what_the_api_reads_it_accepts_back_unchanged(crm) -> None:  # type: ignore[no-untyped-def]
    admin = crm
    company = admin.ok("POST", "/api/records/company", {"name": "Acme"}, 201)
    deal = admin.ok(
        "POST",
        "/api/records/deal",
        {
            "name": "Round trip",
            "amount": {"amount": "5", "currency": "EUR"},
            "source": "fair",
            "tags": ["fair"],
            "company": company["id"],
        },
        201,
    )
    url = f"/api/records/deal/{deal['id']}"
    history = admin.ok("GET", f"{url}/history")["items"]
    echoed = {k: deal[k] for k in DEAL_FIELDS} | {"version": deal["version"]}
    again = admin.ok("PATCH", url, echoed)
    assert again == deal  # nothing changed, so nothing was written: same version
    assert admin.ok("GET", f"{url}/history")["items"] == history


# -- listing -----------------------------------------------------------------------------


@configured
def deal_rows(crm_types, client, admin_headers):  # type: ignore[no-untyped-def]
    """Four deals to filter, sort and search; returns the company ids."""
    admin = Caller(client, admin_headers)
    acme = admin.ok("POST", "/api/records/company", {"name": "Acme"}, 201)["id"]
    globex = admin.ok("POST", "/api/records/company", {"name": "Globex"}, 201)["id"]
    rows: list[dict[str, Any]] = [
        {
            "name": "Alpha",
            "amount": {"amount": "100", "currency": "EUR"},
            "source": "web",
            "tags": ["web"],
            "probability": 10,
            "close": "2026-01-10",
            "company": acme,
        },
        {
            "name": "Beta",
            "amount": {"amount": "250.50", "currency": "USD"},
            "source": "call",
            "tags": ["web", "call"],
            "probability": 50,
            "close": "2026-02-20",
        },
        {"name": "Gamma", "company": globex},
        {
            "name": "50% off",
            "source": "fair",
            "probability": 90,
            "stage": "proposal",
            "amount": "1",
            "close": "2026-03-01",
        },
    ]
    for row in rows:
        admin.ok("POST", "/api/records/deal", row, 201)
    return acme, globex


@pytest.fixture
def deals(crm, deal_rows):  # type: ignore[no-untyped-def]
    """``deal_rows``: the caller and the company ids."""
    return crm, *deal_rows


def names(caller, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The names of the deals a list query returns, in order."""
    return [d["name"] for d in caller.ok("GET", f"/api/records/deal?{query}")["items"]]


FILTERS = [
    ("source=web", ["Alpha"]),
    ("probability=50", ["Beta"]),
    ("source__eq=call", ["Beta"]),
    ("source__ne=web", ["Beta", "Gamma", "50% off"]),  # an empty value is "not web"
    ("probability__lt=50", ["Alpha"]),
    ("probability__lte=50", ["Alpha", "Beta"]),
    ("probability__gt=10", ["Beta", "50% off"]),
    ("probability__gte=10", ["Alpha", "Beta", "50% off"]),
    ("amount__gte=250.5", ["Beta"]),
    ("close__lt=2026-02-01", ["Alpha"]),
    ("source__in=web,call", ["Alpha", "Beta"]),
    ("probability__in=10,90", ["Alpha", "50% off"]),
    ("name__contains=ET", ["Beta"]),
    ("name__contains=%25", ["50% off"]),  # % is a character, not a wildcard
    ("tags__contains=call", ["Beta"]),
    ("tags__in=call,fair", ["Beta"]),
    ("close__isnull=true", ["Gamma"]),
    ("close__isnull=false", ["Alpha", "Beta", "50% off"]),
    ("company__isnull=true", ["Beta", "50% off"]),
    ("tags__isnull=true", ["Gamma", "50% off"]),
    ("stage=proposal", ["50% off"]),
    ("stage__in=new,won", ["Alpha", "Beta", "Gamma"]),
    ("probability__gte=5&probability__lte=60", ["Alpha", "Beta"]),  # all filters apply
    ("source=web&probability=50", []),
]


def test_filters_with_every_operator(deals) -> None:  # type: ignore[no-untyped-def]
    admin, _acme, _globex = deals
    for query, expected in FILTERS:
        assert names(admin, f"{query}&sort=id") == expected, query


def test_filters_on_references_and_system_fields(deals, runtime) -> None:  # type: ignore[no-untyped-def]
    admin, acme, globex = deals
    assert names(admin, f"company={acme}") == ["Alpha"]
    assert names(admin, f"company__in={acme},{globex}&sort=name") == ["Alpha", "Gamma"]
    assert names(admin, f"owner={admin_id(runtime)}&sort=id") == [
        "Alpha",
        "Beta",
        "Gamma",
        "50% off",
    ]
    first = admin.ok("GET", "/api/records/deal?sort=id&per_page=1")["items"][0]
    assert names(admin, f"id__gt={first['id']}&sort=id") == ["Beta", "Gamma", "50% off"]
    created = first["created_at"].replace("+", "%2B")
    assert len(names(admin, f"created_at__gte={created}")) == 4
    assert names(admin, f"created_at__lt={created}") == []


def test_sort_by_several_keys(deals) -> None:  # type: ignore[no-untyped-def]
    admin, _acme, _globex = deals
    assert names(admin, "sort=name") == ["50% off", "Alpha", "Beta", "Gamma"]
    assert names(admin, "sort=-name") == ["Gamma", "Beta", "Alpha", "50% off"]
    assert names(admin, "sort=-probability") == ["50% off", "Beta", "Alpha", "Gamma"]  # empty last
    assert names(admin, "sort=probability") == ["Gamma", "Alpha", "Beta", "50% off"]  # empty first
    assert names(admin, "sort=stage,-name") == ["Gamma", "Beta", "Alpha", "50% off"]
    assert names(admin, "sort=-id")[0] == "50% off"


def test_paging_and_totals(deals) -> None:  # type: ignore[no-untyped-def]
    admin, _acme, _globex = deals
    pages = [admin.ok("GET", f"/api/records/deal?sort=name&per_page=3&page={n}") for n in (1, 2, 3)]
    assert [[d["name"] for d in p["items"]] for p in pages] == [
        ["50% off", "Alpha", "Beta"],
        ["Gamma"],
        [],
    ]
    assert [(p["total"], p["page"], p["per_page"]) for p in pages] == [(4, n, 3) for n in (1, 2, 3)]
    default = admin.ok("GET", "/api/records/deal")
    assert (default["page"], default["per_page"], default["total"]) == (1, 50, 4)
    assert admin.ok("GET", "/api/records/deal?per_page=200")["per_page"] == 200
    filtered = admin.ok("GET", "/api/records/deal?source=web&per_page=1")
    assert filtered["total"] == 1  # the total counts what matches, not the page


def test_search(deals) -> None:  # type: ignore[no-untyped-def]
    admin, _acme, _globex = deals
    assert names(admin, "q=ALP") == ["Alpha"]
    assert names(admin, "q=a&sort=name") == ["Alpha", "Beta", "Gamma"]
    assert names(admin, "q=%25") == ["50% off"]
    assert names(admin, "q=_") == []
    assert names(admin, "q=a&source=call") == ["Beta"]  # search and filters together
    assert admin.ok("GET", "/api/records/deal?q=nothing-like-this")["total"] == 0


BAD_QUERIES = [
    ("per_page=201", "per_page"),
    ("per_page=0", "per_page"),
    ("per_page=ten", "per_page"),
    ("page=0", "page"),
    ("page=-1", "page"),
    ("page=99999999999999999999999", "page"),
    ("page=9223372036854775807", "page"),
    ("nothing=1", "nothing"),
    ("name__like=a", "name__like"),
    ("amount__contains=1", "amount"),
    ("probability__gt=abc", "probability"),
    ("probability=99999999999999999999999", "probability"),
    ("id=99999999999999999999999", "id"),
    # what the document forbids (ids from 0, keys never empty) the server refuses too
    ("id=-1", "id"),
    ("owner__ne=-5", "owner"),
    ("version__gte=-1", "version"),
    ("stage=", "stage"),
    ("pipeline__ne=", "pipeline"),
    ("close__gt=yesterday", "close"),
    ("signed_at__gt=9999-12-31T23:59:59-14:00", "signed_at"),
    ("created_at__gt=0001-01-01T00:00:00%2B14:00", "created_at"),
    ("amount__gt=1e999999", "amount"),
    ("discount__lt=NaN", "discount"),
    ("tags__contains=", "tags"),
    ("close__isnull=maybe", "close"),
    ("sort=nothing", "nothing"),
    ("sort=tags", "tags"),
    ("q=a%00b", "q"),
    ("name=a%00b", "name"),
]


def test_bad_list_queries_are_a_400_naming_the_parameter(deals) -> None:  # type: ignore[no-untyped-def]
    admin, _acme, _globex = deals
    for query, named in BAD_QUERIES:
        response = admin.get(f"/api/records/deal?{query}")
        assert response.status_code == 400, (query, response.get_data(as_text=True))
        assert_problem(response, 400, named)


def test_every_bad_filter_is_reported_at_once(deals) -> None:  # type: ignore[no-untyped-def]
    admin, _acme, _globex = deals
    body = assert_problem(
        admin.get("/api/records/deal?nothing=1&probability__gt=abc&close__contains=x"),
        400,
        "nothing",
        "probability",
        "close",
    )
    assert "Unknown field" in body["errors"]["nothing"][0]


# -- changing and deleting ---------------------------------------------------------------


def test_patch_needs_the_version_read(crm) -> None:  # type: ignore[no-untyped-def]
    admin = crm
    deal = admin.ok("POST", "/api/records/deal", {"name": "v1", "probability": 10}, 201)
    url = f"/api/records/deal/{deal['id']}"
    for body in ({"name": "x"}, {"name": "x", "version": "1"}, {"name": "x", "version": True}):
        assert_problem(admin.patch(url, body), 400, "version")
    assert_problem(admin.patch(url, {"name": "x"}, headers={"If-Match": "*"}), 400, "version")
    after_body = admin.patch(url, {"name": "v2", "version": 1})
    assert after_body.status_code == 200 and after_body.headers["ETag"] == '"2"'
    assert (after_body.json["name"], after_body.json["version"]) == ("v2", 2)
    assert datetime.fromisoformat(after_body.json["updated_at"]) > datetime.fromisoformat(
        deal["updated_at"]
    )
    after_header = admin.patch(url, {"name": "v3"}, headers={"If-Match": '"2"'})
    assert after_header.status_code == 200 and after_header.json["version"] == 3
    weak = admin.patch(url, {"name": "v4"}, headers={"If-Match": 'W/"3"'})
    assert weak.status_code == 200 and weak.json["version"] == 4


def test_a_stale_write_is_a_409_and_writes_nothing(crm) -> None:  # type: ignore[no-untyped-def]
    admin = crm
    deal = admin.ok("POST", "/api/records/deal", {"name": "first", "probability": 10}, 201)
    url = f"/api/records/deal/{deal['id']}"
    admin.ok("PATCH", url, {"probability": 40, "version": 1})
    stale = assert_problem(admin.patch(url, {"name": "lost", "probability": 90, "version": 1}), 409)
    assert stale["current"] == {"version": 2}
    assert_problem(admin.patch(url, {"name": "lost"}, headers={"If-Match": '"1"'}), 409)
    # beyond what a version column holds: no record has it, and the body says so (a 422)
    assert_problem(admin.patch(url, {"name": "lost", "version": 10**30}), 422, "version")
    now = admin.ok("GET", url)
    assert (now["name"], now["probability"], now["version"]) == ("first", 40, 2)
    assert len([i for i in admin.ok("GET", f"{url}/history")["items"] if i["field"] == "name"]) == 1


def test_patch_problems_are_reported_by_field_and_nothing_is_written(crm) -> None:  # type: ignore[no-untyped-def]
    admin = crm
    deal = admin.ok("POST", "/api/records/deal", {"name": "keep"}, 201)
    url = f"/api/records/deal/{deal['id']}"
    body = assert_problem(
        admin.patch(
            url,
            {
                "version": 1,
                "name": "changed",
                "probability": 101,
                "id": 5,
                "owner": 99,
                "created_at": "2020-01-01T00:00:00",
                "stage": "nowhere",
                "colour": "red",
            },
        ),
        422,
        "probability",
        "id",
        "owner",
        "created_at",
        "stage",
        "colour",
    )
    # a stage in the body is a move, checked with the rest
    assert body["errors"]["stage"] == ["Pipeline 'Sales' has no stage 'nowhere'."]
    assert body["errors"]["colour"] == ["Unknown field."]
    assert admin.ok("GET", url) == deal


def test_delete(crm) -> None:  # type: ignore[no-untyped-def]
    admin = crm
    deal = admin.ok("POST", "/api/records/deal", {"name": "gone"}, 201)
    url = f"/api/records/deal/{deal['id']}"
    assert_problem(admin.delete(url, headers={"If-Match": '"7"'}), 409)
    assert admin.ok("GET", url)["name"] == "gone"
    assert admin.delete(url, headers={"If-Match": '"1"'}).status_code == 204
    assert_problem(admin.get(url), 404)
    assert_problem(admin.delete(url), 404)
    other = admin.ok("POST", "/api/records/deal", {"name": "also gone"}, 201)
    assert admin.delete(f"/api/records/deal/{other['id']}").status_code == 204  # If-Match optional
    assert count(admin) == 0


def test_deleting_a_referenced_record_follows_the_fields_rule(crm) -> None:  # type: ignore[no-untyped-def]
    admin = crm
    acme = admin.ok("POST", "/api/records/company", {"name": "Acme"}, 201)
    peter = admin.ok("POST", "/api/records/contact", {"first_name": "Peter"}, 201)
    deal = admin.ok(
        "POST",
        "/api/records/deal",
        {"name": "d", "company": acme["id"], "contact": peter["id"]},
        201,
    )
    refused = assert_problem(admin.delete(f"/api/records/contact/{peter['id']}"), 409)
    assert "refer to it" in refused["detail"]
    assert admin.ok("GET", f"/api/records/contact/{peter['id']}")["first_name"] == "Peter"
    assert admin.delete(f"/api/records/company/{acme['id']}").status_code == 204
    after = admin.ok("GET", f"/api/records/deal/{deal['id']}")
    assert after["company"] is None and after["version"] == 2  # set to empty, as a change
    history = admin.ok("GET", f"/api/records/deal/{deal['id']}/history")["items"]
    assert {"field": "company", "old": acme["id"], "new": None}.items() <= history[-1].items()


# -- stages ------------------------------------------------------------------------------


def test_moving_to_a_stage_lists_every_missing_field_of_that_stage(crm) -> None:  # type: ignore[no-untyped-def]
    admin = crm
    deal = admin.ok("POST", "/api/records/deal", {"name": "s"}, 201)
    url = f"/api/records/deal/{deal['id']}"
    refused = assert_problem(admin.post(f"{url}/stage", {"stage": "proposal"}), 422)
    assert set(refused["errors"]) == {"amount", "close"}
    assert admin.ok("GET", url)["stage"] == "new"
    half = assert_problem(
        admin.post(f"{url}/stage", {"stage": "proposal", "values": {"amount": "10"}}), 422
    )
    assert set(half["errors"]) == {"close"}
    assert admin.ok("GET", url)["amount"] is None  # nothing of a refused move is kept
    moved = admin.post(
        f"{url}/stage",
        {"stage": "proposal", "values": {"amount": "10", "close": "2027-01-31"}, "version": 1},
    )
    assert moved.status_code == 200 and moved.headers["ETag"] == '"2"'
    assert (moved.json["stage"], moved.json["amount"]["amount"], moved.json["close"]) == (
        "proposal",
        "10.00",
        "2027-01-31",
    )
    assert admin.ok("POST", f"{url}/stage", {"stage": "won"})["stage"] == "won"


def test_stage_move_problems(crm) -> None:  # type: ignore[no-untyped-def]
    admin = crm
    deal = admin.ok("POST", "/api/records/deal", {"name": "s"}, 201)
    url = f"/api/records/deal/{deal['id']}/stage"
    assert_problem(admin.post(url, {"stage": "nowhere"}), 422, "stage")
    assert_problem(admin.post(url, {"stage": "won", "pipeline": "nowhere"}), 422, "pipeline")
    assert_problem(admin.post(url, {}), 422, "stage")
    assert_problem(admin.post(url, {"stage": ["won"]}), 422, "stage")
    assert_problem(admin.post(url, {"stage": "won", "why": "x"}), 422, "why")
    assert_problem(admin.post(url, {"stage": "won", "values": [1]}), 422, "values")
    assert_problem(
        admin.post(url, {"stage": "won", "values": {"probability": "x"}}), 422, "probability"
    )
    assert_problem(admin.post(url, {"stage": "won", "version": 5}), 409)
    assert_problem(admin.post("/api/records/deal/999/stage", {"stage": "won"}), 404)
    company = admin.ok("POST", "/api/records/company", {"name": "c"}, 201)
    assert_problem(admin.post(f"/api/records/company/{company['id']}/stage", {"stage": "x"}), 400)
    assert admin.ok("GET", f"/api/records/deal/{deal['id']}")["stage"] == "new"


# -- history and links -------------------------------------------------------------------


def test_history_lists_who_changed_which_field_when(crm, runtime) -> None:  # type: ignore[no-untyped-def]
    admin = crm
    deal = admin.ok("POST", "/api/records/deal", {"name": "h", "source": "web"}, 201)
    url = f"/api/records/deal/{deal['id']}"
    admin.ok("PATCH", url, {"name": "h2", "source": "call", "version": 1})
    admin.ok(
        "POST",
        f"{url}/stage",
        {"stage": "proposal", "values": {"amount": "3", "close": "2027-01-01"}},
    )
    items = admin.ok("GET", f"{url}/history")["items"]
    assert all({"at", "by", "field", "old", "new"} <= set(item) for item in items)
    assert {item["by"] for item in items} == {admin_id(runtime)}
    changes = [(i["field"], i["old"], i["new"]) for i in items]
    assert ("name", None, "h") in changes and ("source", None, "web") in changes
    assert changes.index(("name", "h", "h2")) > changes.index(("name", None, "h"))
    assert ("source", "web", "call") in changes  # option keys, so a renamed label stays true
    assert ("stage", "new", "proposal") in changes
    assert ("amount", None, {"amount": "3.00", "currency": "EUR"}) in changes
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)


def test_stage_visits_say_who_moved_the_record_in_and_out_and_for_how_long(  # type: ignore[no-untyped-def]
    crm, runtime, user
) -> None:
    admin = crm
    deal = admin.ok("POST", "/api/records/deal", {"name": "s"}, 201)
    url = f"/api/records/deal/{deal['id']}"
    first = admin.ok("GET", f"{url}/stages")["items"]
    assert [(v["pipeline"], v["stage"], v["left_at"]) for v in first] == [("sales", "new", None)]
    values = {"amount": "3", "close": "2027-01-01"}
    admin.ok("POST", f"{url}/stage", {"stage": "proposal", "values": values})
    admin.ok("POST", f"{url}/stage", {"stage": "lost"})
    visits = admin.ok("GET", f"{url}/stages")["items"]
    me = admin_id(runtime)
    assert [(v["stage"], v["entered_by"], v["left_by"]) for v in visits] == [
        ("new", me, me),
        ("proposal", me, me),
        ("lost", me, None),
    ]
    assert all(v["seconds"] >= 0 for v in visits) and visits[-1]["left_at"] is None
    assert visits[0]["left_at"] == visits[1]["entered_at"]
    assert_problem(admin.get("/api/records/deal/999/stages"), 404)
    outsider = user("ivy", ["user"])  # no grant on deals: the record does not exist for her
    assert outsider.get(f"{url}/stages").status_code in (403, 404)
    paths = admin.ok("GET", "/api/openapi.json")["paths"]
    assert "/api/records/deal/{id}/stages" in paths
    assert "/api/records/company/{id}/stages" not in paths  # no pipelines, no stages


def test_links_show_a_reference_from_both_sides(crm) -> None:  # type: ignore[no-untyped-def]
    admin = crm
    acme = admin.ok("POST", "/api/records/company", {"name": "Acme"}, 201)
    peter = admin.ok(
        "POST",
        "/api/records/contact",
        {"first_name": "Peter", "last_name": "G", "company": acme["id"]},
        201,
    )
    assert peter["company"] == {"id": acme["id"], "title": "Acme"}
    from_contact = admin.ok("GET", f"/api/records/contact/{peter['id']}/links")["items"]
    assert from_contact == [
        {
            "kind": "reference",
            "entity": "company",
            "id": acme["id"],
            "title": "Acme",
            "field": "company",
        }
    ]
    from_company = admin.ok("GET", f"/api/records/company/{acme['id']}/links")["items"]
    assert from_company == [
        {
            "kind": "referenced_by",
            "entity": "contact",
            "id": peter["id"],
            "title": "Peter G",
            "field": "company",
        }
    ]
    admin.ok("PATCH", f"/api/records/contact/{peter['id']}", {"company": None, "version": 1})
    assert admin.ok("GET", f"/api/records/company/{acme['id']}/links")["items"] == []


# -- unknown things and bad input --------------------------------------------------------


UNKNOWN = [
    ("GET", "/api/records/deal/999"),
    ("PATCH", "/api/records/deal/999"),
    ("DELETE", "/api/records/deal/999"),
    ("POST", "/api/records/deal/999/stage"),
    ("GET", "/api/records/deal/999/history"),
    ("GET", "/api/records/deal/999/links"),
    ("GET", "/api/records/deal/99999999999999999999999"),
    ("GET", "/api/records/deal/-1"),
    ("GET", "/api/records/deal/abc"),
    ("GET", "/api/records/nothing"),
    ("POST", "/api/records/nothing"),
    ("GET", "/api/records/nothing/1"),
    ("GET", "/api/records/de%00al/1"),
]


def test_unknown_records_and_entity_types_are_a_404(crm) -> None:  # type: ignore[no-untyped-def]
    for method, path in UNKNOWN:
        body = {"stage": "won"} if path.endswith("/stage") else {"version": 1, "name": "x"}
        response = crm.open(method, path, body)
        assert response.status_code == 404, (method, path, response.get_data(as_text=True))
        assert_problem(response, 404)


def test_every_problem_of_a_record_is_reported_at_once(crm) -> None:  # type: ignore[no-untyped-def]
    admin = crm
    body = assert_problem(
        admin.post(
            "/api/records/deal",
            {
                "name": 5,
                "amount": "lots",
                "source": "nope",
                "tags": ["web", "nope"],
                "company": 999,
                "close": "31/12/2026",
                "probability": 1.5,
                "discount": "0.001",
                "signed_at": "soon",
                "colour": "red",
            },
        ),
        422,
    )
    assert set(body["errors"]) == DEAL_FIELDS - {"contact"} | {"colour"}
    assert body["errors"]["company"] == ["No Company with id 999."]
    assert count(admin) == 0


BAD_VALUES = [
    {"name": ["x"]},
    {"name": {"x": 1}},
    {"name": "a\x00b"},
    {"name": "x" * 100_000},
    {"probability": 10**30},
    {"probability": 2**63},
    {"probability": -(2**63) - 1},
    {"probability": 1e308},
    {"probability": "NaN"},
    {"amount": "1e999999"},
    {"amount": {"amount": "1" * 40}},
    {"amount": {"amount": "1", "currency": "GBP"}},
    {"amount": {"amount": "1", "currency": "eur"}},
    {"amount": {"sum": "1"}},
    {"amount": [1]},
    {"amount": True},
    {"discount": 1e308},
    {"discount": "1e-999999"},
    {"discount": "Infinity"},
    {"company": 10**30},
    {"company": 0},
    {"company": "1"},
    {"company": {"id": "x"}},
    {"tags": "web"},
    {"tags": [["web"]]},
    {"tags": [None]},
    {"source": {"key": None}},
    {"source": ["web"]},
    {"close": [1]},
    {"close": "0000-01-01"},
    {"close": "2026-02-30"},
    {"signed_at": "9999-12-31T23:59:59-14:00"},
    {"signed_at": 12345},
    {"pipeline": {"x": 1}},
    {"stage": 5},
    {"stage": "nowhere"},
    {"version": 1},
    {"": 1},
    {"name\x00": "x"},
]


def test_bad_values_are_a_4xx_problem_never_a_500(crm) -> None:  # type: ignore[no-untyped-def]
    for values in BAD_VALUES:
        response = crm.post("/api/records/deal", values)
        assert response.status_code in (400, 422), (values, response.get_data(as_text=True))
        assert assert_problem(response, response.status_code)["errors"], values
    assert count(crm) == 0


NOT_JSON_OBJECTS = [
    ("name=x", "application/x-www-form-urlencoded"),
    ("name=x", "text/plain"),
    ("{not json", "application/json"),
    ("[1, 2]", "application/json"),
    ('"a string"', "application/json"),
    ("null", "application/json"),
    ("", "application/json"),
    ('{"name": ' + "[" * 50_000 + "]" * 50_000 + "}", "application/json"),
    (b"\xff\xfe", "application/json"),
]


def test_bodies_that_are_not_a_json_object_are_a_400(crm) -> None:  # type: ignore[no-untyped-def]
    deal = crm.ok("POST", "/api/records/deal", {"name": "keep"}, 201)
    for data, content_type in NOT_JSON_OBJECTS:
        for method, path in (
            ("POST", "/api/records/deal"),
            ("PATCH", f"/api/records/deal/{deal['id']}"),
            ("POST", f"/api/records/deal/{deal['id']}/stage"),
        ):
            response = crm.raw(method, path, data, content_type)
            assert response.status_code == 400, (method, path, data[:20], content_type)
            assert_problem(response, 400)
    assert crm.ok("GET", f"/api/records/deal/{deal['id']}") == deal
    assert count(crm) == 1


def test_unsupported_methods_are_a_405_problem(crm) -> None:  # type: ignore[no-untyped-def]
    response = crm.put("/api/records/deal", {})
    assert_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
