"""``multi_list``: several choices from a shared option list, kept in a side table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from sqlalchemy import ColumnElement, String, Table, and_, exists, not_, select

from trellis.metamodel.fieldtypes.base import ColumnSpec, FieldLike, FieldType, SideTableSpec
from trellis.metamodel.fieldtypes.choice import (
    OptionKey,
    OptionOutput,
    list_settings_errors,
    option_errors,
    option_json,
)


def side_table_name(entity_table: str, field_key: str) -> str:
    """``rec_deal__tags``: one row per (record, chosen option)."""
    return f"{entity_table}__{field_key}"


class MultiListType(FieldType):
    """Several choices. A side table (record_id, option_key) keeps them, so filters are SQL."""

    name = "multi_list"
    label = "Multiple choice"
    description = "Several choices from a shared option list."
    settings_schema = {
        "type": "object",
        "properties": {"list": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}},
        "required": ["list"],
        "additionalProperties": False,
    }
    operators = ("contains", "in", "isnull")
    can_be_unique = False
    empty_value = ()

    def extra_settings_errors(self, settings: Mapping[str, Any], model: Any) -> list[str]:
        return list_settings_errors(settings, model)

    def columns(self, field: FieldLike) -> list[ColumnSpec]:
        return []

    def side_table(self, field: FieldLike, entity_table: str) -> SideTableSpec:
        return SideTableSpec(side_table_name(entity_table, field.key), String(40))

    def indexable_columns(self, field: FieldLike) -> list[str]:
        return []

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return ma.fields.List(OptionKey(), allow_none=True)

    def value_errors(self, field: FieldLike, value: Any, old: Any, model: Any) -> list[str]:
        if not value:
            return []
        if len(set(value)) != len(value):
            return ["An option is chosen twice."]
        return option_errors(field, tuple(value), tuple(old or ()), model)

    def is_empty(self, value: Any) -> bool:
        return not value

    def normalise(self, field: FieldLike, value: Any) -> Any:
        return tuple(value or ())

    def to_row(self, field: FieldLike, value: Any) -> dict[str, Any]:
        return {}

    def from_row(self, field: FieldLike, row: Mapping[str, Any]) -> Any:
        return tuple(row.get(field.key) or ())

    def output_field(self, field: FieldLike) -> ma.fields.Field:
        return ma.fields.List(ma.fields.Nested(OptionOutput))

    def to_json(self, field: FieldLike, value: Any, ctx: Any) -> Any:
        return [option_json(field, key, ctx.model) for key in value or ()]

    def to_plain(self, field: FieldLike, value: Any) -> Any:
        return tuple(value or ())

    def to_audit(self, field: FieldLike, value: Any) -> Any:
        return list(value or ())

    def display(self, field: FieldLike, value: Any, model: Any) -> str:
        return ", ".join(option_json(field, k, model)["label"] for k in value or ())

    def sort_column(self, field: FieldLike, table: Table) -> ColumnElement[Any]:
        raise ValueError("A multiple-choice field cannot be sorted on.")

    def parse_scalar(self, field: FieldLike, raw: Any, model: Any) -> Any:
        if not isinstance(raw, str) or not raw:
            raise ValueError("Expected an option key.")
        return raw

    def filter_clause(
        self, field: FieldLike, table: Table, op: str, value: Any, model: Any
    ) -> ColumnElement[bool]:
        side = table.metadata.tables[side_table_name(table.name, field.key)]
        has = select(side.c.record_id).where(side.c.record_id == table.c.id)
        if op == "isnull":
            return not_(exists(has)) if value else exists(has)
        if op == "contains":
            return exists(has.where(side.c.value == value))
        return exists(has.where(and_(side.c.value.in_(list(value)))))

    def search_clause(self, field: FieldLike, table: Table, text: str) -> ColumnElement[bool]:
        raise NotImplementedError
