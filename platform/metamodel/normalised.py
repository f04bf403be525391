"""The comparable form of a value, as duplicate rules compare them: text, e-mail and URL in
lower case without spaces, a phone number without its punctuation; other comparable types as
stored. So ``+372 555-0101`` matches ``3725550101`` and ``ACME  Ltd`` matches ``acme ltd``.

The form exists twice: in Python (:func:`normalise`, for the value looked for) and in SQL
(:func:`normalised_column`, over the stored column). The schema planner keeps an index on the
SQL form of every field a duplicate rule compares (``nx_<table>_<field>_<kind>``, see
:func:`trellis.metamodel.physical.entity_tables`), so a duplicate check is an indexed equality
however many records there are. The SQL uses literal constants, never parameters, so that the
query's expression is the index's expression on both databases.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column

#: the field types a duplicate rule may compare
COMPARABLE = ("text", "email", "phone", "url", "integer", "list", "reference", "date")
FOLD = "fold"  # lower case, spaces and tabs removed
DIGITS = "digits"  # phone punctuation removed
KINDS = {"text": FOLD, "email": FOLD, "url": FOLD, "phone": DIGITS}
PHONE_PUNCTUATION = (" ", "-", "(", ")", ".", "/", "+")
SPACES = (" ", "\t")


def kind_of(type_name: str) -> str:
    """How values of a field type are normalised: ``fold``, ``digits`` or "" (as stored)."""
    return KINDS.get(type_name, "")


def normalise(type_name: str, value: Any) -> Any:
    """The comparable form of a value: what :func:`normalised_column` computes, in Python."""
    if value is None:
        return None
    if type_name == "phone":
        return re.sub(r"\D", "", str(value))
    if type_name in ("text", "email", "url"):
        return re.sub(r"\s+", "", str(value)).lower()
    return value


def normalised_column(kind: str, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The SQL of the comparable form of ``column`` (``kind`` from :func:`kind_of`)."""
    if kind == DIGITS:
        for mark in PHONE_PUNCTUATION:
            column = func.replace(column, _text(mark), _text(""))
        return column
    if kind == FOLD:
        for space in SPACES:
            column = func.replace(column, _text(space), _text(""))
        return func.lower(column)
    return column


def _text(constant: str) -> ColumnElement[Any]:
    # only the fixed characters above reach here: no quote to escape
    return literal_column(f"'{constant}'")
