"""The marshmallow input fields the field types share and the fast paths of loading them.

:class:`StrictInteger` and :class:`Trimmed` text; :func:`fast_input_of`, what an input field's
``deserialize`` gives for the common inputs without marshmallow (:data:`SLOW` for the rest);
:func:`direct_loader`, ``deserialize`` without its per-call machinery; and the words a write
reports for a refused value (:func:`refusal_messages`, :func:`input_messages`). Nothing here
knows a field type: :class:`~trellis.metamodel.fieldtypes.base.FieldType` builds on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

import marshmallow as ma

#: what a type's :meth:`FieldType.fast_input` gives for an input it leaves to its input field
SLOW = object()


class InputRefused(Exception):
    """An input value a field's loader refused, with the messages of its input field (as a
    write reports them for the field: one sentence each)."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__(messages)
        self.messages = messages


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


def first_message(messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    if isinstance(messages, Mapping):
        return first_message(next(iter(messages.values()), "Invalid value."))
    if isinstance(messages, Sequence) and messages:
        return first_message(messages[0])
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
