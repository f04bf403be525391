"""``money``: an amount and its currency, stored in two columns."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import marshmallow as ma
from sqlalchemy import ColumnElement, String, Table

from trellis.metamodel.fieldtypes.base import (
    ColumnSpec,
    FieldLike,
    FieldType,
    Money,
    NewValueCheck,
    ValueChecker,
)
from trellis.metamodel.fieldtypes.decimal_number import (
    BOUND_SCHEMA,
    NUMBER_TEXT_PATTERN,
    WIDE,
    ExactDecimal,
    StoredNumber,
    decimal_bounds,
    decimal_bounds_errors,
    digits_errors,
    fast_decimal,
    fit_scale,
    fitted_digits,
    plain_amounts,
)
from trellis.metamodel.fieldtypes.input_fields import SLOW
from trellis.metamodel.fieldtypes.integer import bounds_errors
from trellis.metamodel.fieldtypes.operators import ORDERING, compare
from trellis.metamodel.fieldtypes.plain_columns import PlainColumn, bounded
from trellis.metamodel.fieldtypes.plain_columns import money as plain_money

MONEY_SCHEMA = {
    "properties": {
        "amount": {"type": ["string", "number", "null"], "pattern": NUMBER_TEXT_PATTERN},
        "currency": {
            "type": ["string", "null"],
            "pattern": "^(?:[A-Z]{3})?$",
            "description": "Empty or null: the field's default currency.",
        },
    },
    "required": ["amount"],
    "additionalProperties": False,
}


def is_currency_code(text: str) -> bool:
    """Whether ``text`` is three letters A-Z (``^[A-Z]{3}$``), tested without a regular
    expression: RE2's Python binding costs more per call than the whole test (checked on
    every money value written)."""
    return len(text) == 3 and text.isascii() and text.isalpha() and text.isupper()


MONEY_KEYS = frozenset({"amount", "currency"})


class MoneyOutput(ma.Schema):
    amount = ma.fields.String(required=True)
    currency = ma.fields.String(required=True)


class MoneyInput(ma.fields.Field):
    """``{"amount": "12.50", "currency": "EUR"}``; a bare number takes the default currency."""

    # doubled braces: marshmallow formats these messages
    default_error_messages = {"invalid": 'Expected {{"amount": "12.50", "currency": "EUR"}}.'}

    def __init__(self, default_currency: str, **kwargs: Any) -> None:
        kwargs.setdefault(
            "metadata",
            {
                "anyOf": [
                    {"type": "object", **MONEY_SCHEMA},
                    {
                        "type": ["number", "string"],
                        "pattern": NUMBER_TEXT_PATTERN,
                        "description": "A bare amount, in the field's default currency.",
                    },
                ]
            },
        )
        super().__init__(**kwargs)
        self.default_currency = default_currency
        self.amount = ExactDecimal()

    def fast_loader(self) -> Callable[[Any], Any] | None:
        """:meth:`FieldType.fast_input` of this field: ``{"amount", "currency"}`` (a dict)
        or a bare amount, whose currency is a code and whose amount
        :func:`~trellis.metamodel.fieldtypes.decimal_number.fast_decimal` reads; anything
        else goes the field's way (None for a subclass with its own ``_deserialize``)."""
        if type(self)._deserialize is not MoneyInput._deserialize or self.validators:
            return None
        default = self.default_currency

        def load(value: Any) -> Any:
            if type(value) is dict:
                if "amount" not in value or not value.keys() <= MONEY_KEYS:
                    return SLOW
                currency = value.get("currency")
                if currency is None or currency == "":
                    currency = default
                amount = value["amount"]
            elif value is None:
                return None
            else:
                currency, amount = default, value
            if type(currency) is not str or not is_currency_code(currency):
                return SLOW
            if amount is None:
                return Money(None, currency)
            number = fast_decimal(amount)
            return SLOW if number is SLOW or number is None else Money(number, currency)

        return load

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Money:
        if isinstance(value, Mapping):
            unknown = set(value) - {"amount", "currency"}
            if unknown or "amount" not in value:
                raise self.make_error("invalid")
            currency = value.get("currency")
            if currency is None or currency == "":  # not given: the default currency
                currency = self.default_currency
            amount = value["amount"]
        else:
            currency, amount = self.default_currency, value
        if not isinstance(currency, str) or not is_currency_code(currency):
            raise ma.ValidationError("currency: use a three-letter ISO code such as EUR.")
        if amount is None:
            return Money(None, currency)
        # what ``deserialize`` does for a value that is there (ExactDecimal has no validators)
        return Money(self.amount._deserialize(amount, None, None), currency)


class MoneyType(FieldType):
    """A money amount (NUMERIC) plus an ISO 4217 currency code; filters work on the amount."""

    name = "money"
    label = "Money"
    description = "An amount with its currency, such as a price; totals add up per currency."
    settings_schema = {
        "type": "object",
        "properties": {
            "currencies": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[A-Z]{3}$"},
                "minItems": 1,
                "uniqueItems": True,
            },
            "default_currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "precision": {"type": "integer", "minimum": 3, "maximum": 38},
            "scale": {"type": "integer", "minimum": 0, "maximum": 6},
            "min": BOUND_SCHEMA,
            "max": BOUND_SCHEMA,
        },
        "additionalProperties": False,
    }
    operators = ORDERING

    def normalise_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        full = {"precision": 18, "scale": 2, "default_currency": "EUR", **settings}
        if "currencies" in full and "default_currency" not in settings:
            full["default_currency"] = full["currencies"][0]
        return full

    def extra_settings_errors(self, settings: Mapping[str, Any], model: Any) -> list[str]:
        full = self.normalise_settings(settings)
        allowed = full.get("currencies")
        errors = decimal_bounds_errors(settings)
        if allowed and full["default_currency"] not in allowed:
            errors.append("default_currency: Must be one of the currencies.")
        return errors

    def columns(self, field: FieldLike) -> list[ColumnSpec]:
        p, s = field.settings.get("precision", 18), field.settings.get("scale", 2)
        return [
            ColumnSpec(f"{field.key}_amount", StoredNumber(p, s), f"numeric({p},{s})"),
            ColumnSpec(f"{field.key}_currency", String(3), "varchar(3)"),
        ]

    def indexable_columns(self, field: FieldLike) -> list[str]:
        return [f"{field.key}_amount"]

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return MoneyInput(field.settings.get("default_currency", "EUR"), allow_none=True)

    def value_errors(self, field: FieldLike, value: Any, old: Any, model: Any) -> list[str]:
        if value is None:
            return []
        errors = digits_errors(
            value.amount, field.settings.get("precision", 18), field.settings.get("scale", 2)
        )
        allowed = field.settings.get("currencies")
        if allowed and value.currency not in allowed:
            errors.append(f"currency: must be one of {', '.join(allowed)}.")
        if value.amount is not None and not errors:
            bounds = {k: Decimal(str(v)) for k, v in field.settings.items() if k in ("min", "max")}
            errors.extend(bounds_errors(bounds, value.amount))
        return errors

    def value_checker(self, field: FieldLike) -> ValueChecker | None:
        if type(self).value_errors is not MoneyType.value_errors:
            return super().value_checker(field)
        precision, scale = field.settings.get("precision", 18), field.settings.get("scale", 2)
        allowed = field.settings.get("currencies")
        bounds = {k: Decimal(str(v)) for k, v in field.settings.items() if k in ("min", "max")}

        def check(value: Any, old: Any, model: Any) -> list[str]:
            if value is None:
                return []
            errors = digits_errors(value.amount, precision, scale)
            if allowed and value.currency not in allowed:
                errors.append(f"currency: must be one of {', '.join(allowed)}.")
            if value.amount is not None and not errors:
                errors.extend(bounds_errors(bounds, value.amount))
            return errors

        return check

    def new_value_check(self, field: FieldLike) -> NewValueCheck | None:
        if (
            type(self).value_errors is not MoneyType.value_errors
            or type(self).normalise is not MoneyType.normalise
        ):
            return super().new_value_check(field)
        fitted = fitted_digits(field.settings.get("precision", 18), field.settings.get("scale", 2))
        allowed = field.settings.get("currencies")
        bounds = {k: Decimal(str(v)) for k, v in field.settings.items() if k in ("min", "max")}

        def settle(value: Any, model: Any) -> tuple[Any, Sequence[str]]:
            if value is None:
                return None, []
            amount = value.amount
            if amount is None:
                errors: list[str] = []
            else:
                amount, errors = fitted(amount)
                value = Money(amount, value.currency)
            if allowed and value.currency not in allowed:
                errors.append(f"currency: must be one of {', '.join(allowed)}.")
            if amount is not None and not errors and bounds:
                errors.extend(bounds_errors(bounds, amount))
            return value, errors

        return settle

    def plain_column(self, field: FieldLike) -> PlainColumn | None:
        if type(self) is not MoneyType:  # (a subclass may load or check its own way)
            return None
        amounts = plain_amounts(field.settings.get("precision", 18), field.settings.get("scale", 2))
        if amounts is None:
            return None
        default = field.settings.get("default_currency", "EUR")
        allowed = field.settings.get("currencies")
        allowed = None if not allowed else frozenset(allowed)
        low, high = decimal_bounds(field.settings)

        def load(values: list[Any], model: Any) -> list[Money] | None:
            loaded = plain_money(values, amounts, default, allowed, is_currency_code)
            if loaded is None or not bounded([m.amount for m in loaded], low, high):
                return None
            return loaded

        return load

    def normalise(self, field: FieldLike, value: Any) -> Any:
        if value is None or value.amount is None:
            return value
        return Money(fit_scale(value.amount, field.settings.get("scale", 2)), value.currency)

    def output_field(self, field: FieldLike) -> ma.fields.Field:
        return ma.fields.Nested(MoneyOutput, allow_none=True)

    def is_empty(self, value: Any) -> bool:
        return value is None or value.amount is None

    def to_row(self, field: FieldLike, value: Any) -> dict[str, Any]:
        if value is None or value.amount is None:
            return {f"{field.key}_amount": None, f"{field.key}_currency": None}
        return {f"{field.key}_amount": value.amount, f"{field.key}_currency": value.currency}

    def from_row(self, field: FieldLike, row: Mapping[str, Any]) -> Any:
        amount = row[f"{field.key}_amount"]
        if amount is None:
            return None
        scale = field.settings.get("scale", 2)
        amount = Decimal(amount).quantize(Decimal(1).scaleb(-scale), context=WIDE)
        return Money(amount, row[f"{field.key}_currency"])

    def reader(self, field: FieldLike) -> Callable[[Mapping[str, Any]], Any]:
        amount_key, currency_key = f"{field.key}_amount", f"{field.key}_currency"
        quantum = Decimal(1).scaleb(-field.settings.get("scale", 2))

        def read(row: Mapping[str, Any]) -> Any:
            amount = row[amount_key]
            if amount is None:
                return None
            # a Decimal (as the row holds it) needs no copy before its places are fitted
            if type(amount) is not Decimal:
                amount = Decimal(amount)
            return Money(amount.quantize(quantum, context=WIDE), row[currency_key])

        return read

    def scaled_reader(self, field: FieldLike) -> Callable[[Mapping[str, Any]], Any]:
        if type(self).reader is not MoneyType.reader:  # a subclass reading its own way
            return self.reader(field)
        amount_key, currency_key = f"{field.key}_amount", f"{field.key}_currency"

        def read(row: Mapping[str, Any]) -> Any:
            # the row's Decimal has the column's scale, the field's places: as it is
            amount = row[amount_key]
            return None if amount is None else Money(amount, row[currency_key])

        return read

    def to_json(self, field: FieldLike, value: Any, model: Any) -> Any:
        if value is None or value.amount is None:  # {"amount": null} is no amount
            return None
        return {"amount": str(value.amount), "currency": value.currency}

    def to_plain(self, field: FieldLike, value: Any) -> Any:
        return None if value is None else value.amount

    def to_audit(self, field: FieldLike, value: Any) -> Any:
        return self.to_json(field, value, None)

    def display(self, field: FieldLike, value: Any, model: Any) -> str:
        return "" if value is None else f"{value.amount} {value.currency}"

    def parse_scalar(self, field: FieldLike, raw: Any, model: Any) -> Any:
        value = super().parse_scalar(field, raw, model)
        return value.amount if isinstance(value, Money) else value

    def filter_clause(
        self, field: FieldLike, table: Table, op: str, value: Any, model: Any
    ) -> ColumnElement[bool]:
        return compare(table.c[f"{field.key}_amount"], op, value)

    def filter_column(self, field: FieldLike, table: Table) -> ColumnElement[Any] | None:
        return table.c[f"{field.key}_amount"]
