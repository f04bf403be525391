"""``integer``: a whole number, optionally bounded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from sqlalchemy import BigInteger

from trellis.metamodel.fieldtypes.base import ColumnSpec, FieldLike, FieldType, ValueChecker
from trellis.metamodel.fieldtypes.input_fields import StrictInteger
from trellis.metamodel.fieldtypes.operators import ORDERING
from trellis.metamodel.fieldtypes.plain_columns import (
    INTEGER_TEXT,
    PlainColumn,
    bounded,
    column_pattern,
    integers,
)


class IntegerType(FieldType):
    """A 64-bit whole number; ``min``/``max`` bound it."""

    name = "integer"
    label = "Integer"
    description = "A whole number, such as a quantity; it can have a minimum and a maximum."
    settings_schema = {
        "type": "object",
        "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
        "additionalProperties": False,
    }
    operators = ORDERING

    def extra_settings_errors(self, settings: Mapping[str, Any], model: Any) -> list[str]:
        low, high = settings.get("min"), settings.get("max")
        if low is not None and high is not None and low > high:
            return [f"min: {MIN_OVER_MAX}"]
        return []

    def columns(self, field: FieldLike) -> list[ColumnSpec]:
        return [ColumnSpec(field.key, BigInteger(), "bigint")]

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return StrictInteger(allow_none=True)

    def value_errors(self, field: FieldLike, value: Any, old: Any, model: Any) -> list[str]:
        return bounds_errors(field.settings, value)

    def plain_column(self, field: FieldLike) -> PlainColumn | None:
        if type(self) is not IntegerType:  # (a subclass may load or check its own way)
            return None
        low, high = field.settings.get("min"), field.settings.get("max")

        def load(values: list[Any], model: Any) -> list[int] | None:
            loaded = integers(values, _INTEGERS)
            return loaded if loaded is not None and bounded(loaded, low, high) else None

        return load

    def value_checker(self, field: FieldLike) -> ValueChecker | None:
        if type(self).value_errors is not IntegerType.value_errors:
            return super().value_checker(field)
        bounds = {k: field.settings.get(k) for k in ("min", "max")}

        def check(value: Any, old: Any, model: Any) -> list[str]:
            return [] if value is None else bounds_errors(bounds, value)

        return check


_INTEGERS = column_pattern(INTEGER_TEXT)
MIN_OVER_MAX = "The minimum must not be greater than the maximum."


def bounds_errors(settings: Mapping[str, Any], value: Any) -> list[str]:
    """Messages for a number outside ``settings`` min/max."""
    if value is None:
        return []
    low, high = settings.get("min"), settings.get("max")
    if low is not None and value < low:
        return [f"Must be at least {low}."]
    if high is not None and value > high:
        return [f"Must be at most {high}."]
    return []
