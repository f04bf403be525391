"""The records part of the API contract: shapes, filters, versions, stages, history, links."""

from __future__ import annotations

import pytest

PROBLEM = "application/problem+json"


@pytest.fixture
def crm(factory, client, admin_headers):  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text"}, title="{name}", lists={"source": ["web", "call"]})
    factory.entity(
        "deal",
        {
            "name": "text",
            "amount": ("money", {"settings": {"currencies": ["EUR", "USD"]}}),
            "source": ("list", {"settings": {"list": "source"}}),
            "tags": ("multi_list", {"settings": {"list": "source"}}),
            "company": ("reference", {"settings": {"target": "company"}}),
            "close": "date",
        },
        title="{name}",
        pipelines={"sales": ["new", "proposal", "won:success"]},
    )
    factory.meta("add_rule", "deal", "required", field="amount", from_stage="sales.proposal")
    return admin_headers


def test_create_and_read_shapes(client, crm) -> None:  # type: ignore[no-untyped-def]
    company = client.post("/api/records/company", json={"name": "Acme"}, headers=crm).json
    response = client.post(
        "/api/records/deal",
        json={
            "name": "Apollo",
            "amount": {"amount": "12.5", "currency": "USD"},
            "source": "web",
            "tags": ["call", "web"],
            "company": company["id"],
            "close": "2026-12-01",
        },
        headers=crm,
    )
    assert response.status_code == 201 and response.headers["ETag"] == '"1"'
    deal = response.json
    assert set(deal) >= {
        "id",
        "version",
        "title",
        "created_at",
        "updated_at",
        "created_by",
        "owner",
        "pipeline",
        "stage",
    }
    assert deal["amount"] == {"amount": "12.50", "currency": "USD"}
    assert deal["source"] == {"key": "web", "label": "Web"}
    assert deal["tags"] == [{"key": "web", "label": "Web"}, {"key": "call", "label": "Call"}]
    assert deal["company"] == {"id": company["id"], "title": "Acme"}
    assert (deal["pipeline"], deal["stage"], deal["close"]) == ("sales", "new", "2026-12-01")
    assert "pipeline" not in company  # no pipelines, no stage keys
    again = client.get(f"/api/records/deal/{deal['id']}", headers=crm).json
    assert again == deal
    # what the API reads, it accepts back
    round_trip = {k: again[k] for k in ("source", "tags", "company", "amount")}
    patched = client.patch(
        f"/api/records/deal/{deal['id']}", json={**round_trip, "version": 1}, headers=crm
    )
    assert patched.status_code == 200 and patched.json["version"] == 1  # nothing changed


def test_filters_sort_paging_and_search(client, crm) -> None:  # type: ignore[no-untyped-def]
    for name, amount, source in [("a", "10", "web"), ("b", "20", "call"), ("c", "30", "web")]:
        client.post(
            "/api/records/deal",
            json={"name": name, "amount": {"amount": amount}, "source": source},
            headers=crm,
        )

    def names(query: str) -> list[str]:
        response = client.get(f"/api/records/deal?{query}", headers=crm)
        assert response.status_code == 200, response.json
        return [d["name"] for d in response.json["items"]]

    assert names("source=web&sort=name") == ["a", "c"]
    assert names("amount__gte=20&sort=-amount") == ["c", "b"]
    assert names("source__in=web,call&sort=-name&per_page=2&page=1") == ["c", "b"]
    assert names("source__in=web,call&sort=-name&per_page=2&page=2") == ["a"]
    assert names("close__isnull=true&q=B") == ["b"]
    assert names("name__ne=a&sort=name") == ["b", "c"]
    page = client.get("/api/records/deal?per_page=2", headers=crm).json
    assert (page["total"], page["page"], page["per_page"], len(page["items"])) == (3, 1, 2, 2)
    for bad in (
        "per_page=201",
        "page=0",
        "nothing=1",
        "amount__contains=1",
        "sort=nothing",
        "amount__gt=abc",
    ):
        response = client.get(f"/api/records/deal?{bad}", headers=crm)
        assert response.status_code == 400 and response.mimetype == PROBLEM, bad


def test_versions_and_if_match(client, crm) -> None:  # type: ignore[no-untyped-def]
    deal = client.post("/api/records/deal", json={"name": "v"}, headers=crm).json
    url = f"/api/records/deal/{deal['id']}"
    missing = client.patch(url, json={"name": "x"}, headers=crm)
    assert missing.status_code == 400 and "version" in missing.json["errors"]
    assert client.patch(url, json={"name": "v2", "version": 1}, headers=crm).status_code == 200
    stale = client.patch(url, json={"name": "v3", "version": 1}, headers=crm)
    assert stale.status_code == 409 and stale.json["current"] == {"version": 2}
    assert client.get(url, headers=crm).json["name"] == "v2"
    ok = client.patch(url, json={"name": "v3"}, headers={**crm, "If-Match": '"2"'})
    assert ok.status_code == 200 and ok.headers["ETag"] == '"3"'
    assert client.delete(url, headers={**crm, "If-Match": '"1"'}).status_code == 409
    assert client.delete(url, headers=crm).status_code == 204
    assert client.get(url, headers=crm).status_code == 404


def test_stage_moves_history_and_links(client, crm) -> None:  # type: ignore[no-untyped-def]
    company = client.post("/api/records/company", json={"name": "Acme"}, headers=crm).json
    deal = client.post(
        "/api/records/deal", json={"name": "s", "company": company["id"]}, headers=crm
    ).json
    url = f"/api/records/deal/{deal['id']}"
    refused = client.post(f"{url}/stage", json={"stage": "proposal"}, headers=crm)
    assert refused.status_code == 422 and list(refused.json["errors"]) == ["amount"]
    moved = client.post(
        f"{url}/stage",
        json={"stage": "proposal", "values": {"amount": {"amount": "5"}}},
        headers=crm,
    )
    assert moved.status_code == 200 and moved.json["stage"] == "proposal"
    assert client.post(f"{url}/stage", json={"stage": "nowhere"}, headers=crm).status_code == 422
    assert client.post(f"{url}/stage", json={}, headers=crm).status_code == 400
    history = client.get(f"{url}/history", headers=crm).json["items"]
    assert {"field": "stage", "old": "new", "new": "proposal"}.items() <= history[-1].items()
    assert set(history[0]) >= {"at", "by", "field", "old", "new"}
    links = client.get(f"/api/records/company/{company['id']}/links", headers=crm).json["items"]
    assert links == [
        {
            "kind": "referenced_by",
            "entity": "deal",
            "id": deal["id"],
            "title": "s",
            "field": "company",
        }
    ]
    back = client.get(f"{url}/links", headers=crm).json["items"]
    assert back[0]["kind"] == "reference" and back[0]["id"] == company["id"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": 5},
        {"amount": "lots"},
        {"amount": {"amount": "1", "currency": "GBP"}},
        {"company": 10**30},
        {"tags": "web"},
        {"close": [1]},
        {"unknown": 1, "name": "x"},
        {"source": {"key": None}},
        {"pipeline": {"x": 1}},
    ],
)
def test_bad_input_is_a_4xx_never_a_500(client, crm, body) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/records/deal", json=body, headers=crm)
    assert response.status_code in (400, 422), response.json
    assert response.mimetype == PROBLEM and response.json["errors"]


def test_non_json_bodies_and_unknown_records(client, crm) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/api/records/deal", data="name=x", headers=crm).status_code == 400
    assert client.post("/api/records/deal", json=[1, 2], headers=crm).status_code == 400
    assert client.get("/api/records/deal/99999", headers=crm).status_code == 404
    assert client.get(f"/api/records/deal/{2**70}", headers=crm).status_code == 404
    assert client.get("/api/records/nothing", headers=crm).status_code == 404
    assert client.put("/api/records/deal", json={}, headers=crm).status_code == 405
