"""``datetime``: a moment in time, kept in UTC."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import marshmallow as ma
from sqlalchemy import DateTime

from trellis.clock import as_utc, to_storage
from trellis.metamodel.fieldtypes.base import ColumnSpec, FieldLike, FieldType
from trellis.metamodel.fieldtypes.operators import ORDERING


class Moment(ma.fields.DateTime):
    """An ISO 8601 moment that exists in UTC too (``9999-12-31T23:00-05:00`` does not)."""

    default_error_messages = {
        "range": "Out of range once converted to UTC.",
        "invalid": "Not a date and time: use year-month-day and hours:minutes, "
        "e.g. 2026-03-31 14:30.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            as_utc(moment)
        except OverflowError as exc:
            raise self.make_error("range") from exc
        return moment


class DateTimeType(FieldType):
    """A moment: ISO 8601 in (a time without offset is taken as UTC), UTC with offset out."""

    name = "datetime"
    label = "Date and time"
    description = "A date with a time of day, such as a meeting start."
    operators = ORDERING

    def columns(self, field: FieldLike) -> list[ColumnSpec]:
        return [ColumnSpec(field.key, DateTime(), "timestamp")]

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return Moment(allow_none=True)

    def parse_scalar(self, field: FieldLike, raw: Any, model: Any) -> Any:
        value = super().parse_scalar(field, raw, model)
        return value if value is None else to_storage(value)

    def normalise(self, field: FieldLike, value: Any) -> Any:
        return None if value is None else as_utc(value)

    def to_row(self, field: FieldLike, value: Any) -> dict[str, Any]:
        return {field.key: None if value is None else to_storage(value)}

    def from_row(self, field: FieldLike, row: Mapping[str, Any]) -> Any:
        value = row[field.key]
        return None if value is None else as_utc(value)

    def reader(self, field: FieldLike) -> Callable[[Mapping[str, Any]], Any]:
        key = field.key

        def read(row: Mapping[str, Any]) -> Any:
            value = row[key]
            return None if value is None else as_utc(value)

        return read

    def to_json(self, field: FieldLike, value: Any, model: Any) -> Any:
        return None if value is None else as_utc(value).isoformat()

    def to_plain(self, field: FieldLike, value: Any) -> Any:
        return None if value is None else as_utc(value)

    def to_audit(self, field: FieldLike, value: Any) -> Any:
        return self.to_json(field, value, None)
