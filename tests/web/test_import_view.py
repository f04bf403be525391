"""Importing a CSV from a list page: a file exported from the list imports as it is, every
problem is shown by row and column, and nothing is kept unless every row is valid."""

from __future__ import annotations

import io
import re

import pytest


@pytest.fixture
def deals(factory):  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text"}, title="{name}")
    factory.entity(
        "deal",
        {
            "name": ("text", {"required": True}),
            "notes": "long_text",
            "qty": "integer",
            "rate": "decimal",
            "amount": "money",
            "won": "boolean",
            "close": "date",
            "due": "datetime",
            "email": "email",
            "phone": "phone",
            "site": "url",
            "source": ("list", {"settings": {"list": "source"}}),
            "tags": ("multi_list", {"settings": {"list": "source"}}),
            "company": ("reference", {"settings": {"target": "company"}}),
        },
        title="{name}",
        lists={"source": ["web", "trade_fair"]},
        pipelines={"sales": ["new", "proposal", "won:success"]},
    )
    return factory


def upload(browser, entity: str, content: str, action: str, follow: bool = False, **more):  # type: ignore[no-untyped-def]
    return browser.post(
        f"/records/{entity}/import",
        data={"file": (io.BytesIO(content.encode()), "deals.csv"), "action": action, **more},
        content_type="multipart/form-data",
        follow_redirects=follow,
    )


def test_an_exported_list_imports_as_it_is(deals, boss) -> None:  # type: ignore[no-untyped-def]
    acme = deals.record("company", name="Acme")
    first = deals.record(
        "deal",
        name="Apollo",
        notes="line one\nline two",
        qty=-5,
        rate="2.50",
        amount={"amount": "1200.50", "currency": "EUR"},
        won=True,
        close="2027-01-31",
        due="2027-02-01T09:30:00+00:00",
        email="a@x.example",
        phone="+372 555 0101",
        site="https://x.example",
        source="trade_fair",
        tags=["web", "trade_fair"],
        company=acme.id,
    )
    deals.records("move_stage", "deal", first.id, "proposal", version=1)
    deals.record("deal", name="Bare")
    exported = boss.get("/records/deal/export.csv").get_data(as_text=True)
    page = boss.get("/records/deal/import").get_data(as_text=True)
    assert 'name="file"' in page and "<code>Rate</code>" in page
    checked = upload(boss, "deal", exported, "check")
    assert checked.status_code == 200, checked.get_data(as_text=True)
    assert "All 2 rows of deals.csv can be imported" in checked.get_data(as_text=True)
    assert deals.records("list", "deal").total == 2
    done = upload(boss, "deal", exported, "import")
    assert done.status_code == 302
    every = deals.records("list", "deal", sort=["id"]).items
    originals = {r.values["name"]: r for r in every[:2]}
    copies = {r.values["name"]: r for r in every[2:]}
    assert set(copies) == {"Apollo", "Bare"}
    for name, copy in copies.items():
        original = originals[name]
        assert copy.values == original.values
        assert (copy.pipeline, copy.stage) == (original.pipeline, original.stage)


def test_problems_show_by_row_and_column_and_nothing_is_kept(deals, boss) -> None:  # type: ignore[no-untyped-def]
    content = "Name,Qty,Source\nGood,1,web\n,x,nope\n"
    response = upload(boss, "deal", content, "import")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "1 of 2 rows of deals.csv cannot be imported." in page
    rows = page[page.index('id="import-errors"') :]
    for column in ("Name", "Qty", "Source"):
        assert f'<tr data-row="row 3"><td>row 3</td><td>{column}</td>' in rows
    assert deals.records("list", "deal").total == 0
    header = upload(boss, "deal", "Name,Colour\nA,red\n", "check")
    assert header.status_code == 422 and "do not match the fields" in header.get_data(as_text=True)
    empty = upload(boss, "deal", "", "check")
    assert empty.status_code == 400 and "Choose a CSV file." in empty.get_data(as_text=True)


def test_only_users_who_may_create_can_import(deals, user_with, boss) -> None:  # type: ignore[no-untyped-def]
    ivy = user_with("ivy", ["user"])
    assert ivy.get("/records/deal/import").status_code in (403, 404)
    assert upload(ivy, "deal", "Name\nA\n", "import").status_code in (403, 404)
    assert deals.records("list", "deal").total == 0
    no_csrf = boss.client.post(
        "/records/deal/import",
        data={"file": (io.BytesIO(b"Name\nA\n"), "a.csv"), "action": "import"},
        content_type="multipart/form-data",
    )
    assert no_csrf.status_code == 400 and deals.records("list", "deal").total == 0


def test_rows_can_update_the_records_a_unique_field_matches(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text", "tin": ("text", {"unique": True})}, title="{name}")
    acme = factory.record("company", name="Acme", tin="EE1")
    form = boss.get("/records/company/import").get_data(as_text=True)
    assert '<option value="tin">update it, matched by Tin</option>' in form
    rows = "Tin,Name\nEE1,Acme Ltd\nEE2,Globex\n"
    page = upload(boss, "company", rows, "check", match="tin").get_data(as_text=True)
    assert "can be imported (1 update, 1 new)" in page
    assert '<option value="tin" selected>' in page
    page = upload(boss, "company", rows, "import", follow=True, match="tin").get_data(as_text=True)
    assert re.search(r"1 \w+ imported, 1 updated\.", page)
    assert factory.records("get", "company", acme.id).values["name"] == "Acme Ltd"
