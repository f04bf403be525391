"""Plain columns: a whole column of a batch's inputs loaded at once (see
:meth:`FieldType.plain_column`).

An import or a batch of creates hands the record service the same field's input a thousand
times, nearly always in the same common form (``"12.50"``, ``"2026-11-24"``, a trimmed
name). Loading each through the field's row loader costs a few Python calls per value; here
a column is screened with what runs in C over the whole of it (the type of every value,
the longest text, one regular expression over the column joined by newlines, ``map`` of a
constructor) and, when **every** value is such a plain input that loads without a problem,
loaded the same way. Anything else (one value of another form, out of bounds, a problem)
gives None: the caller loads that column value by value through the row loader, which stays
the one home of every rule and message. The screens are deliberately narrower than what the
row loaders accept; ``tests/records/test_plain_columns.py`` checks that each value a screen
passes loads to the same value, with no problem, by the row loader.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from trellis.metamodel.fieldtypes.base import Money

#: a column's loaded values, or None when one of its values is not plain
PlainColumn = Callable[[list[Any], Any], "list[Any] | None"]
#: ``[0-9]{1,18}`` with a sign: within a 64-bit integer whatever the digits
INTEGER_TEXT = r"-?[0-9]{1,18}"
#: a subset of what marshmallow's e-mail validator passes: a dot-atom of ASCII letters,
#: digits, ``_+-``, and a domain of ASCII labels, the last of at least two letters or digits
EMAIL_TEXT = (
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]{2,63}"
)
_NoneType = type(None)
_new_tuple = tuple.__new__


def column_pattern(element: str) -> re.Pattern[str]:
    """A pattern matching texts that each match ``element`` (which must not match a newline)
    joined by newlines: :func:`all_match`'s one pass over a column."""
    return re.compile(f"(?:{element})(?:\\n(?:{element}))*")


def all_match(pattern: re.Pattern[str], texts: list[str]) -> bool:
    """Whether every one of ``texts`` matches the element ``pattern`` was made from by
    :func:`column_pattern`."""
    return pattern.fullmatch("\n".join(texts)) is not None


def all_of_type(values: list[Any], kind: type) -> bool:
    """Whether every one of ``values`` is exactly a ``kind`` (not a subclass)."""
    return set(map(type, values)) == {kind}


def texts(
    values: list[Any], *, max_length: int, trims: bool, single_line: bool
) -> list[str] | None:
    """A column of texts as a text field without a pattern loads them (trimmed when
    ``trims``): every value a ``str``, none blank, none longer than ``max_length``, none
    with a NUL (nor, on a single line, a newline)."""
    if not all_of_type(values, str):
        return None
    loaded = list(map(str.strip, values)) if trims else values
    if not all(loaded if trims else map(str.strip, values)):  # (a blank text is no value)
        return None
    if max(map(len, loaded)) > max_length:
        return None
    joined = "".join(loaded)
    if "\x00" in joined or (single_line and "\n" in joined):
        return None
    return loaded


def bounded(numbers: list[Any], low: Any, high: Any) -> bool:
    """Whether every one of ``numbers`` is within ``low`` and ``high`` (None: unbounded)."""
    return (low is None or min(numbers) >= low) and (high is None or max(numbers) <= high)


def integers(values: list[Any], pattern: re.Pattern[str]) -> list[int] | None:
    """A column of whole numbers given as ``int`` or as texts of digits (``pattern``, made
    from :data:`INTEGER_TEXT`), or None."""
    kinds = set(map(type, values))
    if kinds == {int}:
        return values if bounded(values, -(2**63), 2**63 - 1) else None
    if kinds == {str} and all_match(pattern, values):
        return list(map(int, values))
    return None


def decimal_text(whole_digits: int, places: int, *, exact: bool = False) -> str | None:
    """A plain number's text with at most ``whole_digits`` digits before the point and
    ``places`` after it (``exact``: exactly ``places``); None when no digit may come
    before the point."""
    if whole_digits < 1:
        return None
    whole = f"-?[0-9]{{1,{whole_digits}}}"
    if places == 0:
        return whole
    return f"{whole}\\.[0-9]{{{places}}}" if exact else f"{whole}(?:\\.[0-9]{{1,{places}}})?"


def decimals(
    values: list[Any],
    exact: re.Pattern[str],
    pattern: re.Pattern[str],
    quantum: Decimal,
    context: Any,
) -> list[Decimal] | None:
    """A column of numbers given as texts matching ``pattern`` (made from
    :func:`decimal_text`), each with exactly the places of ``quantum``, or None; texts
    that all have those places already (``exact``) are read as they are."""
    if not all_of_type(values, str):
        return None
    if all_match(exact, values):
        return list(map(Decimal, values))
    if not all_match(pattern, values):
        return None
    fit = Decimal.quantize
    return [fit(Decimal(text), quantum, context=context) for text in values]


def money(
    values: list[Any],
    amounts_of: Callable[[list[Any]], list[Decimal] | None],
    default_currency: str,
    allowed: frozenset[str] | None,
    is_code: Callable[[str], bool],
) -> list[Money] | None:
    """A column of ``{"amount": text, "currency": code}`` (or without the currency: the
    default one), the amounts read by ``amounts_of``, or None."""
    if not all_of_type(values, dict) or not set().union(*values) <= _MONEY_KEYS:
        return None
    try:
        texts = [value["amount"] for value in values]
    except KeyError:
        return None
    amounts = amounts_of(texts)
    if amounts is None:
        return None
    currencies = [value.get("currency") for value in values]
    if not set(map(type, currencies)) <= {str, _NoneType}:
        return None
    currencies = [currency or default_currency for currency in currencies]  # (None, "")
    for code in set(currencies):
        if not is_code(code) or (allowed is not None and code not in allowed):
            return None
    # (what Money's own __new__ does, without its Python frame per value)
    return [_new_tuple(Money, pair) for pair in zip(amounts, currencies, strict=True)]


_MONEY_KEYS = frozenset({"amount", "currency"})


def dates(values: list[Any]) -> list[date] | None:
    """A column of ISO dates (``date.fromisoformat`` of every one), or None."""
    if not all_of_type(values, str):
        return None
    try:
        return list(map(date.fromisoformat, values))
    except ValueError:
        return None


def booleans(values: list[Any]) -> list[bool] | None:
    """A column of ``True`` and ``False``, or None."""
    return values if all_of_type(values, bool) else None


def option_keys(values: list[Any], options: Mapping[str, Any]) -> list[str] | None:
    """A column of the keys of active ``options``, or None."""
    if not all_of_type(values, str):
        return None
    chosen = set(values)
    if not chosen <= options.keys() or not all(options[key].active for key in chosen):
        return None
    return values
