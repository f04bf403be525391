"""``url``: a web address."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from trellis.metamodel.fieldtypes.base import FieldLike
from trellis.metamodel.fieldtypes.input_fields import Trimmed
from trellis.metamodel.fieldtypes.text import FormattedTextType

MAX_URL = 2000


class TrimmedUrl(Trimmed, ma.fields.Url):
    """A web address input without surrounding whitespace."""

    max_length = MAX_URL


class UrlType(FormattedTextType):
    """An absolute http(s) address; other schemes (``javascript:``) are refused."""

    name = "url"
    label = "URL"
    description = "A web address starting with http:// or https://."
    max_chars = MAX_URL

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return TrimmedUrl(
            allow_none=True,
            schemes={"http", "https"},
            require_tld=False,
            error_messages={"invalid": "Not a valid http(s) address."},
        )
