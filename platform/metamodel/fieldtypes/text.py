"""``text``: a single line of text, with an optional maximum length and pattern."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import marshmallow as ma
from sqlalchemy import Text

from trellis.metamodel.fieldtypes.base import (
    ColumnSpec,
    FieldLike,
    FieldType,
    NewValueCheck,
    ValueChecker,
)
from trellis.metamodel.fieldtypes.input_fields import TrimmedString
from trellis.metamodel.fieldtypes.plain_columns import PlainColumn
from trellis.metamodel.fieldtypes.plain_columns import texts as plain_texts
from trellis.patterns import PatternError, compile_pattern, fullmatch

DEFAULT_MAX_LENGTH = 255


class TextType(FieldType):
    """Single-line text. Stored as TEXT, so changing ``max_length`` needs no table change."""

    name = "text"
    label = "Text"
    description = "One line of text, such as a name or a code; its length can change at any time."
    settings_schema = {
        "type": "object",
        "properties": {
            "max_length": {"type": "integer", "minimum": 1, "maximum": 10000},
            "pattern": {"type": "string", "maxLength": 500},
            "pattern_message": {"type": "string", "maxLength": 200},
        },
        "additionalProperties": False,
    }
    operators = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "isnull")
    searchable = True
    default_max_length = DEFAULT_MAX_LENGTH
    #: whether surrounding whitespace is dropped on input (a line of text: yes)
    trims: bool = True

    def extra_settings_errors(self, settings: Mapping[str, Any], model: Any) -> list[str]:
        pattern = settings.get("pattern")
        if pattern:
            try:
                compile_pattern(pattern)
            except PatternError as exc:
                return [f"pattern: {exc.message}"]
        return []

    def normalise_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"max_length": self.default_max_length, **settings}

    def columns(self, field: FieldLike) -> list[ColumnSpec]:
        return [ColumnSpec(field.key, Text(), "text")]

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return TrimmedString(allow_none=True) if self.trims else ma.fields.String(allow_none=True)

    def normalise(self, field: FieldLike, value: Any) -> Any:
        """An empty text (or, in a long text, only spaces) is no value: stored as empty
        (NULL), so that a filter for empty values finds it and any other condition skips
        it on both databases, a unique field takes any number of them, and it reads back as
        a value never given does."""
        if value is None or (value and not value[0].isspace()):
            return value
        return value if value.strip() else None

    def new_value_check(self, field: FieldLike) -> NewValueCheck | None:
        checker = self.value_checker(field)
        if type(self).normalise is not TextType.normalise or checker is None:
            return super().new_value_check(field)

        if self.trims:  # the input field has stripped the value: only "" is blank

            def settle(value: Any, model: Any) -> tuple[Any, Sequence[str]]:
                # :meth:`normalise` and the checks in one call (a create's every text value)
                if value == "":
                    value = None
                return value, checker(value, None, model)

            return settle

        def settle_untrimmed(value: Any, model: Any) -> tuple[Any, Sequence[str]]:
            if value is not None and not value.strip():
                value = None
            return value, checker(value, None, model)

        return settle_untrimmed

    def plain_column(self, field: FieldLike) -> PlainColumn | None:
        own = TextType.__dict__
        if field.settings.get("pattern") or any(
            getattr(type(self), name) is not own[name]
            for name in ("input_field", "normalise", "value_errors", "value_checker")
        ):  # (a pattern, or a type that loads or checks its own way: value by value)
            return None
        max_length = field.settings.get("max_length", self.default_max_length)
        trims, single_line = self.trims, self.name == "text"

        def load(values: list[Any], model: Any) -> list[str] | None:
            return plain_texts(values, max_length=max_length, trims=trims, single_line=single_line)

        return load

    def value_errors(self, field: FieldLike, value: Any, old: Any, model: Any) -> list[str]:
        if value is None:
            return []
        errors = []
        max_length = field.settings.get("max_length", self.default_max_length)
        if len(value) > max_length:
            errors.append(f"At most {max_length} characters ({len(value)} given).")
        pattern = field.settings.get("pattern")
        if pattern and value and not errors and not _matches(pattern, value):
            errors.append(field.settings.get("pattern_message") or "Does not match the pattern.")
        if "\n" in value and self.name == "text":
            errors.append("A single line is expected.")
        if "\x00" in value:  # PostgreSQL cannot store it
            errors.append("Must not contain NUL characters.")
        return errors

    def value_checker(self, field: FieldLike) -> ValueChecker | None:
        if type(self).value_errors is not TextType.value_errors:
            return super().value_checker(field)
        max_length = field.settings.get("max_length", self.default_max_length)
        pattern = field.settings.get("pattern")
        mismatch = field.settings.get("pattern_message") or "Does not match the pattern."
        single_line = self.name == "text"

        def check(value: Any, old: Any, model: Any) -> list[str]:
            if value is None:
                return []
            errors = []
            if len(value) > max_length:
                errors.append(f"At most {max_length} characters ({len(value)} given).")
            if pattern and value and not errors and not _matches(pattern, value):
                errors.append(mismatch)
            if single_line and "\n" in value:
                errors.append("A single line is expected.")
            if "\x00" in value:  # PostgreSQL cannot store it
                errors.append("Must not contain NUL characters.")
            return errors

        return check


def _matches(pattern: str, value: str) -> bool:
    """Whether ``value`` matches (in linear time); a pattern saved before RE2 that it cannot
    compile matches nothing, so the administrator learns of it instead of it being skipped."""
    try:
        return fullmatch(pattern, value)
    except PatternError:
        return False


class FormattedTextType(TextType):
    """A line of text in a fixed format (an e-mail or web address, a telephone number): it
    has no settings, its input field checks the format, and a value is at most
    ``max_chars`` characters (none: the format's check bounds it)."""

    settings_schema = {"type": "object", "additionalProperties": False}
    max_chars: int | None = None

    def normalise_settings(self, settings: Any) -> dict[str, Any]:
        return dict(settings)

    def value_errors(self, field: FieldLike, value: Any, old: Any, model: Any) -> list[str]:
        if value is not None and self.max_chars is not None and len(value) > self.max_chars:
            return [f"At most {self.max_chars} characters."]
        return []
