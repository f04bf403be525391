"""Changing a field's type: only where the column stays (text family) or widens in place
(integer to decimal); every stored value is checked against the new type first, nothing is
converted or lost, and a refusal names the records to correct."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trellis.errors import ValidationFailed


def field_type(factory, entity: str, key: str) -> str:  # type: ignore[no-untyped-def]
    with factory.runtime.transaction() as session:
        return factory.runtime.model(session).entities[entity].fields[key].type.name


def test_text_becomes_email_once_every_value_is_an_address(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("person", {"name": "text", "contact": "text"}, title="{name}")
    ann = factory.record("person", name="Ann", contact="ann@example.com")
    bob = factory.record("person", name="Bob", contact="call me")
    cid = factory.record("person", name="Cid", contact="cid at home")
    factory.record("person", name="Dee")  # no value: nothing to check
    with pytest.raises(ValidationFailed) as refused:
        factory.meta("update_field", "person", "contact", type="email", label="E-mail")
    (message,) = refused.value.errors["type"]
    assert message.startswith("2 records hold values an E-mail field does not accept")
    assert "“call me” (Not a valid e-mail.)" in message and "“cid at home”" in message
    assert f"#{bob.id}" not in message  # values people can search for, not record ids
    assert field_type(factory, "person", "contact") == "text"  # nothing changed, not the label
    with factory.runtime.transaction() as session:
        assert (
            factory.runtime.model(session).entities["person"].fields["contact"].label == "Contact"
        )

    factory.records("update", "person", bob.id, {"contact": "bob@example.com"}, version=1)
    factory.records("update", "person", cid.id, {"contact": None}, version=1)
    factory.meta("update_field", "person", "contact", type="email", label="E-mail")
    assert field_type(factory, "person", "contact") == "email"
    assert factory.records("get", "person", ann.id).values["contact"] == "ann@example.com"
    with pytest.raises(ValidationFailed) as bad:
        factory.records("update", "person", ann.id, {"contact": "no address"}, version=1)
    assert "contact" in bad.value.errors


def test_long_text_back_to_text_is_refused_while_a_value_has_several_lines(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("note", {"body": "text"})
    factory.meta("update_field", "note", "body", type="long_text")
    record = factory.record("note", body="first line\nsecond line")
    with pytest.raises(ValidationFailed) as refused:
        factory.meta("update_field", "note", "body", type="text")
    assert (
        "“first line second line” (A single line is expected.)" in (refused.value.errors["type"][0])
    )
    factory.records("update", "note", record.id, {"body": "one line"}, version=1)
    factory.meta("update_field", "note", "body", type="text", settings={"max_length": 20})
    with factory.runtime.transaction() as session:
        assert factory.runtime.model(session).entities["note"].fields["body"].settings == {
            "max_length": 20
        }


def test_integer_widens_to_decimal_and_keeps_every_value(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("item", {"name": "text", "qty": ("integer", {"settings": {"min": 0}})})
    ids = [factory.record("item", name=f"n{i}", qty=i * 1000).id for i in range(5)]
    factory.meta("update_field", "item", "qty", type="decimal", settings={"scale": 3})
    with factory.runtime.transaction() as session:
        qty = factory.runtime.model(session).entities["item"].fields["qty"]
        assert qty.type.name == "decimal"
        assert qty.settings["scale"] == 3 and qty.settings["min"] == 0  # carried over
    assert [factory.records("get", "item", i).values["qty"] for i in ids] == [
        Decimal(i * 1000) for i in range(5)
    ]
    half = factory.record("item", name="half", qty="2.125")
    assert factory.records("get", "item", half.id).values["qty"] == Decimal("2.125")
    with pytest.raises(ValidationFailed):
        factory.record("item", name="negative", qty="-1")
    page = factory.records("list", "item", sort=["-qty"], per_page=2)
    assert [r.values["qty"] for r in page.items] == [Decimal(4000), Decimal(3000)]


def test_integer_to_a_too_narrow_decimal_names_the_records(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("item", {"qty": "integer"})
    factory.record("item", qty=123_456)
    with pytest.raises(ValidationFailed) as refused:
        factory.meta("update_field", "item", "qty", type="decimal", settings={"precision": 5})
    assert (
        "“123456” (At most 3 digits before the decimal point.)" in (refused.value.errors["type"][0])
    )
    assert field_type(factory, "item", "qty") == "integer"


def test_other_type_changes_are_refused_with_what_is_possible(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"when": "date", "name": "text", "tin": ("text", {"unique": True})})
    with pytest.raises(ValidationFailed) as date:
        factory.meta("update_field", "thing", "when", type="text")
    assert date.value.errors["type"] == ["A date field keeps its type; add a new field instead."]
    with pytest.raises(ValidationFailed) as text:
        factory.meta("update_field", "thing", "name", type="integer")
    assert "can become long_text, email, phone, url" in text.value.errors["type"][0]
    with pytest.raises(ValidationFailed) as unique:
        factory.meta("update_field", "thing", "tin", type="long_text")
    assert unique.value.errors["unique"] == ["A long_text field cannot be unique."]
    factory.meta("update_field", "thing", "tin", type="long_text", unique=False)
    assert field_type(factory, "thing", "tin") == "long_text"


def test_stored_values_are_checked_batch_after_batch(factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The values are read a batch at a time by id (no server-side cursor, so a read without
    a transaction can check them too: a pack's review on PostgreSQL, see test_packs_api):
    every record is checked, across batches and at their edges."""
    import trellis.metamodel.fields as fields

    monkeypatch.setattr(fields, "UNFIT_BATCH", 2)
    factory.entity("person", {"name": "text", "contact": "text"}, title="{name}")
    contacts = ["a@example.com", "one", "b@example.com", "two", None, "three", "c@example.com"]
    for i, contact in enumerate(contacts):
        factory.record("person", name=f"P{i}", contact=contact)
    with pytest.raises(ValidationFailed) as refused:
        factory.meta("update_field", "person", "contact", type="email", label="E-mail")
    (message,) = refused.value.errors["type"]
    assert message.startswith("3 records hold values an E-mail field does not accept")
    assert all(f"“{bad}”" in message for bad in ("one", "two", "three"))
