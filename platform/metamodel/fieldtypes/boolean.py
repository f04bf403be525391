"""``boolean``: yes or no."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from sqlalchemy import Boolean

from trellis.metamodel.fieldtypes.base import ColumnSpec, FieldLike, FieldType
from trellis.metamodel.fieldtypes.plain_columns import PlainColumn, booleans


class BooleanType(FieldType):
    """True or false (or not set). Accepts JSON booleans and the usual texts (true/false/1/0)."""

    name = "boolean"
    label = "Yes/No"
    description = "Yes or no."
    operators = ("eq", "ne", "isnull")
    can_be_unique = False

    def columns(self, field: FieldLike) -> list[ColumnSpec]:
        return [ColumnSpec(field.key, Boolean(), "boolean")]

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return ma.fields.Boolean(
            allow_none=True,
            truthy={True, "true", "True", "1", "yes", "on"},
            falsy={False, "false", "False", "0", "no", "off"},
        )

    def plain_column(self, field: FieldLike) -> PlainColumn | None:
        if type(self) is not BooleanType:  # (a subclass may load its own way)
            return None
        return lambda values, model: booleans(values)

    def parse_scalar(self, field: FieldLike, raw: Any, model: Any) -> Any:
        """A filter operand: ``true`` or ``false`` (the document's boolean), or a bool."""
        if isinstance(raw, bool) or raw is None:
            return raw
        if raw in ("true", "false"):
            return raw == "true"
        raise ValueError("Use true or false.")

    def display(self, field: FieldLike, value: Any, model: Any) -> str:
        return "" if value is None else ("Yes" if value else "No")
