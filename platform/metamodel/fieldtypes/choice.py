"""``list``: one choice from a shared option list."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import marshmallow as ma
from sqlalchemy import String

from trellis.metamodel.fieldtypes.base import ColumnSpec, FieldLike, FieldType
from trellis.metamodel.fieldtypes.input_fields import SLOW
from trellis.metamodel.fieldtypes.plain_columns import PlainColumn, option_keys


def list_settings_errors(settings: Mapping[str, Any], model: Any) -> list[str]:
    """The named option list must exist (when the model is known)."""
    key = settings.get("list")
    if model is not None and key not in model.option_lists:
        return [f"list: no option list with key {key!r}"]
    return []


def option_errors(
    field: FieldLike, keys: tuple[str, ...], old: tuple[str, ...], model: Any
) -> list[str]:
    """Unknown keys are refused; a retired option is refused unless the record already had it."""
    options = model.option_lists[field.settings["list"]].options
    errors = []
    for key in keys:
        option = options.get(key)
        if option is None:
            known = ", ".join(k for k, o in options.items() if o.active)
            errors.append(f"Unknown option {key!r} (choose from: {known}).")
        elif not option.active and key not in old:
            errors.append(f"Option {option.label!r} is retired and cannot be chosen any more.")
    return errors


def option_json(field: FieldLike, key: str, model: Any) -> dict[str, Any]:
    """``{"key", "label"}`` of an option; the label is read live, so a rename shows at once."""
    option = model.option_lists[field.settings["list"]].options.get(key)
    return {"key": key, "label": option.label if option else key}


class ListType(FieldType):
    """A single choice. Records store the option's stable key; labels come from the list."""

    name = "list"
    label = "List"
    description = (
        "One choice from a shared option list; renaming an option shows everywhere at once."
    )
    settings_schema = {
        "type": "object",
        "properties": {"list": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}},
        "required": ["list"],
        "additionalProperties": False,
    }
    operators = ("eq", "ne", "in", "isnull")

    def extra_settings_errors(self, settings: Mapping[str, Any], model: Any) -> list[str]:
        return list_settings_errors(settings, model)

    def columns(self, field: FieldLike) -> list[ColumnSpec]:
        return [ColumnSpec(field.key, String(40), "varchar(40)")]

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return OptionKey(allow_none=True)

    def value_errors(self, field: FieldLike, value: Any, old: Any, model: Any) -> list[str]:
        if value is None:
            return []
        return option_errors(field, (value,), (old,) if old else (), model)

    def plain_column(self, field: FieldLike) -> PlainColumn | None:
        if type(self) is not ListType:  # (a subclass may load or check its own way)
            return None
        list_key = field.settings["list"]

        def load(values: list[Any], model: Any) -> list[str] | None:
            return option_keys(values, model.option_lists[list_key].options)

        return load

    def output_field(self, field: FieldLike) -> ma.fields.Field:
        return ma.fields.Nested(OptionOutput, allow_none=True)

    def to_json(self, field: FieldLike, value: Any, ctx: Any) -> Any:
        return None if value is None else option_json(field, value, ctx.model)

    def display(self, field: FieldLike, value: Any, model: Any) -> str:
        return "" if value is None else option_json(field, value, model)["label"]


class OptionOutput(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)


def _fast_key(value: Any) -> Any:
    if type(value) is str:
        return value
    return None if value is None else SLOW


class OptionKey(ma.fields.String):
    """An option key; ``{"key": ...}`` (as the API reads it) is accepted too, for round trips."""

    def fast_loader(self) -> Callable[[Any], Any] | None:
        """:meth:`FieldType.fast_input` of this field: a ``str`` is the key (None for a
        subclass with its own ``_deserialize``)."""
        if type(self)._deserialize is not OptionKey._deserialize or self.validators:
            return None
        return _fast_key

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, Mapping) and "key" in value:
            value = value["key"]
        return super()._deserialize(value, attr, data, **kwargs)
