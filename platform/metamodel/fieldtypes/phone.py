"""``phone``: a telephone number."""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma

from trellis.metamodel.fieldtypes.base import FieldLike
from trellis.metamodel.fieldtypes.input_fields import TrimmedString
from trellis.metamodel.fieldtypes.text import FormattedTextType
from trellis.patterns import fixed

PHONE_PATTERN = fixed(r"^\+?[0-9][0-9 ().\-/]{2,30}$")  # RE2: "$" is the very end


def normalise_phone(value: str) -> str:
    """Digits only, keeping a leading ``+``: the form compared by duplicate rules."""
    digits = re.sub(r"\D", "", value)
    return ("+" + digits) if value.strip().startswith("+") else digits


class PhoneType(FormattedTextType):
    """A telephone number: digits with the usual separators, an optional leading ``+``."""

    name = "phone"
    label = "Phone"
    description = "A telephone number."

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return TrimmedString(
            allow_none=True,
            validate=ma.validate.Regexp(
                PHONE_PATTERN, error="Not a valid phone number (digits, spaces, + ( ) - . /)."
            ),
        )
