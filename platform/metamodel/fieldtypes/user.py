"""``user``: a Trellis user, such as the person a deal is assigned to.

Stored as the user's id in ``<key>_id``. Input is the id, ``{"id": n}`` (as the API reads it)
or the username; the record service resolves usernames and refuses unknown or disabled users
(a disabled user already in the field stays readable). The API reads it as
``{"id", "username", "name"}``. Filters take an id or a username.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from sqlalchemy import BigInteger, ColumnElement, Table, func, or_, select

from trellis.accounts import USERNAME_PATTERN, User
from trellis.metamodel.fieldtypes.base import ColumnSpec, FieldLike, FieldType
from trellis.metamodel.fieldtypes.input_fields import MAX_INTEGER
from trellis.metamodel.fieldtypes.operators import compare


class UserInput(ma.fields.Field):
    """A user id (``3``, ``"3"``, ``{"id": 3}``) or a username (``"ann"``). User ids are the
    users table's INTEGER ids: a number above :data:`MAX_INTEGER` is refused; digits beyond
    it in a text are a username (usernames may be all digits)."""

    default_error_messages = {
        "invalid": "Give a user's id or username.",
        "too_large": f"A user id is at most {MAX_INTEGER}.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, Mapping) and "id" in value:
            value = value["id"]
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, str):
            text = value.strip().removeprefix("#")
            digits = text.isascii() and text.isdigit() and len(text) <= 18
            if digits and 1 <= int(text) <= MAX_INTEGER:
                value = int(text)
            elif _is_username(text):
                return text  # a username: the record service finds the user
            else:
                raise self.make_error("invalid")
        if not isinstance(value, int) or value < 1:
            raise self.make_error("invalid")
        if value > MAX_INTEGER:
            raise self.make_error("too_large")
        return value


def _is_username(text: str) -> bool:
    return bool(USERNAME_PATTERN.match(text))


class UserOutput(ma.Schema):
    id = ma.fields.Integer(required=True)
    username = ma.fields.String(required=True, allow_none=True)
    name = ma.fields.String(required=True, allow_none=True)


class UserType(FieldType):
    """A user id; see the module docstring."""

    name = "user"
    label = "User"
    description = "A person who uses Trellis, such as whom a deal is assigned to."
    operators = ("eq", "ne", "in", "isnull")

    def columns(self, field: FieldLike) -> list[ColumnSpec]:
        return [ColumnSpec(f"{field.key}_id", BigInteger(), "bigint")]

    def input_field(self, field: FieldLike, model: Any) -> ma.fields.Field:
        return UserInput(allow_none=True, metadata={"description": "A user's id or username"})

    def output_field(self, field: FieldLike) -> ma.fields.Field:
        return ma.fields.Nested(UserOutput, allow_none=True)

    def to_json(self, field: FieldLike, value: Any, ctx: Any) -> Any:
        if value is None:
            return None
        found = ctx.user_of(value) if hasattr(ctx, "user_of") else None
        if found is None:
            return {"id": value, "username": None, "name": None}
        return {"id": value, "username": found.username, "name": found.name}

    def display(self, field: FieldLike, value: Any, model: Any) -> str:
        return "" if value is None else f"#{value}"

    def filter_clause(
        self, field: FieldLike, table: Table, op: str, value: Any, model: Any
    ) -> ColumnElement[bool]:
        column = table.c[self.columns(field)[0].name]
        if op == "in":
            return (
                or_(*(column == _user_id(v) for v in value)) if value else compare(column, op, [])
            )
        if isinstance(value, str):
            value = _user_id(value)
        return compare(column, op, value)


def _user_id(value: Any) -> Any:
    """An id as it is, a username as the id of that user (a subquery); no such user, 0,
    which no user has: a NULL would make ``ne`` unknown for every record (and lose them
    all), where no record's value is that user."""
    if not isinstance(value, str):
        return value
    return func.coalesce(select(User.id).where(User.username == value).scalar_subquery(), 0)
