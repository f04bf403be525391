"""What every field type knows: its columns, input field, JSON Schema, operators and search text.

A field type is a stateless object; the field it works on (key, settings, label) is passed in.
Values inside the platform are plain Python: ``str``, ``int``, ``Decimal``, ``bool``, ``date``,
aware UTC ``datetime``, :class:`Money`, an option key, a tuple of option keys, a record id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol

import jsonschema
import marshmallow as ma
from sqlalchemy import ColumnElement, Table, and_, not_, or_, true
from sqlalchemy.types import TypeEngine

if TYPE_CHECKING:
    from trellis.metamodel.compiled import CompiledModel

ALL_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "isnull")
ORDERING = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "isnull")


#: the checks of one field's value beyond its input field: (value, old value, model) -> problems
ValueChecker = Callable[[Any, Any, "CompiledModel"], list[str]]
#: what a create does with a loaded value: (value, model) -> (normalised value, problems)
NewValueCheck = Callable[[Any, "CompiledModel"], tuple[Any, Sequence[str]]]


class FieldLike(Protocol):
    """The part of a field a type needs: its key, label and settings."""

    key: str
    label: str
    settings: Mapping[str, Any]


class Money(NamedTuple):
    """An amount in a currency (ISO 4217 code)."""

    amount: Any  # Decimal
    currency: str


@dataclass(frozen=True)
class ColumnSpec:
    """One physical column a field needs. ``signature`` lets the planner spot a type change."""

    name: str
    type: TypeEngine[Any]
    signature: str


@dataclass(frozen=True)
class SideTableSpec:
    """A side table for a multi-valued field: (record_id, value) pairs."""

    name: str
    value_type: TypeEngine[Any]


class FieldType:
    """Base of all field types. Subclasses set the class attributes and override hooks."""

    #: registry name, also the ``type`` stored on a field
    name: ClassVar[str] = ""
    #: shown to administrators
    label: ClassVar[str] = ""
    #: what the type is for, in a sentence for administrators (the docstring is for developers)
    description: ClassVar[str] = ""
    #: JSON Schema of the per-type ``settings`` object
    settings_schema: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False}
    #: filter operators this type supports
    operators: ClassVar[tuple[str, ...]] = ("eq", "ne", "in", "isnull")
    #: whether the list text search (``q``) looks into this field
    searchable: ClassVar[bool] = False
    #: whether a unique constraint / index makes sense on it
    can_be_unique: ClassVar[bool] = True
    #: the value of a field nobody has filled in
    empty_value: ClassVar[Any] = None

    # -- definition time -------------------------------------------------------------------

    def settings_errors(
        self, settings: Mapping[str, Any], model: CompiledModel | None
    ) -> list[str]:
        """Every problem with ``settings``: JSON Schema first, then type-specific checks."""
        validator = jsonschema.Draft202012Validator(self.settings_schema)
        errors = [_schema_message(e) for e in validator.iter_errors(dict(settings))]
        if not errors:
            errors.extend(self.extra_settings_errors(settings, model))
        return errors

    def extra_settings_errors(
        self, settings: Mapping[str, Any], model: CompiledModel | None
    ) -> list[str]:
        """Checks JSON Schema cannot express (a list that exists, a regex that compiles)."""
        return []

    def normalise_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Settings with defaults filled in, as stored."""
        return dict(settings)

    def columns(self, field: FieldLike) -> list[ColumnSpec]:
        """The physical columns of ``field`` in its entity's table."""
        raise NotImplementedError

    def side_table(self, field: FieldLike, entity_table: str) -> SideTableSpec | None:
        """A side table for multi-valued types, else None."""
        return None

    def indexable_columns(self, field: FieldLike) -> list[str]:
        """Columns an index on this field covers."""
        return [c.name for c in self.columns(field)]

    # -- input -----------------------------------------------------------------------------

    def input_field(self, field: FieldLike, model: CompiledModel) -> ma.fields.Field:
        """The marshmallow field that turns API/form input into a Python value."""
        raise NotImplementedError

    def normalise(self, field: FieldLike, value: Any) -> Any:
        """The canonical in-memory form of a loaded value (e.g. tuples, aware datetimes)."""
        return value

    def value_errors(
        self, field: FieldLike, value: Any, old: Any, model: CompiledModel
    ) -> list[str]:
        """Checks beyond the input field: settings limits, options still active, ..."""
        return []

    def value_checker(self, field: FieldLike) -> ValueChecker | None:
        """:meth:`value_errors` for ``field`` as one callable ``(value, old, model)`` with
        what it reads from the settings worked out once (a compiled entity type keeps one
        per field), or None when the type checks nothing beyond its input field. A type
        that overrides ``value_errors`` is called through it unless it overrides this too."""
        if type(self).value_errors is FieldType.value_errors:
            return None
        return partial(self.value_errors, field)

    def new_value_check(self, field: FieldLike) -> NewValueCheck | None:
        """What a create does with a loaded value of ``field``, in one call: the value
        :meth:`normalise` gives and the problems ``value_checker`` finds in it (no old value),
        or None when the type neither changes nor checks a loaded value. A type may fuse
        the two (decimal and money do: both read the value's places)."""
        normalise = (
            None if type(self).normalise is FieldType.normalise else partial(self.normalise, field)
        )
        checker = self.value_checker(field)
        if checker is None:
            if normalise is None:
                return None
            return lambda value, model: (normalise(value), ())
        if normalise is None:
            return lambda value, model: (value, checker(value, None, model))

        def settle(value: Any, model: CompiledModel) -> tuple[Any, Sequence[str]]:
            value = normalise(value)
            return value, checker(value, None, model)

        return settle

    def is_empty(self, value: Any) -> bool:
        """Whether ``value`` counts as missing for required rules."""
        return value is None or (isinstance(value, str) and not value.strip())

    # -- storage ---------------------------------------------------------------------------

    def to_row(self, field: FieldLike, value: Any) -> dict[str, Any]:
        """Column values for ``value``."""
        return {self.columns(field)[0].name: value}

    def column_of(self, field: FieldLike) -> str | None:
        """The one column :meth:`to_row` stores ``field``'s value in as it is, or None when
        the type stores it otherwise (several columns, a converted value, a side table): a
        compiled entity type writes such a value straight into its column."""
        if type(self).to_row is FieldType.to_row:
            return self.columns(field)[0].name
        return None

    def from_row(self, field: FieldLike, row: Mapping[str, Any]) -> Any:
        """The value read back from a row."""
        return row[self.columns(field)[0].name]

    def reader(self, field: FieldLike) -> Callable[[Mapping[str, Any]], Any]:
        """:meth:`from_row` for ``field`` as one callable with what it needs (column names,
        the scale) worked out once: a compiled entity type keeps one per field, so reading a
        page of rows does not derive columns again for every value. A type that overrides
        ``from_row`` reads through it unless it also overrides this."""
        if type(self).from_row is FieldType.from_row:
            return itemgetter(self.columns(field)[0].name)
        return partial(self.from_row, field)

    # -- output ----------------------------------------------------------------------------

    def to_json(self, field: FieldLike, value: Any, ctx: Any) -> Any:
        """The JSON representation for the API; ``ctx`` has ``model`` and ``title_of()``."""
        return value

    def output_field(self, field: FieldLike) -> ma.fields.Field:
        """A marshmallow field describing :meth:`to_json` output (for the OpenAPI document)."""
        return self.input_field(field, None)

    def to_plain(self, field: FieldLike, value: Any) -> Any:
        """A plain scalar for expressions (no objects with methods)."""
        return value

    def to_audit(self, field: FieldLike, value: Any) -> Any:
        """A JSON-safe value for the audit log (option keys, not labels, so renames are safe)."""
        return self.to_plain(field, value)

    def display(self, field: FieldLike, value: Any, model: CompiledModel) -> str:
        """Human text for titles and search."""
        return "" if value is None else str(value)

    # -- querying --------------------------------------------------------------------------

    def sort_column(self, field: FieldLike, table: Table) -> ColumnElement[Any]:
        return table.c[self.columns(field)[0].name]

    def parse_scalar(self, field: FieldLike, raw: Any, model: CompiledModel) -> Any:
        """A filter operand (often a query-string text) as a Python value; ValueError if bad."""
        # a compiled field keeps its input field: not one built per filter and request
        reader = getattr(field, "operand_input", None) or self.input_field(field, model)
        try:
            return reader.deserialize(raw)
        except ma.ValidationError as exc:
            raise ValueError(_first_message(exc.messages)) from exc

    def filter_clause(
        self, field: FieldLike, table: Table, op: str, value: Any, model: CompiledModel
    ) -> ColumnElement[bool]:
        """SQL for ``field <op> value``; the operand was parsed by :meth:`parse_scalar`."""
        column = table.c[self.columns(field)[0].name]
        return compare(column, op, value)

    def filter_column(self, field: FieldLike, table: Table) -> ColumnElement[Any] | None:
        """The one column :meth:`filter_clause` compares with :func:`compare` (so that a
        list statement can take the operand as a bound parameter and be prepared once), or
        None when the type builds its conditions otherwise."""
        if type(self).filter_clause is not FieldType.filter_clause:
            return None
        return table.c[self.columns(field)[0].name]

    def search_clause(self, field: FieldLike, table: Table, text: str) -> ColumnElement[bool]:
        """SQL matching ``text`` in this field (only called when ``searchable``)."""
        return table.c[self.columns(field)[0].name].icontains(text, autoescape=True)


def compare(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    """The common SQL for the ordering operators on one column."""
    if op == "isnull":
        return column.is_(None) if value else column.is_not(None)
    if op == "eq":
        return column.is_(None) if value is None else column == value
    if op == "ne":
        return column.is_not(None) if value is None else or_(column != value, column.is_(None))
    if op == "in":
        return column.in_(list(value)) if value else not_(true())
    if op == "contains":
        return column.icontains(str(value), autoescape=True)
    comparisons = {"lt": column < value, "lte": column <= value, "gt": column > value}
    comparisons["gte"] = column >= value
    return and_(column.is_not(None), comparisons[op])


def direct_loader(field: ma.fields.Field) -> Callable[[Any, str, Any], Any]:
    """``field.deserialize`` without its per-call machinery where that changes nothing: a
    value that is there and not None goes straight to the field's own ``_deserialize`` and
    then to its validators (as ``deserialize`` does, without building their ``And`` each
    time); None and fields with load hooks or their own ``deserialize`` go the whole way, so
    every value and every message stays what marshmallow gives."""
    plain = (
        type(field).deserialize is ma.fields.Field.deserialize
        and type(field)._validate is ma.fields.Field._validate
        and not field.pre_load
        and not field.post_load
    )
    if not plain:
        return field.deserialize
    full, convert, validate = field.deserialize, field._deserialize, field._validate
    if isinstance(field, Trimmed) and isinstance(field, ma.fields.String):
        return _trimmed_loader(field)

    if not field.validators:

        def load(value: Any, attr: str, data: Any) -> Any:
            return full(value, attr, data) if value is None else convert(value, attr, data)

        return load

    def load_and_validate(value: Any, attr: str, data: Any) -> Any:
        if value is None:
            return full(value, attr, data)
        output = convert(value, attr, data)
        validate(output)
        return output

    return load_and_validate


#: what the databases' whole-number columns hold, alike on SQLite and PostgreSQL: BIGINT
#: (record ids, integer fields) and INTEGER (versions, the users table's ids). Every number
#: that reaches such a column is checked against its bound first (a 400 in a filter, a 422 in
#: a body), never left to PostgreSQL's "out of range".
MAX_BIGINT = 2**63 - 1
MAX_INTEGER = 2**31 - 1


def _trimmed_loader(field: Trimmed) -> Callable[[Any, str, Any], Any]:
    """:func:`direct_loader` for a trimmed string field: a ``str`` is stripped and bounded
    here (what ``Trimmed._deserialize`` does after marshmallow's ``String`` accepted it) and
    checked by the field's one validator itself (``And`` of one validator raises its message
    alone) or by all of them; anything else goes the field's own way."""
    full, convert, validate = field.deserialize, field._deserialize, field._validate  # type: ignore[attr-defined]
    max_length = field.max_length
    validators = list(field.validators)  # type: ignore[attr-defined]
    if len(validators) == 1 and isinstance(validators[0], ma.validate.Validator):
        validate = validators[0]

    def load(value: Any, attr: str, data: Any) -> Any:
        if type(value) is not str:
            return (
                full(value, attr, data) if value is None else _checked(convert(value, attr, data))
            )
        result = value.strip()
        if max_length is not None and len(result) > max_length:
            raise ma.ValidationError(f"At most {max_length} characters.")
        return _checked(result)

    def _checked(result: Any) -> Any:
        if validators:
            validate(result)
        return result

    return load


class StrictInteger(ma.fields.Integer):
    """An integer that refuses 1.5 and True instead of truncating them (marshmallow would)."""

    default_error_messages = {"invalid": "Not a whole number."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, str) and re.fullmatch(r"\s*-?0*\d{1,19}\s*", value):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise self.make_error("invalid")
        if not -MAX_BIGINT - 1 <= value <= MAX_BIGINT:
            raise self.make_error("invalid")
        return value


class Trimmed:
    """Mixin for marshmallow string fields: surrounding whitespace is dropped before the
    field's own checks, so ``" padded@example.com "`` is a valid e-mail on every write path
    (API, forms, import, conversion) and is stored without the spaces.

    ``max_length`` (if set) refuses a longer value before the field's validators run: their
    regular expressions (e-mail, URL) need not read a megabyte to say no."""

    max_length: int | None = None

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        result = super()._deserialize(value, attr, data, **kwargs)  # type: ignore[misc]
        if isinstance(result, str):
            result = result.strip()
            if self.max_length is not None and len(result) > self.max_length:
                raise ma.ValidationError(f"At most {self.max_length} characters.")
        return result


class TrimmedString(Trimmed, ma.fields.String):
    """A string without surrounding whitespace."""


def _schema_message(error: jsonschema.ValidationError) -> str:
    """``setting: what is wrong`` in words (JSON Schema's own messages quote Python)."""
    where = ".".join(str(p) for p in error.absolute_path if not isinstance(p, int))
    text = _SCHEMA_WORDS.get(str(error.validator), lambda e: e.message)(error)
    return f"{where}: {text}" if where else text


def _type_words(error: jsonschema.ValidationError) -> str:
    wanted = error.validator_value
    wanted = wanted if isinstance(wanted, list) else [wanted]
    if "integer" in wanted:
        return "Enter a whole number."
    if "number" in wanted:
        return "Enter a number."
    if "boolean" in wanted:
        return "Choose yes or no."
    if "array" in wanted:
        return "Enter a list."
    return "Enter text."


_SCHEMA_WORDS = {
    "type": _type_words,
    "minimum": lambda e: f"Must be at least {e.validator_value}.",
    "maximum": lambda e: f"Must be at most {e.validator_value}.",
    "pattern": lambda e: (
        "Use a three-letter currency code such as EUR."
        if e.validator_value == "^[A-Z]{3}$"
        else "Not in the expected form."
    ),
    "enum": lambda e: f"Choose one of: {', '.join(map(str, e.validator_value))}.",
    "minItems": lambda e: "Give at least one.",
    "uniqueItems": lambda e: "Give each one only once.",
    "minLength": lambda e: "Must not be empty.",
    "required": lambda e: "Missing: " + e.message.split("'")[1] + ".",
    "additionalProperties": lambda e: (
        "Unknown setting: "
        + ", ".join(sorted(set(e.instance) - set(e.schema.get("properties", {}))))
        + "."
    ),
}


def _first_message(messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    if isinstance(messages, Mapping):
        return _first_message(next(iter(messages.values()), "Invalid value."))
    if isinstance(messages, Sequence) and messages:
        return _first_message(messages[0])
    return "Invalid value."


def input_messages(exc: ma.ValidationError) -> list[str]:
    """Flatten a marshmallow error for one field into a list of sentences."""
    messages = exc.messages
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, Mapping):
        out: list[str] = []
        for key, value in messages.items():
            for text in value if isinstance(value, list) else [value]:
                out.append(f"{key}: {text}")
        return out
    return [str(m) for m in messages]
