"""Surrounding whitespace is dropped from text-like values by the field types, so every
write path (the service, CSV import, conversion) takes ``" padded@example.com "`` as the
address it is and stores it without the spaces."""

from __future__ import annotations

import pytest
from configured_fixtures import configured

from trellis.errors import ValidationFailed
from trellis.records.importer import import_csv


@configured
def people(factory):  # type: ignore[no-untyped-def]
    factory.entity(
        "person",
        {
            "name": ("text", {"settings": {"max_length": 5, "pattern": "[A-Z][a-z]+"}}),
            "email": ("email", {"unique": True}),
            "phone": "phone",
            "site": "url",
            "notes": "long_text",
        },
        title="{name}",
    )
    return factory


def test_padded_values_are_valid_and_stored_trimmed(people) -> None:  # type: ignore[no-untyped-def]
    record = people.record(
        "person",
        name="  Ann\t",
        email=" padded@example.com ",
        phone=" +372 5555 0009 ",
        site=" https://acme.example/ ",
        notes="  indented\nsecond line\n",
    )
    stored = people.records("get", "person", record.id).values
    assert stored["name"] == "Ann"  # within max_length 5 and the pattern once trimmed
    assert stored["email"] == "padded@example.com"
    assert stored["phone"] == "+372 5555 0009"
    assert stored["site"] == "https://acme.example/"
    assert stored["notes"] == "  indented\nsecond line\n"  # long text is kept as written


def test_trimming_happens_on_update_and_before_uniqueness(people) -> None:  # type: ignore[no-untyped-def]
    first = people.record("person", email="ann@example.com")
    second = people.record("person", email="bob@example.com")
    updated = people.records(
        "update", "person", second.id, {"email": "  bob2@example.com  "}, version=1
    )
    assert updated.values["email"] == "bob2@example.com"
    with pytest.raises(ValidationFailed) as failure:
        people.record("person", email=" ann@example.com ")
    assert "already" in failure.value.errors["email"][0]
    assert people.records("get", "person", first.id).values["email"] == "ann@example.com"


def test_inner_junk_is_still_refused(people) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as failure:
        people.record("person", email=" not an e-mail ", phone=" call me ")
    assert failure.value.errors == {
        "email": ["Not a valid e-mail."],
        "phone": ["Not a valid phone number (digits, spaces, + ( ) - . /)."],
    }


def test_import_takes_padded_cells(people) -> None:  # type: ignore[no-untyped-def]
    text = "name,email,phone\n Ann , padded@example.com , +372 5555 0009 \n"
    with people.runtime.transaction() as session:
        report = import_csv(people.runtime.records(session), "person", text)
    assert report.ok and len(report.created) == 1, report.errors
    found = people.records("list", "person").items[0].values
    assert (found["name"], found["email"], found["phone"]) == (
        "Ann",
        "padded@example.com",
        "+372 5555 0009",
    )
