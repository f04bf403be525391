"""What every field type knows: its columns, input field, JSON Schema, operators and search text.

A field type is a stateless object; the field it works on (key, settings, label) is passed in.
Values inside the platform are plain Python: ``str``, ``int``, ``Decimal``, ``bool``, ``date``,
aware UTC ``datetime``, :class:`Money`, an option key, a tuple of option keys, a record id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
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
#: a write's loading of one input value: value -> the loaded and normalised value, or
#: :class:`InputRefused` with the messages of the type's input field
ValueLoader = Callable[[Any], Any]
#: a create's loading of one input value, its value checks run with it (no old value):
#: (value, model) -> (loaded and normalised value, problems), or :class:`InputRefused`; the
#: problems are None for a type whose checks run later (see :meth:`FieldType.new_value_loader`)
NewValueLoader = Callable[[Any, "CompiledModel"], tuple[Any, Sequence[str] | None]]
#: what a type's :meth:`FieldType.fast_input` gives for an input it leaves to its input field
SLOW = object()


class InputRefused(Exception):
    """An input value a field's loader refused, with the messages of its input field (as a
    write reports them for the field: one sentence each)."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__(messages)
        self.messages = messages


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
    """The common SQL for the ordering operators on one column. A condition on a value
    never holds for an empty one (NULL) and ``ne`` is the whole opposite of ``eq``, empty
    values included (docs/api.md). The ordering comparisons say ``IS NOT NULL`` besides
    (which changes nothing as they stand) so that each is true or false, never unknown:
    put under a NOT, it still gives the records it does not match, empty ones included."""
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
    if not _plain_deserialize(field):
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


def _plain_deserialize(field: ma.fields.Field) -> bool:
    """Whether ``field.deserialize`` is marshmallow's own, with no load hooks: its result is
    then what the field's ``_deserialize`` and validators make of a value that is there."""
    return (
        type(field).deserialize is ma.fields.Field.deserialize
        and type(field)._validate is ma.fields.Field._validate
        and not field.pre_load
        and not field.post_load
    )


def fast_input_of(field: ma.fields.Field) -> Callable[[Any], Any] | None:
    """The fast path of an input field (see :meth:`FieldType.fast_input`): the field's own
    ``fast_loader`` (the platform's input fields that have one), or one for marshmallow's
    plain text, yes/no and date fields; None for any other field, or one whose
    ``deserialize`` is not marshmallow's own."""
    if not _plain_deserialize(field) or not field.allow_none:
        return None
    own = getattr(field, "fast_loader", None)
    if own is not None:
        return own()  # type: ignore[no-any-return]
    if field.validators:
        return None
    if type(field) is ma.fields.String:
        return _fast_text
    if type(field) is ma.fields.Boolean:
        return _fast_boolean(field)
    if type(field) is ma.fields.Date:
        return _fast_date
    return None


def _fast_text(value: Any) -> Any:
    if type(value) is str:
        return value
    return None if value is None else SLOW


def _fast_boolean(field: ma.fields.Boolean) -> Callable[[Any], Any]:
    truthy, falsy = field.truthy, field.falsy
    if True not in truthy or False not in falsy or False in truthy:
        return lambda value: None if value is None else SLOW

    def load(value: Any) -> Any:
        if value is True or value is False:
            return value
        return None if value is None else SLOW

    return load


def _fast_date(value: Any) -> Any:
    if type(value) is str:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return SLOW
    return None if value is None else SLOW


def _acceptor(validate: Callable[[Any], Any]) -> Callable[[Any], bool]:
    """Whether ``validate`` accepts a value, as one callable: for marshmallow's own e-mail and
    pattern validators their test without the message they word first on every call; for
    any other, the validator itself (a refusal is worded by the field)."""
    if type(validate) is ma.validate.Email:
        user_part, domain_part = validate.USER_REGEX.match, validate.DOMAIN_REGEX.match
        whitelist = validate.DOMAIN_WHITELIST

        def email(value: Any) -> bool:
            if not value or "@" not in value:
                return False
            user, domain = value.rsplit("@", 1)
            return user_part(user) is not None and (
                domain in whitelist or domain_part(domain) is not None
            )

        return email
    if type(validate) is ma.validate.Regexp:
        matches = validate.regex.match
        return lambda value: matches(value) is not None

    def passes(value: Any) -> bool:
        try:
            return validate(value) is not False
        except ma.ValidationError:
            return False

    return passes


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

    def fast_loader(self) -> Callable[[Any], Any] | None:
        """:meth:`FieldType.fast_input` of this field: an ``int`` or a text of digits in
        range is loaded here, anything else goes the field's way (None for a subclass with
        its own ``_deserialize``)."""
        if type(self)._deserialize is not StrictInteger._deserialize or self.validators:
            return None
        return fast_whole_number

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


_WHOLE_NUMBER_TEXT = re.compile(r"\s*-?0*\d{1,19}\s*")


def fast_whole_number(value: Any) -> Any:
    """What :class:`StrictInteger` loads from an ``int`` or a text of digits, or
    :data:`SLOW`."""
    if type(value) is str:
        if not _WHOLE_NUMBER_TEXT.fullmatch(value):
            return SLOW
        value = int(value)
    elif type(value) is not int:
        return None if value is None else SLOW
    return value if -MAX_BIGINT - 1 <= value <= MAX_BIGINT else SLOW


class Trimmed:
    """Mixin for marshmallow string fields: surrounding whitespace is dropped before the
    field's own checks, so ``" padded@example.com "`` is a valid e-mail on every write path
    (API, forms, import, conversion) and is stored without the spaces.

    ``max_length`` (if set) refuses a longer value before the field's validators run: their
    regular expressions (e-mail, URL) need not read a megabyte to say no."""

    max_length: int | None = None

    def fast_loader(self) -> Callable[[Any], Any] | None:
        """:meth:`FieldType.fast_input` of this field: a ``str`` trimmed, bounded and passed
        by the validators is loaded here; anything else (or a refusal) goes the field's way.
        None unless the text part is marshmallow's ``String`` itself."""
        after = type(self).__mro__[type(self).__mro__.index(Trimmed) + 1 :]
        inner = next(c.__dict__["_deserialize"] for c in after if "_deserialize" in c.__dict__)
        if type(self)._deserialize is not Trimmed._deserialize or (
            inner is not ma.fields.String._deserialize
        ):
            return None
        max_length = self.max_length
        accepts = tuple(_acceptor(v) for v in self.validators)  # type: ignore[attr-defined]

        def load(value: Any) -> Any:
            if type(value) is not str:
                return None if value is None else SLOW
            result = value.strip()
            if max_length is not None and len(result) > max_length:
                return SLOW
            for accepted in accepts:
                if not accepted(result):
                    return SLOW
            return result

        return load

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


def refusal_messages(exc: ma.ValidationError) -> list[str]:
    """What a write reports for a field whose input field refused its value: one sentence
    per message (a nested field's, such as a list item's, as ``key: message``)."""
    messages = exc.messages
    if isinstance(messages, Mapping):
        return input_messages(exc)
    if isinstance(messages, list):
        return [str(m) for m in messages]
    return [str(messages)]


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
