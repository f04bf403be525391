"""What every field type knows: its columns, input field, JSON Schema, operators and search text.

A field type is a stateless object; the field it works on (key, settings, label) is passed in.
Values inside the platform are plain Python: ``str``, ``int``, ``Decimal``, ``bool``, ``date``,
aware UTC ``datetime``, :class:`Money`, an option key, a tuple of option keys, a record id.

The input fields the types share and the fast paths of loading them live in
:mod:`~trellis.metamodel.fieldtypes.input_fields`; the filter operators and their SQL in
:mod:`~trellis.metamodel.fieldtypes.operators`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol

import jsonschema
import marshmallow as ma
from sqlalchemy import ColumnElement, Table
from sqlalchemy.types import TypeEngine

from trellis.metamodel.fieldtypes.input_fields import (
    SLOW,
    InputRefused,
    direct_loader,
    fast_input_of,
    first_message,
    refusal_messages,
)
from trellis.metamodel.fieldtypes.operators import compare

if TYPE_CHECKING:
    from trellis.metamodel.compiled import CompiledModel
    from trellis.metamodel.fieldtypes.plain_columns import PlainColumn

#: the checks of one field's value beyond its input field: (value, old value, model) -> problems
ValueChecker = Callable[[Any, Any, "CompiledModel"], list[str]]
#: what a create does with a loaded value: (value, model) -> (normalised value, problems)
NewValueCheck = Callable[[Any, "CompiledModel"], tuple[Any, Sequence[str]]]
#: a write's loading of one input value: value -> the loaded and normalised value, or
#: :class:`InputRefused` with the messages of the type's input field
ValueLoader = Callable[[Any], Any]
#: a create's loading of one input value, its value checks run with it (no old value):
#: (value, model) -> (loaded and normalised value, problems), or :class:`InputRefused`; the
#: problems are None for a type whose checks run later (see :meth:`FieldType.new_value_loader`)
NewValueLoader = Callable[[Any, "CompiledModel"], tuple[Any, Sequence[str] | None]]


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

    def fast_input(self, field: FieldLike) -> Callable[[Any], Any] | None:
        """What :meth:`input_field`'s ``deserialize`` gives for the common inputs (None and
        the plain values a form, the API or an import sends), without marshmallow, as one
        callable ``value -> loaded value``; it gives :data:`SLOW` for any other input, which
        the input field then loads or refuses in its own words. None: every input goes
        through the input field. Worked out from the input field itself (see
        :func:`fast_input_of`), so a type with another input field gets that field's."""
        return fast_input_of(self.input_field(field, None))

    def value_loader(self, field: FieldLike) -> ValueLoader:
        """A write's loading of ``field``'s input values (``input_field``'s ``deserialize``,
        then :meth:`normalise`) as one callable, built once per compiled field: the common
        inputs by :meth:`fast_input`, any other by the input field, whose refusals come as
        :class:`InputRefused` with the messages a write reports."""
        fast, slow = self.fast_input(field), self._exact_loader(field)
        normalise = self._normaliser(field)
        if fast is None:
            if normalise is None:
                return slow

            def load_slow(value: Any) -> Any:
                return normalise(slow(value))

            return load_slow

        def load(value: Any) -> Any:
            loaded = fast(value)
            if loaded is SLOW:
                loaded = slow(value)
            return loaded if normalise is None else normalise(loaded)

        return load

    def new_value_loader(self, field: FieldLike) -> NewValueLoader:
        """A create's loading of ``field``'s input values: :meth:`value_loader` and
        :meth:`new_value_check` in one callable ``(value, model) -> (value, problems)``. A
        type whose values are put in order or resolved after loading (a side table's, a
        user's) gives problems None: its value checks run once that is done."""
        if self.side_table(field, "") is not None or self.name == "user":
            load = self.value_loader(field)
            return lambda value, model: (load(value), None)
        fast, slow = self.fast_input(field), self._exact_loader(field)
        checker = self.value_checker(field)
        if (
            checker is not None
            and type(self).new_value_check is FieldType.new_value_check
            and type(self).normalise is FieldType.normalise
        ):  # (the value checker itself: what new_value_check would call)

            def load_and_check_plain(value: Any, model: CompiledModel) -> tuple[Any, Sequence[str]]:
                loaded = fast(value) if fast is not None else SLOW
                if loaded is SLOW:
                    loaded = slow(value)
                return loaded, checker(loaded, None, model)

            return load_and_check_plain
        settle = self.new_value_check(field)
        if settle is None:
            if fast is None:
                return lambda value, model: (slow(value), ())

            def load_plain(value: Any, model: CompiledModel) -> tuple[Any, Sequence[str]]:
                loaded = fast(value)
                return (slow(value) if loaded is SLOW else loaded), ()

            return load_plain

        def load_and_check(value: Any, model: CompiledModel) -> tuple[Any, Sequence[str]]:
            loaded = fast(value) if fast is not None else SLOW
            if loaded is SLOW:
                loaded = slow(value)
            return settle(loaded, model)

        return load_and_check

    def plain_column(self, field: FieldLike) -> PlainColumn | None:
        """A batch's loading of a whole column of ``field``'s inputs at once, as one
        callable ``(values, model) -> loaded values``: the values :meth:`new_value_loader`
        gives, with no problem, when every one of ``values`` is a plain input of the type
        (see :mod:`~trellis.metamodel.fieldtypes.plain_columns`), else None (the column is
        then loaded value by value). None: the type has no such screen."""
        return None

    def _normaliser(self, field: FieldLike) -> Callable[[Any], Any] | None:
        if type(self).normalise is FieldType.normalise:
            return None
        return partial(self.normalise, field)

    def _exact_loader(self, field: FieldLike) -> ValueLoader:
        """``input_field``'s ``deserialize`` (built on first use: most writes never need
        it), its refusal as :class:`InputRefused`."""
        built: list[Callable[[Any, str, Any], Any]] = []
        key = field.key

        def load(value: Any) -> Any:
            if not built:
                built.append(direct_loader(self.input_field(field, None)))
            try:
                return built[0](value, key, None)
            except ma.ValidationError as exc:
                raise InputRefused(refusal_messages(exc)) from None

        return load

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

    def scaled_reader(self, field: FieldLike) -> Callable[[Mapping[str, Any]], Any]:
        """:meth:`reader` for rows whose NUMERIC columns hold Decimals with each column's
        places already, as SQLAlchemy gives them on a database without native decimals
        (SQLite: its result processor formats each stored number with the column's scale):
        a type that fits a number to its places when reading need not do it a second time.
        The same values and types as :meth:`reader` gives on such rows."""
        return self.reader(field)

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
        # a compiled field keeps its input field and its fast path (the same value as the
        # input field's deserialize, without marshmallow): not one built per filter
        fast = getattr(field, "operand_fast", None)
        if fast is not None:
            value = fast(raw)
            if value is not SLOW:
                return value
        reader = getattr(field, "operand_input", None) or self.input_field(field, model)
        try:
            return reader.deserialize(raw)
        except ma.ValidationError as exc:
            raise ValueError(first_message(exc.messages)) from exc

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
