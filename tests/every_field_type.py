"""A field of every registered type, for the tests that read, list or filter them all: the
table of fields with a value each, the entity types that hold them, and the values of a
record with every field filled in."""

from __future__ import annotations

from typing import Any

from trellis.accounts import create_user

#: field key -> (type, options, a value; the reference's and the user's are made by
#: :func:`filled_values`)
FIELDS: dict[str, tuple[str, dict[str, Any], Any]] = {
    "t": ("text", {}, "Ann"),
    "lt": ("long_text", {}, "line 1\nline 2"),
    "i": ("integer", {}, 7),
    "d": ("decimal", {"settings": {"precision": 8, "scale": 3}}, "12.5"),
    "m": ("money", {"settings": {"scale": 2}}, {"amount": "10.5", "currency": "EUR"}),
    "b": ("boolean", {}, True),
    "dt": ("date", {}, "2026-11-24"),
    "ts": ("datetime", {}, "2026-11-24T10:30:00+02:00"),
    "e": ("email", {}, "ann@acme.example"),
    "p": ("phone", {}, "+372 555-0101"),
    "u": ("url", {}, "https://acme.example"),
    "c": ("list", {"settings": {"list": "colour"}}, "red"),
    "mc": ("multi_list", {"settings": {"list": "colour"}}, ["blue", "red"]),
    "r": ("reference", {"settings": {"target": "other"}}, None),
    "who": ("user", {}, None),
}


def every_type_entity(factory) -> None:  # type: ignore[no-untyped-def]
    """The entity type ``thing`` with the :data:`FIELDS` (title ``"{t} {i}"``), and ``other``,
    the target of its reference field, with the option list ``colour`` (red, green, blue)."""
    factory.entity(
        "other", {"name": "text"}, title="{name}", lists={"colour": ["red", "green", "blue"]}
    )
    factory.entity("thing", {k: (t, o) for k, (t, o, _v) in FIELDS.items()}, title="{t} {i}")


def filled_values(factory, runtime) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The values of a ``thing`` with every field filled in: the user ``ann`` and the
    ``other`` record "Target" are made for its user and reference fields."""
    with runtime.transaction() as session:
        user = create_user(session, "ann", "ann-password-long", ["user"]).id
    other = factory.record("other", name="Target").id
    return {k: v for k, (_t, _o, v) in FIELDS.items()} | {"r": other, "who": user}


def every_type_targets(factory, runtime) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """:func:`every_type_entity`, then the ids its reference (``r``) and user (``who``) fields
    take (the ``other`` record "Target" and the user ``ann``)."""
    every_type_entity(factory)
    filled = filled_values(factory, runtime)
    return {"r": filled["r"], "who": filled["who"]}
