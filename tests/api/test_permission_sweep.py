"""The generated permission sweep: for each user of a world with hidden fields and scoped
grants (see ``leak_world``), every read path, through the API and the web app, is checked not
to reveal a planted hidden value or anything of a record the user may not read.

Paths: records (one, list, filters, sort, search), export, history, links, stage visits,
kanban sums, lookups, forms, the conversion (preview and real run, API and wizard), import dry
runs, error messages of refused writes, the metamodel and the OpenAPI document. Filters and
sorting on a hidden field must not act as an oracle either: asking about the true value and
about a false one gives the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from leak_world import (
    ADMIN_CODE,
    ADMIN_DEAL,
    ADMIN_MARGIN,
    HIDDEN_EMAIL,
    LEAD_AMOUNT,
    SASHA_MARGIN,
    SECRETS,
    build_world,
    leaks,
)

from trellis.access.models import ProbeEvent

USERS = sorted(SECRETS)
ENTITIES = ("company", "contact", "lead", "deal", "note")


@pytest.fixture(scope="module")
def world(new_database, tmp_path_factory):  # type: ignore[no-untyped-def]
    from trellis.app import create_app

    folder = tmp_path_factory.mktemp("sweep")
    with new_database(folder, demo=True) as url:
        app = create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": str(folder / "instance"),
                "SECRET_KEY": "sweep-secret",
            }
        )
        app.config["TESTING"] = True
        runtime = app.extensions["trellis"]
        try:
            yield build_world(app, runtime)
        finally:
            runtime.dispose()


@pytest.fixture(autouse=True)
def no_throttle(world) -> None:  # type: ignore[no-untyped-def]
    """Each path is swept unthrottled (the probing tests check the throttle itself)."""
    with world["runtime"].transaction() as session:
        session.execute(ProbeEvent.__table__.delete())


def untouchable(ids: dict[str, int]) -> list[tuple[str, int]]:
    """Records no swept user may delete (deleting one would change the others' world)."""
    return [("deal", ids["admin_deal"]), ("contact", ids["hidden_contact"]), ("note", ids["note"])]


def all_ids(world: dict[str, Any]) -> list[int]:
    """Every id planted anywhere (ids of one entity type are tried on all of them)."""
    return sorted(set(world["ids"].values()) | {1, 2, 3})


def field_keys(world: dict[str, Any], entity: str) -> list[str]:
    with world["runtime"].transaction() as session:
        return list(world["runtime"].model(session).entities[entity].fields)


# -- the read paths, each a generator of (label, response[, values the request carried]) ------


def api_records(world: dict[str, Any], user: str) -> Iterator[tuple[Any, ...]]:
    api = world["api"][user]
    for entity in ENTITIES:
        yield entity, api.get(f"/api/records/{entity}?per_page=200")
        for record_id in all_ids(world):
            base = f"/api/records/{entity}/{record_id}"
            for suffix in ("", "/history", "/links", "/stages"):
                yield base + suffix, api.get(base + suffix)


def api_search_filter_sort(world: dict[str, Any], user: str) -> Iterator[tuple[Any, ...]]:
    api = world["api"][user]
    for entity in ENTITIES:
        keys = field_keys(world, entity)
        for secret in [*SECRETS[user][:1], ADMIN_CODE, HIDDEN_EMAIL, ADMIN_DEAL]:
            yield f"{entity} q={secret}", api.get(f"/api/records/{entity}?q={secret}"), [secret]
        for key in keys:
            for query in (
                f"{key}={ADMIN_MARGIN}",
                f"{key}__gt=0",
                f"{key}__isnull=false",
                f"sort={key}",
                f"sort=-{key}",
            ):
                response = api.get(f"/api/records/{entity}?{query}&per_page=200")
                yield f"{entity}?{query}", response, [str(ADMIN_MARGIN)]


def api_metamodel(world: dict[str, Any], user: str) -> Iterator[tuple[Any, ...]]:
    api = world["api"][user]
    yield "openapi", api.get("/api/openapi.json")
    for path in ("/api/meta/entities", "/api/meta/lists", "/api/meta/conversions"):
        yield path, api.get(path)
    for entity in ENTITIES:
        for suffix in ("", "/rules", "/duplicate-rules", "/pipelines/sales"):
            path = f"/api/meta/entities/{entity}{suffix}"
            yield path, api.get(path)
    for key in ("source", "industry", "company_type"):
        yield key, api.get(f"/api/meta/lists/{key}")


def api_refused_writes(world: dict[str, Any], user: str) -> Iterator[tuple[Any, ...]]:
    """Error messages: writes that are refused (nothing here may succeed: it would change the
    world of the other tests)."""
    api = world["api"][user]
    ids = world["ids"]
    for entity in ENTITIES:
        for record_id in all_ids(world):
            base = f"/api/records/{entity}/{record_id}"
            yield f"stale {base}", api.patch(base, {"name": "x", "version": 999})
            yield f"bad {base}", api.patch(base, {"probability": -5, "version": 999})
            yield f"won {base}", api.post(f"{base}/stage", {"stage": "won", "version": 999})
    for deal in (ids["admin_deal"], ids["sasha_deal"]):
        base = f"/api/records/deal/{deal}"
        version = world["api"]["admin"].ok("GET", base)["version"]
        yield f"probe {base}", api.patch(base, {"probability": 1, "version": version})
        yield f"clear {base}", api.patch(base, {"description": None, "version": version})
    # the sasha deal has a margin but no amount: a move to "won" is refused
    base = f"/api/records/deal/{ids['sasha_deal']}"
    yield "move", api.post(f"{base}/stage", {"stage": "won"})
    for entity, record_id in untouchable(ids):
        yield f"delete {entity}/{record_id}", api.delete(f"/api/records/{entity}/{record_id}")
    for body in ({"name": "x", "code": ADMIN_CODE, "z": 1}, {"name": "", "code": ADMIN_CODE}):
        yield "taken code", api.post("/api/records/deal", body), [ADMIN_CODE]
    yield "reference", api.post("/api/records/deal", {"name": "", "contact": ids["hidden_contact"]})


def api_imports(world: dict[str, Any], user: str) -> Iterator[tuple[Any, ...]]:
    api = world["api"][user]
    for body in (
        f"code,probability\n{ADMIN_CODE},1\n{ADMIN_CODE},99\n",
        f"code,name\n{ADMIN_CODE},renamed\n",
        f"name,contact\nx,{HIDDEN_EMAIL}\ny,#{world['ids']['hidden_contact']}\n",
        f"name,margin\nx,{ADMIN_MARGIN}\n",
    ):
        for query in ("dry_run=true&match=code", "dry_run=true"):
            response = api.raw("POST", f"/api/records/deal/import?{query}", body, "text/csv")
            yield f"import {query} {body!r}", response, [str(ADMIN_MARGIN), HIDDEN_EMAIL]


def api_conversion(world: dict[str, Any], user: str) -> Iterator[tuple[Any, ...]]:
    api, admin = world["api"][user], world["api"]["admin"]
    lead = world["ids"]["lead"]
    url = f"/api/records/lead/{lead}/convert"
    for targets in (
        {"contact": {"email": "not-an-email"}},
        {"deal": {}},
        {"deal": {}, "contact": {}, "company": {"tin": "EE9"}},
        {"deal": {"name": ""}},
    ):
        yield f"dry run {targets}", api.post(url, {"targets": targets, "dry_run": True})
    fresh = admin.ok(
        "POST",
        "/api/records/lead",
        {
            "name": f"Fresh lead for {user}",
            "email": f"{user}@fresh.example",
            "source": "call",
            "amount": {"amount": str(LEAD_AMOUNT), "currency": "EUR"},
        },
        201,
    )
    yield (
        "real run",
        api.post(
            f"/api/records/lead/{fresh['id']}/convert", {"targets": {"deal": {}, "contact": {}}}
        ),
    )
    yield "converted lead", api.get(f"/api/records/lead/{fresh['id']}/links")
    yield "deals after", api.get("/api/records/deal?per_page=200")


def web_pages(world: dict[str, Any], user: str) -> Iterator[tuple[Any, ...]]:
    web = world["web"][user]
    yield "/", web.get("/")
    for entity in ENTITIES:
        for path in (
            f"/records/{entity}",
            f"/records/{entity}/export.csv",
            f"/records/{entity}/export.csv?sort=-margin",
            f"/records/{entity}/kanban",
            f"/records/{entity}/kanban?pipeline=wholesale",
            f"/records/{entity}/new",
            f"/records/{entity}/import",
        ):
            yield path, web.get(path)
        for query in (f"q={ADMIN_CODE}", "q=Quackenbush", f"q={HIDDEN_EMAIL}"):
            for path in (f"/records/{entity}?{query}", f"/records/{entity}/lookup?{query}"):
                yield path, web.get(path), [query[2:]]
        for record_id in all_ids(world):
            for suffix in ("", "/edit", "/convert"):
                path = f"/records/{entity}/{record_id}{suffix}"
                yield path, web.get(path)


def web_conversion(world: dict[str, Any], user: str) -> Iterator[tuple[Any, ...]]:
    web, admin = world["web"][user], world["api"]["admin"]
    url = f"/records/lead/{world['ids']['lead']}/convert"
    for chosen in (["deal"], ["deal", "contact", "company"], ["contact"]):
        yield f"review {chosen}", web.post(url, {"target": chosen, "action": "review"})
    fresh = admin.ok(
        "POST",
        "/api/records/lead",
        {
            "name": f"Wizard lead for {user}",
            "email": f"{user}@wizard.example",
            "source": "call",
            "amount": {"amount": str(LEAD_AMOUNT), "currency": "EUR"},
        },
        201,
    )
    real = web.post(
        f"/records/lead/{fresh['id']}/convert",
        {"target": ["deal"], "action": "convert"},
        follow_redirects=True,
    )
    yield "wizard real run", real


def web_refused_writes(world: dict[str, Any], user: str) -> Iterator[tuple[Any, ...]]:
    web, ids = world["web"][user], world["ids"]
    # (a form leaves out no field: on a deal where the margin shows, this would clear it)
    for deal in (ids["admin_deal"],):
        version = world["api"]["admin"].ok("GET", f"/api/records/deal/{deal}")["version"]
        yield (
            "edit probe",
            web.post(
                f"/records/deal/{deal}/edit",
                {"name": "x", "probability": "1", "version": str(version)},
            ),
        )
    stage = f"/records/deal/{ids['sasha_deal']}/stage"  # refused: the deal has no amount
    yield "stage probe", web.post(stage, {"stage": "won"})
    yield (
        "stage probe (fetch)",
        web.post(stage, {"stage": "won"}, headers={"X-Requested-With": "fetch"}),
    )
    yield "taken", web.post("/records/deal/new", {"name": "x", "code": ADMIN_CODE}), [ADMIN_CODE]
    for entity, record_id in untouchable(ids):
        yield "delete", web.post(f"/records/{entity}/{record_id}/delete", follow_redirects=True)


PATHS = {
    "api_records": api_records,
    "api_search_filter_sort": api_search_filter_sort,
    "api_metamodel": api_metamodel,
    "api_refused_writes": api_refused_writes,
    "api_imports": api_imports,
    "api_conversion": api_conversion,
    "web_pages": web_pages,
    "web_conversion": web_conversion,
    "web_refused_writes": web_refused_writes,
}


@pytest.mark.parametrize("paths", list(PATHS))
@pytest.mark.parametrize("user", USERS)
def test_no_read_path_reveals_a_hidden_value_or_an_unreadable_record(world, user, paths) -> None:  # type: ignore[no-untyped-def]
    seen = 0
    for label, response, *sent in PATHS[paths](world, user):
        assert response.status_code < 500, (label, response.get_data(as_text=True)[:500])
        body = response.get_data(as_text=True)
        for echoed in sent[0] if sent else ():  # what the request itself carried
            body = body.replace(echoed, "")
        found = leaks(body, user)
        assert not found, (label, found, body[:3000])
        seen += 1
    assert seen > 0


# -- the sweep can fail: the same paths show the planted values to those who may see them -----


def test_the_planted_values_show_where_they_may(world) -> None:  # type: ignore[no-untyped-def]
    admin, sasha, ids = world["api"]["admin"], world["api"]["sasha"], world["ids"]
    assert admin.ok("GET", f"/api/records/deal/{ids['admin_deal']}")["margin"] == ADMIN_MARGIN
    assert str(ADMIN_MARGIN) in admin.get("/api/records/deal?per_page=200").get_data(as_text=True)
    assert sasha.ok("GET", f"/api/records/deal/{ids['sasha_deal']}")["margin"] == SASHA_MARGIN
    lead = admin.ok("GET", f"/api/records/lead/{ids['lead']}")
    assert lead["amount"]["amount"] == f"{LEAD_AMOUNT}.00"
    web = world["web"]["sasha"].get(f"/records/deal/{ids['sasha_deal']}").get_data(as_text=True)
    assert any(s in web for s in (str(SASHA_MARGIN), f"{SASHA_MARGIN:,}"))
    olga_list = world["api"]["olga"].get("/api/records/deal").get_data(as_text=True)
    assert "Olga's deal" in olga_list and ADMIN_DEAL not in olga_list


# -- filters and sorting on hidden fields are no oracle ----------------------------------------


@pytest.mark.parametrize("user", ["sam", "sasha"])
def test_filters_and_sorting_on_a_hidden_field_answer_the_same_whatever_the_value(
    world, user
) -> None:  # type: ignore[no-untyped-def]
    api = world["api"][user]

    def answer(query: str) -> tuple[int, str]:
        response = api.get(f"/api/records/deal?{query}&per_page=200")
        return response.status_code, response.get_data(as_text=True)

    for true, false in (
        (f"margin={ADMIN_MARGIN}", "margin=1"),
        (f"margin__gt={ADMIN_MARGIN - 1}", f"margin__gt={ADMIN_MARGIN + 1}"),
        (f"margin__lte={ADMIN_MARGIN}", f"margin__lte={ADMIN_MARGIN - 1}"),
        ("margin__isnull=false", "margin__isnull=true"),
        (f"q={ADMIN_MARGIN}", "q=1234567"),
    ):
        status_true, body_true = answer(true)
        status_false, body_false = answer(false)
        value_true, value_false = true.split("=", 1)[1], false.split("=", 1)[1]
        assert status_true == status_false, (true, false)
        assert body_true.replace(value_true, "?") == body_false.replace(value_false, "?"), (
            true,
            false,
        )
    assert answer("sort=margin")[0] == answer("sort=-margin")[0] == 400
    web = world["web"][user]

    def page(sort: str) -> str:
        html = web.get(f"/records/deal?sort={sort}").get_data(as_text=True)
        # the CSRF token is signed with the time: not part of the answer
        return re.sub(r'(csrf[^>]*?(?:value|content))="[^"]*"', r"\1", html).replace(
            "-margin", "margin"
        )

    assert page("margin") == page("-margin")
