"""``date``: a calendar date."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from sqlalchemy import Date

from trellis.metamodel.fieldtypes.base import ColumnSpec, FieldLike, FieldType
from trellis.metamodel.fieldtypes.operators import ORDERING
from trellis.metamodel.fieldtypes.plain_columns import PlainColumn, dates


class DateType(FieldType):
    """A calendar date, ISO 8601 (``2026-11-24``) in and out."""

    name = "date"
    label = "Date"
    description = "A calendar date, such as a due date or a birthday."
    operators = ORDERING

    def columns(self, field: FieldLike) -> list[ColumnSpec]:
        return [ColumnSpec(field.key, Date(), "date")]

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return ma.fields.Date(
            allow_none=True,
            error_messages={"invalid": "Not a date: use year-month-day, e.g. 2026-03-31."},
        )

    def plain_column(self, field: FieldLike) -> PlainColumn | None:
        if type(self) is not DateType:  # (a subclass may load or check its own way)
            return None
        return lambda values, model: dates(values)

    def to_json(self, field: FieldLike, value: Any, model: Any) -> Any:
        return None if value is None else value.isoformat()

    def to_audit(self, field: FieldLike, value: Any) -> Any:
        return None if value is None else value.isoformat()
