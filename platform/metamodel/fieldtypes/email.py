"""``email``: an e-mail address."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from trellis.metamodel.fieldtypes.base import FieldLike, Trimmed
from trellis.metamodel.fieldtypes.text import TextType

MAX_EMAIL = 254


class TrimmedEmail(Trimmed, ma.fields.Email):
    """An e-mail input without surrounding whitespace."""

    max_length = MAX_EMAIL


class EmailType(TextType):
    """An e-mail address, checked on write and stored as given (trimmed)."""

    name = "email"
    label = "E-mail"
    description = "An e-mail address; it is checked when saved."
    settings_schema = {"type": "object", "additionalProperties": False}

    def normalise_settings(self, settings: Any) -> dict[str, Any]:
        return dict(settings)

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return TrimmedEmail(allow_none=True, error_messages={"invalid": "Not a valid e-mail."})

    def value_errors(self, field: FieldLike, value: Any, old: Any, model: Any) -> list[str]:
        if value is not None and len(value) > MAX_EMAIL:
            return [f"At most {MAX_EMAIL} characters."]
        return []
