"""Kanban cards show the fields an administrator chose for the entity type (item 10.8): set
in the admin's entity settings, kept through the metamodel service, shown only where the
user may see them; the demo's deals show amount, company and close date."""

from __future__ import annotations

import re

import pytest
from alembic import command
from sqlalchemy import text

from trellis.errors import ValidationFailed
from trellis.installation import alembic_config


@pytest.fixture
def deals(factory):  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text"}, title="{name}")
    factory.entity(
        "deal",
        {
            "name": "text",
            "company": ("reference", {"settings": {"target": "company"}}),
            "margin": "integer",
            "closes": "date",
        },
        title="{name}",
        pipelines={"sales": ["new", "won:success"]},
    )
    acme = factory.record("company", name="Acme")
    return factory.records(
        "create",
        "deal",
        {"name": "Apollo", "company": acme.id, "margin": 12, "closes": "2026-03-31"},
        pipeline="sales",
    )


def card_of(page: str, record_id: int) -> str:
    start = page.index(f'data-record="{record_id}"')
    return page[start : page.index("</article>", start)]


def test_the_admin_chooses_the_fields_a_card_shows(deals, boss) -> None:  # type: ignore[no-untyped-def]
    card = card_of(boss.get("/records/deal/kanban").get_data(as_text=True), deals.id)
    assert "data-card-field" not in card  # none chosen yet
    settings = boss.get("/admin/entities/deal?tab=settings").get_data(as_text=True)
    assert 'name="card_fields" value="margin"' in settings
    saved = boss.post(
        "/admin/entities/deal/update",
        data={
            "label": "Deal",
            "label_plural": "Deals",
            "card_fields": ["closes", "company", "margin"],
        },
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)
    card = card_of(boss.get("/records/deal/kanban").get_data(as_text=True), deals.id)
    shown = re.findall(r'data-card-field="(\w+)"', card)
    assert shown == ["company", "margin", "closes"]  # in the order of the fields
    assert "Company:</dt>" in card and ">Acme</a>" in card and "2026-03-31" in card


def test_a_card_never_shows_a_field_hidden_from_the_user(deals, boss, user_with, factory) -> None:  # type: ignore[no-untyped-def]
    factory.meta("update_entity", "deal", card_fields=["margin", "closes"])
    boss.post("/admin/roles/", data={"key": "sales", "label": "Sales"})
    boss.post(
        "/admin/roles/sales",
        data={"deal.read": "all", "deal.update": "all", "deal.field_margin": "hidden"},
    )
    sam = user_with("sam", ["sales"])
    card = card_of(sam.get("/records/deal/kanban").get_data(as_text=True), deals.id)
    assert re.findall(r'data-card-field="(\w+)"', card) == ["closes"]
    assert "Margin" not in card


def test_card_fields_are_checked(deals, factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as refused:
        factory.meta("update_entity", "deal", card_fields=["margin", "nothing"])
    assert refused.value.errors["card_fields"] == ["Unknown field: nothing."]
    with pytest.raises(ValidationFailed):
        factory.meta(
            "update_entity", "deal", card_fields=["name", "company", "margin", "closes", "x"]
        )
    factory.meta("archive_field", "deal", "margin")
    factory.meta("update_entity", "deal", card_fields=["closes"])


def test_the_demo_deals_show_amount_company_and_close_date(demo_crm, boss) -> None:  # type: ignore[no-untyped-def]
    page = boss.get("/records/deal/kanban?pipeline=sales").get_data(as_text=True)
    assert {"amount", "company", "close_date"} <= set(re.findall(r'data-card-field="(\w+)"', page))


def test_entity_types_from_before_card_fields_show_none(runtime) -> None:  # type: ignore[no-untyped-def]
    config = alembic_config()
    with runtime.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    with runtime.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO meta_entity (key, label, label_plural, description, title_template,"
                " archived, created_at, updated_at) VALUES ('old', 'Old', 'Olds', '', '', :f,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"f": False},
        )
    with runtime.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with runtime.engine.connect() as connection:
        stored = connection.execute(text("SELECT card_fields FROM meta_entity")).scalar_one()
    assert stored in ([], "[]")
