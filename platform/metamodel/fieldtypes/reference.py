"""``reference``: a link to a record of another (or the same) entity type."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import marshmallow as ma
from sqlalchemy import BigInteger

from trellis.metamodel.fieldtypes.base import ColumnSpec, FieldLike, FieldType
from trellis.metamodel.fieldtypes.input_fields import SLOW, StrictInteger, fast_whole_number

ON_DELETE = ("restrict", "set_null", "cascade")


def _fast_record_id(value: Any) -> Any:
    number = fast_whole_number(value)
    return SLOW if number is not None and number is not SLOW and number < 1 else number


class RecordId(StrictInteger):
    """A record id; ``{"id": n}`` (as the API reads it) is accepted too, for round trips."""

    def fast_loader(self) -> Callable[[Any], Any] | None:
        """:meth:`FieldType.fast_input` of this field: a whole number (or its digits) from
        1 up (None for a subclass with its own ``_deserialize``)."""
        if type(self)._deserialize is not RecordId._deserialize or self.validators:
            return None
        return _fast_record_id

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, Mapping) and "id" in value:
            value = value["id"]
        number = super()._deserialize(value, attr, data, **kwargs)
        if number < 1:
            raise self.make_error("invalid")
        return number


class ReferenceOutput(ma.Schema):
    id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True, allow_none=True)


class ReferenceType(FieldType):
    """A record id of ``target``; ``on_delete`` says what deleting the target does:
    ``restrict`` refuses it, ``set_null`` empties this field, ``cascade`` deletes this record.
    The record service enforces it (and writes the audit log for what it changes)."""

    name = "reference"
    label = "Reference"
    description = "A link to a record of another type, such as a deal's company."
    settings_schema = {
        "type": "object",
        "properties": {
            "target": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            "on_delete": {"enum": list(ON_DELETE)},
        },
        "required": ["target"],
        "additionalProperties": False,
    }
    operators = ("eq", "ne", "in", "isnull")

    def normalise_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"on_delete": "set_null", **settings}

    def extra_settings_errors(self, settings: Mapping[str, Any], model: Any) -> list[str]:
        target = settings.get("target")
        if model is not None and target not in model.entities:
            return [f"target: no entity type with key {target!r}"]
        return []

    def columns(self, field: FieldLike) -> list[ColumnSpec]:
        return [ColumnSpec(f"{field.key}_id", BigInteger(), "bigint")]

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return RecordId(allow_none=True, error_messages={"invalid": "Not a record id."})

    def output_field(self, field: FieldLike) -> ma.fields.Field:
        return ma.fields.Nested(ReferenceOutput, allow_none=True)

    def to_json(self, field: FieldLike, value: Any, ctx: Any) -> Any:
        if value is None:
            return None
        return {"id": value, "title": ctx.title_of(field.settings["target"], value)}

    def display(self, field: FieldLike, value: Any, model: Any) -> str:
        return "" if value is None else f"#{value}"
