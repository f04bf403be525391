"""Filter operands in the OpenAPI document (:mod:`trellis.api.openapi`): what the record
service parses of a list's query parameters (dates that exist, numbers a column holds, option
keys, users), as JSON Schema and patterns, so a generated client or fuzzer sends only what
the server would take; and the words each operator reads as."""

from __future__ import annotations

from typing import Any

from trellis.api.schemas import ID_POSITIVE, open_values
from trellis.metamodel.compiled import CompiledField, CompiledModel
from trellis.metamodel.fieldtypes.decimal_number import MAX_EXPONENT

#: what each operator of a filter parameter reads as, after the field's label
OPERATOR_HELP = {
    "eq": "equals",
    "ne": "differs from",
    "lt": "is less than",
    "lte": "is at most",
    "gt": "is greater than",
    "gte": "is at least",
    "in": "is one of (comma-separated)",
    "contains": "contains",
    "isnull": "is empty (true) or filled in (false)",
}


def option_keys(f: CompiledField, model: CompiledModel) -> list[str]:
    """The keys of the active options a choice field offers."""
    options = model.option_lists.get(f.settings.get("list", ""))
    return [k for k, o in options.options.items() if o.active] if options else []


#: a year 0001-9999 and a day that exists (the Gregorian calendar)
_YEAR = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_DAY = (
    "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)-02-29"
)
DATE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_DAY})"
#: a moment: date, hours:minutes[:seconds[.fraction]], an optional offset (none: UTC)
DATE_TIME = (
    f"{DATE}(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\\.[0-9]{{1,6}})?)?"
    "(?:Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9])?)?"
)
#: text with something in it besides spaces (an empty operand is refused: use __isnull)
FILLED = "[^,\\u0000]*[^\\s,\\u0000][^,\\u0000]*"
#: a user: an id from 1 or a username (as accounts allow them), optionally after "#"
USER = "\\s*#?(?:[1-9][0-9]{0,17}|[A-Za-z0-9][A-Za-z0-9._@-]{1,63})\\s*"
#: whole numbers (up to 18 digits: what a BIGINT surely holds) and decimals
WHOLE = "\\s*-?0*[0-9]{1,18}\\s*"
POSITIVE = "\\s*0*[1-9][0-9]{0,17}\\s*"
DECIMAL = "\\s*-?[0-9]{1,18}(?:\\.[0-9]{1,18})?\\s*"


def up_to(limit: int) -> str:
    """A pattern of the whole numbers from 0 to ``limit`` (digits, no sign): the ones with
    fewer digits, then digit by digit below ``limit``'s own, then ``limit`` itself."""
    digits = str(limit)
    shorter = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    below = [
        f"{digits[:i]}[0-{int(d) - 1}][0-9]{{{len(digits) - i - 1}}}"
        for i, d in enumerate(digits)
        if d != "0"
    ]
    return "(?:" + "|".join([*shorter, *below, digits]) + ")"


def anchored(item: str) -> str:
    return f"^{item}$"


def _listed(item: str) -> str:
    """Comma-separated ``item`` s (the operand of ``__in``)."""
    return f"^{item}(?:,{item})*$"


def operand_string(item: str, **more: Any) -> dict[str, Any]:
    """A filter operand: ``item``'s pattern wins over any in ``more`` (open values')."""
    return {"type": "string", "minLength": 1, **more, "pattern": anchored(item)}


def operand(
    type_name: str, f: CompiledField | None, model: CompiledModel
) -> tuple[dict[str, Any], str]:
    """The JSON Schema of an operand of a field of type ``type_name`` and the pattern of one
    item of ``__in``; the record service refuses what these do not match (a 400)."""
    if type_name in ("list", "multi_list") and f is not None:
        known = open_values(option_keys(f, model), f"An option key of {f.label!r}.")
        return operand_string(FILLED.replace(",", ""), **known), FILLED
    if type_name == "date":
        return operand_string(DATE, format="date"), DATE  # no spaces: the server takes none
    if type_name == "datetime":
        # not format date-time (RFC 3339 wants seconds and an offset; the server does not)
        moment = (
            "Date and time: 2026-03-31T14:30, with seconds and an offset if need be (none: UTC)."
        )
        return operand_string(DATE_TIME, description=moment), DATE_TIME
    if type_name == "integer":
        return {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}, WHOLE
    if type_name in ("decimal", "money"):
        # the server refuses magnitudes beyond any column (MAX_EXPONENT)
        bound = 10 ** (MAX_EXPONENT + 1)
        return {"type": "number", "exclusiveMinimum": -bound, "exclusiveMaximum": bound}, DECIMAL
    if type_name == "boolean":
        return {"type": "boolean"}, "(?:true|false)"
    if type_name == "reference":
        return dict(ID_POSITIVE), POSITIVE
    if type_name == "user":
        return operand_string(USER, description="A user's id or username"), USER
    return operand_string(FILLED.replace(",", "")), FILLED


def filter_value(f: CompiledField, model: CompiledModel) -> tuple[dict[str, Any], str]:
    """The JSON Schema of a filter operand of ``f`` in the query string, and of an item."""
    return operand(f.type.name, f, model)


def operand_schema(op: str, value: tuple[dict[str, Any], str], multi: bool) -> dict[str, Any]:
    """What ``op`` takes: its field's operand (``__in``: several; ``__contains``: any part
    of a text, or an option key of a multiple choice)."""
    schema, item = value
    if op == "isnull":
        return {"type": "boolean"}
    if op == "in":
        return {"type": "string", "pattern": _listed(item), "description": "Comma-separated."}
    if op == "contains" and not multi:
        return {"type": "string", "minLength": 1, "pattern": "^[^\\u0000]+$"}
    return schema
