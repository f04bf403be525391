"""``email``: an e-mail address."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from trellis.metamodel.fieldtypes.base import FieldLike
from trellis.metamodel.fieldtypes.input_fields import Trimmed
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
