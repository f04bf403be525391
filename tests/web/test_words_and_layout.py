"""Words for people in the end-user app: counts in singular or plural, no record ids in
titles and suggestions, a default title, history one entry per save, and a favicon."""

from __future__ import annotations

import re

from trellis.words import counted


def test_counts_read_in_singular_and_plural(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text"}, title="{name}")
    factory.record("deal", name="Only")
    page = boss.get("/records/deal").get_data(as_text=True)
    assert re.search(r"data-total>1 record<", page)
    factory.record("deal", name="Second")
    page = boss.get("/records/deal").get_data(as_text=True)
    assert re.search(r"data-total>2 records<", page)
    assert "(s)" not in page
    assert counted(1, "company") == "1 company" and counted(3, "company") == "3 companies"


def test_form_errors_are_counted_in_words(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": ("text", {"required": True}), "size": "integer"})
    one = boss.post("/records/deal/new", data={"name": "", "size": "3"}).get_data(as_text=True)
    assert "Please correct the problem below." in one
    two = boss.post("/records/deal/new", data={"name": "", "size": "x"}).get_data(as_text=True)
    assert "Please correct the 2 problems below." in two
    assert "problem(s)" not in one + two


def test_favicon_is_served_and_linked(boss, client) -> None:  # type: ignore[no-untyped-def]
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert 'rel="icon"' in boss.get("/").get_data(as_text=True)
    assert 'rel="icon"' in boss.get("/admin/").get_data(as_text=True)


def test_a_new_entity_type_names_records_by_its_first_text_field(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity("vacation_request", {"days": "integer", "reason": "text", "note": "text"})
    record = factory.record("vacation_request", days=3, reason="Summer trip")
    assert record.title == "Summer trip"
    card = boss.get(f"/records/vacation_request/{record.id}").get_data(as_text=True)
    assert "Summer trip</h1>" in card and f"#{record.id}" not in card
    # a title the administrator sets wins
    factory.meta("update_entity", "vacation_request", title_template="{note}")
    assert factory.records("get", "vacation_request", record.id).title != "Summer trip"


def test_suggestions_carry_no_ids_and_tell_equal_titles_apart(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity("contact", {"name": "text", "email": "email"}, title="{name}")
    first = factory.record("contact", name="Ann Tamm", email="ann@example.com")
    second = factory.record("contact", name="Ann Tamm", email="ann@work.example")
    factory.record("contact", name="Bob Berg")
    found = {item["id"]: item["label"] for item in boss.get("/records/contact/lookup?q=ann").json}
    assert found == {
        first.id: "Ann Tamm · ann@example.com",
        second.id: "Ann Tamm · ann@work.example",
    }
    response = boss.get("/static/web/app.js")
    script = response.get_data(as_text=True)
    response.close()
    assert '" (#"' not in script  # suggestions show the label, never "(#id)"


def test_a_reference_to_a_record_the_user_cannot_read_shows_no_id(factory, boss, user_with) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text"}, title="{name}")
    factory.entity(
        "deal",
        {"name": "text", "company": ("reference", {"settings": {"target": "company"}})},
        title="{name}",
    )
    acme = factory.record("company", name="Acme")
    deal = factory.record("deal", name="Apollo", company=acme.id)
    boss.post("/admin/roles/", data={"key": "sales", "label": "Sales"})
    grant = {"read": "all", "update": "all", "delete": "none"}
    boss.post("/admin/roles/sales", data={"entity": "deal", **grant})
    sam = user_with("sam", ["sales"])
    for url in (f"/records/deal/{deal.id}", f"/records/deal/{deal.id}/edit", "/records/deal"):
        page = sam.get(url).get_data(as_text=True)
        assert f"#{acme.id}" not in page and "Acme" not in page, url
        assert "A company you cannot open" in page, url


def test_a_create_is_one_history_entry(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text", "size": "integer", "note": "text"}, title="{name}")
    record = factory.record("deal", name="Apollo", size=3, note="first")
    factory.records("update", "deal", record.id, {"size": 4, "note": "second"}, version=1)
    card = boss.get(f"/records/deal/{record.id}").get_data(as_text=True)
    history = card[card.index('id="history"') :]
    entries = re.findall(r'data-entry="(\w+)"', history)
    assert entries == ["update", "create"]  # newest first, one per save
    created = history[history.index('data-entry="create"') :]
    assert "<b>Created</b>" in created and "<b>Name</b>: Apollo" in created
    assert "<b>Size</b>: 3" in created and "→" not in created
    changed = history[history.index('data-entry="update"') : history.index('data-entry="create"')]
    assert "<b>Size</b>: 3 → 4" in changed and "<b>Note</b>: first → second" in changed


def test_a_reference_filter_searches_by_title_not_by_id(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text"}, title="{name}")
    factory.entity(
        "deal",
        {"name": "text", "company": ("reference", {"settings": {"target": "company"}})},
        title="{name}",
    )
    acme = factory.record("company", name="Acme")
    factory.record("deal", name="Apollo", company=acme.id)
    factory.record("deal", name="Gemini")
    page = boss.get("/records/deal").get_data(as_text=True)
    assert "(id)" not in page and 'type="number"' not in page
    assert 'data-reference="/records/company/lookup"' in page
    filtered = boss.get(f"/records/deal?company={acme.id}").get_data(as_text=True)
    assert re.search(r'id="flt-company"[^>]*value="Acme"', filtered)
    assert "Apollo" in filtered and "Gemini" not in filtered


def test_new_record_buttons_lower_case_the_label_mid_sentence(factory, boss) -> None:  # type: ignore[no-untyped-def]
    factory.entity("vacation", {"days": "integer"})
    factory.meta("update_entity", "vacation", label="Vacation request")
    factory.entity("vat", {"rate": "integer"})
    factory.meta("update_entity", "vat", label="VAT rate")
    page = boss.get("/records/vacation").get_data(as_text=True)
    assert "New vacation request</a>" in page and "New Vacation request" not in page
    form = boss.get("/records/vacation/new").get_data(as_text=True)
    assert "New vacation request</h1>" in form
    assert "New VAT rate</a>" in boss.get("/records/vat").get_data(as_text=True)
