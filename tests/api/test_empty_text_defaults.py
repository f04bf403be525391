"""A text field's default of '' (or, for a long text, only spaces) gives a new record no
value, as the same text given does (TextType.normalise), so ``__isnull=true`` finds it."""

from __future__ import annotations

from sqlalchemy import text


def test_an_empty_default_is_no_value(factory, admin, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "thing",
        {
            "label": "text",
            "name": ("text", {"default": ""}),
            "notes": ("long_text", {"default": " \n "}),
            "code": ("text", {"default": "A1"}),
        },
        title="{label}",
    )
    admin.ok("POST", "/api/records/thing", {"label": "a"}, 201)
    admin.ok("POST", "/api/records/thing", {"label": "b", "name": "x", "notes": "y"}, 201)
    with runtime.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT label, name, notes, code FROM rec_thing ORDER BY label")
        ).all()
    assert [tuple(row) for row in stored] == [
        ("a", None, None, "A1"),
        ("b", "x", "y", "A1"),
    ]
    found = admin.ok("GET", "/api/records/thing?name__isnull=true&notes__isnull=true")
    assert [r["label"] for r in found["items"]] == ["a"]
