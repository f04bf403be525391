"""``decimal``: an exact number with a precision and a scale."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Context, Decimal, InvalidOperation
from operator import itemgetter
from typing import Any

import marshmallow as ma
from sqlalchemy import Numeric

from trellis.metamodel.fieldtypes.base import (
    ColumnSpec,
    FieldLike,
    FieldType,
    NewValueCheck,
    ValueChecker,
)
from trellis.metamodel.fieldtypes.input_fields import SLOW
from trellis.metamodel.fieldtypes.integer import MIN_OVER_MAX, bounds_errors
from trellis.metamodel.fieldtypes.operators import ORDERING
from trellis.metamodel.fieldtypes.plain_columns import (
    PlainColumn,
    bounded,
    column_pattern,
    decimal_text,
    decimals,
)

DEFAULT_PRECISION = 18
DEFAULT_SCALE = 2
#: numbers whose exponent goes beyond this are refused on input (no column holds them)
MAX_EXPONENT = 100
#: a magnitude finer than any column's places, and no finer than a database can compare
TINY = Decimal(1).scaleb(-MAX_EXPONENT - 1)
#: the most significant digits (zeros at either end aside) a decimal or money value may have,
#: whatever its field's precision: what every database the platform runs on gives back
#: exactly. SQLite keeps a number with places as a double (NUMERIC affinity; SQLAlchemy binds
#: a Decimal as a float there), exact to 15 significant digits; PostgreSQL's NUMERIC holds
#: the field's precision, and is held to the same limit so that both store the same values.
MAX_SIGNIFICANT_DIGITS = 15
TOO_MANY_DIGITS = f"At most {MAX_SIGNIFICANT_DIGITS} significant digits."
#: fits any number the input takes to any field's places without raising (Python's default
#: context holds 28 digits; a column holds 38, an input up to 10**100 is still refused later
#: by its digits, not by an InvalidOperation)
WIDE = Context(prec=MAX_EXPONENT + 60)


#: a number given as text, surrounding spaces aside: ASCII digits with an optional sign,
#: point and exponent (not Python's wider reading: "1_000", "١٢" or "Infinity")
NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: the same for the API document (a JSON Schema pattern applies to strings only)
NUMBER_TEXT_PATTERN = "^\\s*" + NUMBER_TEXT.pattern + "\\s*$"


class StoredNumber(Numeric):  # type: ignore[type-arg]
    """A decimal or money column: NUMERIC(precision, scale), read back exactly.

    On SQLite (no native decimals) a number with places is kept as a double, and
    SQLAlchemy's own reading formats it with the column's places (``"%.18f" % 0.1`` gives
    0.100000000000000006): this reads the double's shortest text instead, which is the
    number written for every value of at most :data:`MAX_SIGNIFICANT_DIGITS` significant
    digits, fitted to the column's places. PostgreSQL's driver gives Decimals as they are."""

    def result_processor(self, dialect: Any, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite" or not self.asdecimal:
            return super().result_processor(dialect, coltype)
        quantum = Decimal(1).scaleb(-(self.scale or 0))
        fit = WIDE.quantize

        def read(value: Any) -> Decimal | None:
            if value is None:
                return None
            return fit(Decimal(repr(value)) if type(value) is float else Decimal(value), quantum)

        return read


class ExactDecimal(ma.fields.Decimal):
    """A decimal from a string or a number; floats go through ``repr`` so 0.1 stays 0.1."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "metadata", {"type": ["string", "number"], "pattern": NUMBER_TEXT_PATTERN}
        )
        super().__init__(**kwargs)

    default_error_messages = {
        "invalid": "Not a valid number.",
        "special": "Not a finite number.",
        "range": "Out of range.",
    }

    def fast_loader(self) -> Callable[[Any], Any] | None:
        """:meth:`FieldType.fast_input` of this field (None for a subclass with its own
        ``_deserialize``, or with validators)."""
        if type(self)._deserialize is not ExactDecimal._deserialize or self.validators:
            return None
        return fast_decimal

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, float):
            value = repr(value)
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError) as exc:
            raise self.make_error("invalid") from exc
        if not number.is_finite():
            raise self.make_error("special")
        if isinstance(value, str) and not NUMBER_TEXT.fullmatch(value.strip()):
            raise self.make_error("invalid")
        # far beyond any column (at most 38 digits): the database would fail on it
        if number and number.adjusted() > MAX_EXPONENT:
            raise self.make_error("range")
        if number and number.adjusted() < -MAX_EXPONENT:
            # finer than any column's places (1e-308 in a filter): it orders against every
            # storable value as the coarsest such number does, which every database holds
            # (a write of it has too many places all the same)
            return TINY.copy_sign(number)
        return number


def fast_decimal(value: Any) -> Any:
    """What :class:`ExactDecimal` loads from a text of a number (ASCII digits, within the
    exponents any column holds) or an ``int``; :data:`SLOW` for anything else."""
    kind = type(value)
    if kind is str:
        text = value.strip()
        if not NUMBER_TEXT.fullmatch(text):
            return SLOW
        number = Decimal(text)
    elif kind is int:
        number = Decimal(value)
    else:
        return None if value is None else SLOW
    if number and not -MAX_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        return SLOW
    return number


def fit_scale(value: Decimal | None, scale: int) -> Decimal | None:
    """``value`` with exactly ``scale`` places when that rounds nothing (12.5 -> 12.50);
    a value with more places is left as it is for :func:`digits_errors` to refuse."""
    if value is None:
        return None
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -scale:
        return value.quantize(Decimal(1).scaleb(-scale), context=WIDE)
    return value


def too_many_digits(digits: tuple[int, ...]) -> bool:
    """Whether a coefficient has more than :data:`MAX_SIGNIFICANT_DIGITS` digits, its
    trailing zeros aside."""
    count = len(digits)
    if count <= MAX_SIGNIFICANT_DIGITS:
        return False
    while count > 1 and digits[count - 1] == 0:
        count -= 1
    return count > MAX_SIGNIFICANT_DIGITS


def digits_errors(value: Decimal | None, precision: int, scale: int) -> list[str]:
    """Refuse what would not fit or would be rounded: nothing is changed silently."""
    if value is None:
        return []
    _sign, digits, exponent = value.as_tuple()
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if places > scale:
        return [f"At most {scale} decimal places."]
    integer_digits = max(value.adjusted() + 1, 0) if value else 0
    if integer_digits > precision - scale:
        return [f"At most {precision - scale} digits before the decimal point."]
    # (the digits before the point and the places bound the coefficient's length)
    if integer_digits + places > MAX_SIGNIFICANT_DIGITS and too_many_digits(digits):
        return [TOO_MANY_DIGITS]
    return []


def fitted_digits(
    precision: int, scale: int
) -> Callable[[Decimal | None], tuple[Decimal | None, list[str]]]:
    """:func:`fit_scale` and then :func:`digits_errors` of its result, in one call reading
    the value's places once: ``value -> (fitted value, problems)``."""
    quantum = Decimal(1).scaleb(-scale)
    before_point = precision - scale

    def fitted(value: Decimal | None) -> tuple[Decimal | None, list[str]]:
        if value is None:
            return None, []
        exponent = value.as_tuple().exponent
        if not isinstance(exponent, int) or exponent < -scale:  # (left as it is)
            return value, digits_errors(value, precision, scale)
        value = value.quantize(quantum, context=WIDE)
        if not value:
            return value, []
        whole = value.adjusted() + 1
        if whole > before_point:
            return value, [f"At most {before_point} digits before the decimal point."]
        # (only a value this long can have too many digits: most need no look at them)
        if whole + scale > MAX_SIGNIFICANT_DIGITS and too_many_digits(value.as_tuple().digits):
            return value, [TOO_MANY_DIGITS]
        return value, []

    return fitted


def plain_amounts(precision: int, scale: int) -> Callable[[list[Any]], list[Decimal] | None] | None:
    """A plain column (see :mod:`~trellis.metamodel.fieldtypes.plain_columns`) of numbers
    given as texts for a number of ``precision`` digits, ``scale`` of them places: each
    loaded and fitted to the places as :func:`fast_decimal` and :func:`fitted_digits` do,
    when none has more digits than the field or :data:`MAX_SIGNIFICANT_DIGITS` take (so
    none has a problem); None when no such number has a digit before the point."""
    whole = min(precision, MAX_SIGNIFICANT_DIGITS) - scale
    text = decimal_text(whole, scale)
    if text is None:
        return None
    exact = column_pattern(decimal_text(whole, scale, exact=True) or text)
    pattern, quantum = column_pattern(text), Decimal(1).scaleb(-scale)

    def load(values: list[Any]) -> list[Decimal] | None:
        return decimals(values, exact, pattern, quantum, WIDE)

    return load


def decimal_bounds(settings: Mapping[str, Any]) -> tuple[Decimal | None, Decimal | None]:
    """The ``min`` and ``max`` settings of a decimal or money field as numbers (None: not
    set)."""
    low, high = settings.get("min"), settings.get("max")
    return (
        None if low is None else Decimal(str(low)),
        None if high is None else Decimal(str(high)),
    )


#: a ``min`` or ``max`` setting of a decimal or money field: a JSON number or a numeral
#: (not "NaN" or "Infinity", which bound nothing)
BOUND_SCHEMA = {
    "type": ["number", "string"],
    "pattern": r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$",
}


def decimal_bounds_errors(settings: Mapping[str, Any]) -> list[str]:
    """``min`` and ``max`` settings that are numbers, the minimum not above the maximum."""
    errors, bounds = [], {}
    for bound in ("min", "max"):
        if settings.get(bound) is not None:
            try:
                number = Decimal(str(settings[bound]))
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite():
                errors.append(f"{bound}: Enter a number.")
            else:
                bounds[bound] = number
    if len(bounds) == 2 and bounds["min"] > bounds["max"]:
        errors.append(f"min: {MIN_OVER_MAX}")
    return errors


class DecimalType(FieldType):
    """An exact number (NUMERIC(precision, scale)); ``min``/``max`` bound it."""

    name = "decimal"
    label = "Decimal"
    description = "A number with decimal places, such as a rate; it can have a minimum and maximum."
    settings_schema = {
        "type": "object",
        "properties": {
            "precision": {"type": "integer", "minimum": 1, "maximum": 38},
            "scale": {"type": "integer", "minimum": 0, "maximum": 18},
            "min": BOUND_SCHEMA,
            "max": BOUND_SCHEMA,
        },
        "additionalProperties": False,
    }
    operators = ORDERING

    def normalise_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"precision": DEFAULT_PRECISION, "scale": DEFAULT_SCALE, **settings}

    def extra_settings_errors(self, settings: Mapping[str, Any], model: Any) -> list[str]:
        full = self.normalise_settings(settings)
        errors = []
        if full["scale"] > full["precision"]:
            errors.append("scale: There cannot be more decimal places than digits in all.")
        return errors + decimal_bounds_errors(settings)

    def columns(self, field: FieldLike) -> list[ColumnSpec]:
        p, s = self._digits(field)
        return [ColumnSpec(field.key, StoredNumber(p, s), f"numeric({p},{s})")]

    def _digits(self, field: FieldLike) -> tuple[int, int]:
        settings = field.settings
        return (
            settings.get("precision", DEFAULT_PRECISION),
            settings.get("scale", DEFAULT_SCALE),
        )

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return ExactDecimal(allow_none=True)

    def value_errors(self, field: FieldLike, value: Any, old: Any, model: Any) -> list[str]:
        bounds = {k: Decimal(str(v)) for k, v in field.settings.items() if k in ("min", "max")}
        return digits_errors(value, *self._digits(field)) or bounds_errors(bounds, value)

    def value_checker(self, field: FieldLike) -> ValueChecker | None:
        if type(self).value_errors is not DecimalType.value_errors:
            return super().value_checker(field)
        precision, scale = self._digits(field)
        bounds = {k: Decimal(str(v)) for k, v in field.settings.items() if k in ("min", "max")}

        def check(value: Any, old: Any, model: Any) -> list[str]:
            return digits_errors(value, precision, scale) or bounds_errors(bounds, value)

        return check

    def new_value_check(self, field: FieldLike) -> NewValueCheck | None:
        if (
            type(self).value_errors is not DecimalType.value_errors
            or type(self).normalise is not DecimalType.normalise
        ):
            return super().new_value_check(field)
        precision, scale = self._digits(field)
        bounds = {k: Decimal(str(v)) for k, v in field.settings.items() if k in ("min", "max")}
        fitted = fitted_digits(precision, scale)

        def settle(value: Any, model: Any) -> tuple[Any, Sequence[str]]:
            value, problems = fitted(value)
            if problems or value is None or not bounds:
                return value, problems
            return value, bounds_errors(bounds, value)

        return settle

    def plain_column(self, field: FieldLike) -> PlainColumn | None:
        if type(self) is not DecimalType:  # (a subclass may load or check its own way)
            return None
        precision, scale = self._digits(field)
        amounts = plain_amounts(precision, scale)
        if amounts is None:
            return None
        low, high = decimal_bounds(field.settings)

        def load(values: list[Any], model: Any) -> list[Decimal] | None:
            loaded = amounts(values)
            return loaded if loaded is not None and bounded(loaded, low, high) else None

        return load

    def output_field(self, field: FieldLike) -> ma.fields.Field:
        return ma.fields.String(allow_none=True, metadata={"pattern": r"^-?\d+(\.\d+)?$"})

    def normalise(self, field: FieldLike, value: Any) -> Any:
        return fit_scale(value, self._digits(field)[1])

    def from_row(self, field: FieldLike, row: Mapping[str, Any]) -> Any:
        value = row[field.key]
        if value is None:
            return None
        return Decimal(value).quantize(Decimal(1).scaleb(-self._digits(field)[1]), context=WIDE)

    def reader(self, field: FieldLike) -> Callable[[Mapping[str, Any]], Any]:
        key, quantum = field.key, Decimal(1).scaleb(-self._digits(field)[1])

        def read(row: Mapping[str, Any]) -> Any:
            value = row[key]
            if value is None:
                return None
            # a Decimal (as the row holds it) needs no copy before its places are fitted
            number = value if type(value) is Decimal else Decimal(value)
            return number.quantize(quantum, context=WIDE)

        return read

    def scaled_reader(self, field: FieldLike) -> Callable[[Mapping[str, Any]], Any]:
        if type(self).reader is not DecimalType.reader:  # a subclass reading its own way
            return self.reader(field)
        # the row's Decimal has the column's scale, the field's places: as it is
        return itemgetter(field.key)

    def to_json(self, field: FieldLike, value: Any, model: Any) -> Any:
        return None if value is None else str(value)

    def to_audit(self, field: FieldLike, value: Any) -> Any:
        return None if value is None else str(value)
