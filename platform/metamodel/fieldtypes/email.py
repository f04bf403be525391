"""``email``: an e-mail address."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from trellis.metamodel.fieldtypes.base import FieldLike
from trellis.metamodel.fieldtypes.input_fields import Trimmed
from trellis.metamodel.fieldtypes.plain_columns import (
    EMAIL_TEXT,
    PlainColumn,
    all_match,
    column_pattern,
    texts,
)
from trellis.metamodel.fieldtypes.text import FormattedTextType

MAX_EMAIL = 254


class TrimmedEmail(Trimmed, ma.fields.Email):
    """An e-mail input without surrounding whitespace."""

    max_length = MAX_EMAIL


class EmailType(FormattedTextType):
    """An e-mail address, checked on write and stored as given (trimmed)."""

    name = "email"
    label = "E-mail"
    description = "An e-mail address; it is checked when saved."
    max_chars = MAX_EMAIL

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return TrimmedEmail(allow_none=True, error_messages={"invalid": "Not a valid e-mail."})

    def plain_column(self, field: FieldLike) -> PlainColumn | None:
        if type(self) is not EmailType:  # (a subclass may load or check its own way)
            return None

        def load(values: list[Any], model: Any) -> list[str] | None:
            loaded = texts(values, max_length=MAX_EMAIL, trims=True, single_line=True)
            return loaded if loaded is not None and all_match(_EMAILS, loaded) else None

        return load


_EMAILS = column_pattern(EMAIL_TEXT)
