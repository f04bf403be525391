"""The generated list, form and card for every field type, through Flask's test client."""

from __future__ import annotations

import csv
import io
import re

import pytest

# type -> (field options, good form input (or inputs), what the card shows, bad form input)
TYPES = {
    "text": ({}, "Hello", "Hello", None),
    "long_text": ({}, "line one\nline two", "line one<br>line two", None),
    "integer": ({}, "42", "42", "4.5"),
    "decimal": ({"settings": {"scale": 2}}, "3.14", "3.14", "3.141"),
    "money": (
        {"settings": {"currencies": ["EUR", "USD"]}},
        {"__amount": "99.5", "__currency": "USD"},
        "99.50 USD",
        {"__amount": "lots"},
    ),
    "boolean": ({}, "true", "Yes", "maybe"),
    "date": ({}, "2026-11-24", "2026-11-24", "24/11/2026"),
    "datetime": ({}, "2026-11-24T10:30", "2026-11-24 10:30 UTC", "soon"),
    "email": ({}, "ann@acme.example", "mailto:ann@acme.example", "ann-at-acme"),
    "phone": ({}, "+372 555 0101", "+372 555 0101", "call me"),
    "url": ({}, "https://acme.example", 'href="https://acme.example"', "javascript:alert(1)"),
    "list": ({"settings": {"list": "colour"}}, "red", ">Red<", "purple"),
    "multi_list": ({"settings": {"list": "colour"}}, ["red", "blue"], ">Blue<", ["pink"]),
    "reference": ({"settings": {"target": "other"}}, "REF", "Target one", "999"),
}


@pytest.fixture
def typed(factory, boss):  # type: ignore[no-untyped-def]
    def make(type_name: str) -> int:
        factory.entity(
            "other", {"name": "text"}, title="{name}", lists={"colour": ["red", "green", "blue"]}
        )
        factory.entity(
            "thing", {"label": "text", "x": (type_name, TYPES[type_name][0])}, title="{label}"
        )
        return factory.record("other", name="Target one").id

    return make


def form_data(type_name: str, value, target_id: int) -> dict:  # type: ignore[no-untyped-def]
    if isinstance(value, dict):
        return {f"x{suffix}": v for suffix, v in value.items()}
    if value == "REF":
        value = str(target_id)
    return {"x": value}


@pytest.mark.parametrize("type_name", sorted(TYPES))
def test_form_card_and_list_for_each_type(typed, boss, factory, type_name: str) -> None:  # type: ignore[no-untyped-def]
    target = typed(type_name)
    _options, good, shown, bad = TYPES[type_name]
    form = boss.get("/records/thing/new").get_data(as_text=True)
    assert 'data-field="x"' in form
    created = boss.post(
        "/records/thing/new", data={"label": "one", **form_data(type_name, good, target)}
    )
    assert created.status_code == 302, created.get_data(as_text=True)[-2000:]
    card_url = created.headers["Location"]
    card = boss.get(card_url).get_data(as_text=True)
    assert shown in card
    listing = boss.get("/records/thing").get_data(as_text=True)
    assert "one" in listing
    if bad is not None:
        refused = boss.post(
            "/records/thing/new", data={"label": "two", **form_data(type_name, bad, target)}
        )
        assert refused.status_code == 422
        page = refused.get_data(as_text=True)
        assert 'data-error-for="x"' in page
    assert factory.records("list", "thing").total == 1


def test_every_error_shows_at_once_and_typed_values_stay(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "deal", {"name": ("text", {"required": True}), "amount": "integer", "mail": "email"}
    )
    response = boss.post("/records/deal/new", data={"name": "", "amount": "x", "mail": "nope"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    for key in ("name", "amount", "mail"):
        assert f'data-error-for="{key}"' in page
    assert 'value="nope"' in page and 'value="x"' in page


def test_a_number_past_fifteen_significant_digits_is_refused_by_its_field(factory, boss) -> None:  # type: ignore[no-untyped-def]
    """The form says what the API says (the digits every database holds exactly); nothing
    is stored to come back as another number."""
    factory.entity("deal", {"name": "text", "rate": "decimal", "amount": "money"})
    response = boss.post(
        "/records/deal/new",
        data={"name": "x", "rate": "1234567890123456.78", "amount__amount": "99999999999999.99"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-error-for="rate"' in page and 'data-error-for="amount"' in page
    assert page.count("At most 15 significant digits.") == 2
    assert 'value="1234567890123456.78"' in page  # what was typed stays to be corrected
    assert factory.records("list", "deal").total == 0


def test_stale_edit_shows_their_change_and_keeps_mine(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text", "amount": "integer"}, title="{name}")
    record = factory.record("deal", name="Apollo", amount=1)
    factory.records(
        "update", "deal", record.id, {"amount": 2}, version=1
    )  # someone else saves first
    response = boss.post(
        f"/records/deal/{record.id}/edit", data={"name": "Apollo", "amount": "7", "version": "1"}
    )
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Someone saved this" in page and "<b>Amount</b>: 1 → 2" in page
    assert 'value="7"' in page and 'name="version" value="2"' in page
    again = boss.post(
        f"/records/deal/{record.id}/edit", data={"name": "Apollo", "amount": "7", "version": "2"}
    )
    assert again.status_code == 302
    assert factory.records("get", "deal", record.id).values["amount"] == 7


def test_filters_sort_search_paging_and_csv(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "deal",
        {"name": "text", "amount": "integer", "kind": ("list", {"settings": {"list": "k"}})},
        title="{name}",
        lists={"k": ["a", "b"]},
    )
    for i in range(30):
        factory.record("deal", name=f"Deal {i:02d}", amount=i, kind="a" if i % 2 else "b")
    page = boss.get("/records/deal?kind=a&amount__gte=20&sort=-amount").get_data(as_text=True)
    assert (
        page.index("Deal 29") < page.index("Deal 21")
        and "Deal 20" not in page
        and "Deal 03" not in page
    )
    assert "Deal 07" in boss.get("/records/deal?q=07").get_data(as_text=True)
    first, second = (
        boss.get("/records/deal?sort=name").get_data(as_text=True),
        boss.get("/records/deal?sort=name&page=2").get_data(as_text=True),
    )
    assert "Deal 00" in first and "Deal 29" not in first and "Deal 29" in second
    exported = boss.get("/records/deal/export.csv?kind=b")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0][:3] == ["id", "title", "Name"] and len(rows) == 16
    assert boss.get("/records/deal?nothing__gt=1").status_code == 400


def test_hidden_fields_never_reach_the_screen_or_the_csv(factory, boss, user_with, client) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text", "margin": "integer"}, title="{name}")
    boss.post("/admin/roles/", data={"key": "sales", "label": "Sales"})
    boss.post(
        "/admin/roles/sales",
        data={
            "entity": "deal",
            "create": "on",
            "read": "own",
            "update": "own",
            "delete": "none",
            "field_margin": "hidden",
        },
    )
    sam = user_with("sam", ["sales"])
    created = sam.post("/records/deal/new", data={"name": "Mine", "margin": "5"})
    assert created.status_code == 302  # the hidden input is ignored, never written
    other = factory.record("deal", name="Theirs", margin=900)
    assert "Margin" not in sam.get("/records/deal").get_data(as_text=True)
    assert "Margin" not in sam.get(created.headers["Location"]).get_data(as_text=True)
    csv_text = sam.get("/records/deal/export.csv").get_data(as_text=True)
    assert "Margin" not in csv_text and "Theirs" not in csv_text and "Mine" in csv_text
    assert sam.get(f"/records/deal/{other.id}").status_code == 404


def test_csrf_is_required_on_record_forms(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text"})
    response = boss.client.post("/records/deal/new", data={"name": "x"})
    assert response.status_code == 400
    assert factory.records("list", "deal").total == 0


def test_history_and_stale_edits_speak_in_labels_and_titles(factory, boss) -> None:  # type: ignore[no-untyped-def]
    """The audit log keeps option keys and ids; people read labels, titles and names."""
    factory.entity("company", {"name": "text"}, title="{name}")
    factory.entity(
        "deal",
        {
            "name": "text",
            "source": ("list", {"settings": {"list": "source"}}),
            "company": ("reference", {"settings": {"target": "company"}}),
            "amount": "money",
        },
        title="{name}",
        lists={"source": ["web", "fair"]},
        pipelines={"sales": ["new", "proposal", "won:success"]},
    )
    acme = factory.record("company", name="Acme Ltd")
    record = factory.record("deal", name="Apollo", source="web")
    factory.records(
        "update",
        "deal",
        record.id,
        {"source": "fair", "company": acme.id, "amount": {"amount": "12500", "currency": "EUR"}},
        version=1,
    )
    factory.records("move_stage", "deal", record.id, "proposal", version=2)
    card = boss.get(f"/records/deal/{record.id}").get_data(as_text=True)
    history = card[card.index('id="history"') :]
    assert "<b>Source</b>:" in history and ">Web</span> → " in history and ">Fair</span>" in history
    assert "Acme Ltd</a>" in history and f"#{acme.id}" not in history
    assert "<b>Stage</b>: New → Proposal" in history
    assert '<b>Amount</b>: <span class="text-muted">—</span> → 12 500.00 EUR' in history
    stale = boss.post(
        f"/records/deal/{record.id}/edit",
        data={"name": "Apollo II", "source": "web", "version": "1"},
    )
    assert stale.status_code == 409
    conflict = stale.get_data(as_text=True)
    conflict = conflict[
        conflict.index('id="conflict"') : conflict.index("</ul>", conflict.index('id="conflict"'))
    ]
    assert (
        ">Fair</span>" in conflict and "Acme Ltd</a>" in conflict and "New → Proposal" in conflict
    )
    assert "(system," in conflict  # the factory writes as the system, not as a user


def test_the_card_lists_the_stages_a_record_has_been_in(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "deal",
        {"name": "text"},
        title="{name}",
        pipelines={"sales": ["new", "proposal", "won:success"], "wholesale": ["quote"]},
    )
    record = factory.record("deal", name="Apollo")
    boss.post(f"/records/deal/{record.id}/stage", data={"stage": "proposal"})
    card = boss.get(f"/records/deal/{record.id}").get_data(as_text=True)
    stages = card[card.index('id="stages"') : card.index('id="history"')]
    visits = re.findall(r'data-visit="(\w+)"', stages)
    assert visits == ["proposal", "new"]  # newest first
    assert 'Proposal <span class="text-muted">(Sales)</span>' in stages
    assert "under a minute</span> so far" in stages and "moved in by boss" in stages
    assert stages.count(" so far") == 1 and "moved in by system" in stages  # created by the factory


def test_stage_move_asks_for_missing_fields(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "deal",
        {"name": "text", "amount": "integer"},
        title="{name}",
        pipelines={"sales": ["new", "proposal", "won:success"]},
    )
    factory.meta("add_rule", "deal", "required", field="amount", from_stage="sales.proposal")
    record = factory.record("deal", name="Apollo")
    asked = boss.post(f"/records/deal/{record.id}/stage", data={"stage": "proposal"})
    assert asked.status_code == 422 and 'name="asked" value="amount"' in asked.get_data(
        as_text=True
    )
    as_json = boss.post(
        f"/records/deal/{record.id}/stage",
        data={"stage": "proposal"},
        headers={"X-Requested-With": "fetch"},
    )
    assert as_json.status_code == 422 and as_json.json["fields"] == ["amount"]
    moved = boss.post(
        f"/records/deal/{record.id}/stage",
        data={"stage": "proposal", "asked": "amount", "amount": "5"},
        headers={"X-Requested-With": "fetch"},
    )
    assert moved.json == {"ok": True, "stage": "proposal", "pipeline": "sales", "version": 2}
    kanban = boss.get("/records/deal/kanban").get_data(as_text=True)
    assert 'data-stage="proposal"' in kanban and "Apollo" in kanban


def test_lookup_navigation_and_delete(factory, boss, user_with) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text"}, title="{name}")
    acme = factory.record("company", name="Acme")
    factory.record("company", name="Globex")
    assert boss.get("/records/company/lookup?q=acm").json == [
        {"id": acme.id, "title": "Acme", "label": "Acme"}
    ]
    nobody = user_with("nobody", ["user"])
    assert "/records/company" not in nobody.get("/").get_data(as_text=True)
    assert nobody.get("/records/company").status_code in (403, 404)
    assert boss.post(f"/records/company/{acme.id}/delete").status_code == 302
    assert boss.get(f"/records/company/{acme.id}").status_code == 404


def test_kanban_sums_money_per_currency_over_all_records(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "deal",
        {"name": "text", "amount": ("money", {"settings": {"currencies": ["EUR", "USD"]}})},
        title="{name}",
        pipelines={"sales": ["new", "won:success"]},
    )
    for i in range(120):  # more than one page of cards
        factory.record("deal", name=f"d{i}", amount={"amount": "10", "currency": "EUR"})
    factory.record("deal", name="dollars", amount={"amount": "5.50", "currency": "USD"})
    page = boss.get("/records/deal/kanban").get_data(as_text=True)
    assert 'data-sum="EUR">1 200.00 EUR' in page
    assert 'data-sum="USD">5.50 USD' in page
    assert "<span data-count>121</span>" in page
    more = re.search(r'data-more href="([^"]+)">100 of 121 shown', page)
    assert more, "a full column links to the rest"
    listed = boss.get(more.group(1).replace("&amp;", "&"))
    assert listed.status_code == 200 and "121" in listed.get_data(as_text=True)


def test_kanban_columns_follow_the_search_and_filters(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "deal",
        {"name": "text", "amount": "money", "size": "integer"},
        title="{name}",
        pipelines={"sales": ["new", "won:success"]},
    )
    factory.record("deal", name="Apollo", amount={"amount": "100"}, size=1)
    factory.record("deal", name="Apollo II", amount={"amount": "50"}, size=9)
    factory.record("deal", name="Gemini", amount={"amount": "7"}, size=9)
    searched = boss.get("/records/deal/kanban?q=apollo").get_data(as_text=True)
    assert "<span data-count>2</span>" in searched and "Gemini" not in searched
    assert 'data-sum="EUR">150.00 EUR' in searched and 'value="apollo"' in searched
    both = boss.get("/records/deal/kanban?q=apollo&size__gt=5").get_data(as_text=True)
    assert "<span data-count>1</span>" in both and 'data-sum="EUR">50.00 EUR' in both
    assert '<input type="hidden" name="size__gt" value="5">' in both  # kept by the search form
    bad = boss.get("/records/deal/kanban?nonsense__gt=1")
    assert bad.status_code == 400 and "Showing every record instead." in bad.get_data(as_text=True)
    assert "<span data-count>3</span>" in bad.get_data(as_text=True)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "under a minute"),
        (59, "under a minute"),
        (60, "1 min"),
        (3600, "1 h"),
        (3660, "1 h 1 min"),
        (86400, "1 d"),
        (2 * 86400 + 3 * 3600 + 59, "2 d 3 h"),
    ],
)
def test_durations_read_as_words(seconds: int, text: str) -> None:
    from trellis.web.field_inputs import duration_text

    assert duration_text(seconds) == text
