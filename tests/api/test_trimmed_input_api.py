"""The API takes padded e-mail and phone values and stores them trimmed (the field types
trim, so the API needs nothing of its own)."""

from __future__ import annotations


def test_padded_email_and_phone_are_accepted_and_trimmed(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("person", {"name": "text", "email": "email", "phone": "phone"})
    created = admin.ok(
        "POST",
        "/api/records/person",
        {"name": " Ann ", "email": " padded@example.com ", "phone": " +372 5555 0009 "},
        201,
    )
    assert (created["name"], created["email"], created["phone"]) == (
        "Ann",
        "padded@example.com",
        "+372 5555 0009",
    )
    listed = admin.ok("GET", "/api/records/person?email=padded@example.com")
    assert [r["id"] for r in listed["items"]] == [created["id"]]
