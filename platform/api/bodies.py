"""The building blocks of the API's request bodies (:mod:`trellis.api.meta_schemas`, the
flow and automation bodies): :class:`Body`, which refuses unknown properties, and fields that
are exact about JSON types and say what is wrong in words (texts that refuse NUL, labels,
keys, choices, flags, whole numbers, nested objects, lists and maps, any JSON value); and
marshmallow's nested messages by dotted path (:func:`problems_by_property`), a 422 naming
each property that is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import marshmallow as ma

from trellis.access.grants import ROLE_KEY
from trellis.api.schemas import NO_NUL, JsonInteger
from trellis.metamodel.changes import MAX_LABEL, key_errors, label_errors
from trellis.metamodel.option_lists import OPTION_KEY, color_ok
from trellis.metamodel.physical import RESERVED_KEYS

#: what the columns hold: 32-bit positions
INT32 = ma.validate.Range(-(2**31), 2**31 - 1, error="Out of range.")
KEY_TEXT = "1-40 lower-case letters, digits or underscores"
#: what a key of an entity type, field, pipeline or stage looks like (:func:`Key`)
KEY_PATTERN = "^[a-z][a-z0-9_]{0,29}$"
#: what a key of an option looks like (:func:`ListKey`)
OPTION_KEY_PATTERN = "^[a-z0-9][a-z0-9_]{0,39}$"
KEY_WORDS = (
    "1-30 lower-case letters, digits or underscores, starting with a letter; no double "
    "underscore, not a reserved word."
)

MESSAGES = {
    "required": "Required.",
    "null": "Must not be null.",
}


class Body(ma.Schema):
    """A JSON object with exactly these properties."""

    class Meta:
        unknown = ma.RAISE

    error_messages = {"unknown": "Unknown property.", "type": "Expected a JSON object."}
    #: properties that exist but cannot be changed through this body: what to say
    immutable: dict[str, str] = {}


def with_messages(messages: dict[str, str], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A field's keyword arguments with its error messages: ``messages`` over the usual ones,
    those given in ``kwargs`` over both."""
    kwargs["error_messages"] = {**MESSAGES, **messages, **kwargs.get("error_messages", {})}
    return kwargs


#: text with something in it besides spaces (Python's, which take in U+001C to U+001F and U+0085
#: too: said outright, as pattern engines differ there) and no NUL
FILLED_TEXT = "^[^\\u0000]*[^\\s\\u0000\\u001c-\\u001f\\u0085][^\\u0000]*$"


def Text(**kwargs: Any) -> ma.fields.String:
    """Text; the document says it has no NUL (any NUL in a body is the server's 400)."""
    kwargs["metadata"] = {"pattern": NO_NUL, **kwargs.get("metadata", {})}
    return ma.fields.String(**with_messages({"invalid": "Use text."}, kwargs))


class Checked(ma.validate.Validator):
    """The service's own check of a value (a function returning sentences), so a body with
    several problems gets all of them at once, in the service's words."""

    def __init__(self, check: Callable[[Any], list[str]]) -> None:
        self.check = check

    def __call__(self, value: Any) -> Any:
        problems = self.check(value)
        if problems:
            raise ma.ValidationError(problems)
        return value


def Label(**kwargs: Any) -> ma.fields.String:
    doc = {
        "minLength": 1,
        "maxLength": MAX_LABEL,
        # something besides spaces, and no NUL (the server's 400)
        "pattern": FILLED_TEXT,
        **kwargs.pop("metadata", {}),
    }
    return Text(validate=Checked(label_errors), metadata=doc, **kwargs)


def Key(what: str = "key", **kwargs: Any) -> ma.fields.String:
    """A key of an entity type, field, pipeline or stage (it names columns and tables)."""
    doc = {
        "pattern": KEY_PATTERN,
        # no double underscore (``field__op`` names a filter), no reserved word
        "not": {"anyOf": [{"pattern": "__"}, {"enum": sorted(RESERVED_KEYS)}]},
        "description": KEY_WORDS,
    }
    return Text(validate=Checked(lambda v: key_errors(v, what)), metadata=doc, **kwargs)


def ListKey(pattern: Any = OPTION_KEY, **kwargs: Any) -> ma.fields.String:
    """A key of an option list, option, role or conversion map."""
    first = "[a-z]" if pattern is ROLE_KEY else "[a-z0-9]"
    doc = {"pattern": f"^{first}[a-z0-9_]{{0,39}}$", "description": f"{KEY_TEXT}."}
    check = Checked(lambda v: [] if pattern.match(v) else [f"Use {KEY_TEXT}."])
    return Text(validate=check, metadata=doc, **kwargs)


def Color(**kwargs: Any) -> ma.fields.String:
    doc = {"pattern": "^(#[0-9a-fA-F]{6})?$", "description": "#rrggbb, or empty for none."}
    check = Checked(lambda v: [] if color_ok(v) else ["Use a colour such as #1f77b4."])
    return Text(allow_none=True, validate=check, metadata=doc, **kwargs)


def Choice(
    choices: tuple[str, ...] | list[str], error: str = "", **kwargs: Any
) -> ma.fields.String:
    error = error or f"Use one of: {', '.join(choices)}."
    return Text(validate=ma.validate.OneOf(choices, error=error), **kwargs)


def Flag(**kwargs: Any) -> ma.fields.Field:
    return StrictBoolean(**with_messages({"invalid": "Use true or false."}, kwargs))


def WholeNumber(**kwargs: Any) -> ma.fields.Integer:
    return JsonInteger(**with_messages({"invalid": "Use a whole number."}, kwargs))


def Position(**kwargs: Any) -> ma.fields.Integer:
    return WholeNumber(validate=INT32, **kwargs)


def Object(schema: type[Body] | Body, **kwargs: Any) -> ma.fields.Nested:
    return ma.fields.Nested(schema, **with_messages({"type": "Expected an object."}, kwargs))


def Items(inner: ma.fields.Field, **kwargs: Any) -> ma.fields.List:
    return ma.fields.List(inner, **with_messages({"invalid": "Expected a list."}, kwargs))


def ObjectOf(values: ma.fields.Field, names: str = NO_NUL, **kwargs: Any) -> ma.fields.Dict:
    """An object of entries; ``names``, a pattern its keys follow (the document's
    ``propertyNames``: keys of entity types, fields or options; at least no NUL, which the
    server refuses in any text, keys too)."""
    kwargs["metadata"] = {"propertyNames": {"pattern": names}, **kwargs.get("metadata", {})}
    return Entries(
        keys=Text(), values=values, **with_messages({"invalid": "Expected an object."}, kwargs)
    )


class StrictBoolean(ma.fields.Boolean):
    """``true`` or ``false`` only (marshmallow would also take 1, "yes", "on")."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Entries(ma.fields.Dict):
    """An object of entries; a bad entry's messages are under its key (``fields.amount``),
    not under marshmallow's ``{"amount": {"value": [...]}}``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ma.ValidationError as exc:
            if not isinstance(exc.messages, dict):
                raise
            flat: dict[str, Any] = {}
            for key, problems in exc.messages.items():
                if isinstance(problems, dict) and set(problems) <= {"key", "value"}:
                    merged = [*_listed(problems.get("key")), *_listed(problems.get("value"))]
                    nested = [m for m in merged if isinstance(m, dict)]
                    flat[key] = nested[0] if nested and len(merged) == 1 else merged
                else:
                    flat[key] = problems
            raise ma.ValidationError(flat) from None


def _listed(messages: Any) -> list[Any]:
    if messages is None:
        return []
    return messages if isinstance(messages, list) else [messages]


#: a JSON value of the field types and settings: text (no NUL: any NUL in a body is the
#: server's 400), a number, true or false, null, or a list or object of these (a money
#: amount, a user by id, the options of a multiple-choice list); the service checks it
_SCALAR = [
    {"type": "string", "pattern": NO_NUL},
    {"type": "number"},
    {"type": "boolean"},
    {"type": "null"},
]
JSON_VALUE_DOC: dict[str, Any] = {
    "anyOf": [
        *_SCALAR,
        {"type": "array", "items": {"anyOf": _SCALAR}},
        {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": {"anyOf": _SCALAR},
        },
    ]
}


class AnyJSON(ma.fields.Raw):
    """A JSON value (checked by the service against the configuration); the document says
    what the services take at all (:data:`JSON_VALUE_DOC`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {**JSON_VALUE_DOC, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)


def problems_by_property(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages by dotted path: ``{"options.0.key": ["Required."]}``."""
    found: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            where = str(key) if key != ma.utils.missing else ""
            path = f"{prefix}.{where}" if prefix and where else (prefix or where)
            for name, texts in problems_by_property(value, path).items():
                found.setdefault(name, []).extend(texts)
        return found
    for item in messages if isinstance(messages, list) else [messages]:
        if isinstance(item, Mapping):
            for name, texts in problems_by_property(item, prefix).items():
                found.setdefault(name, []).extend(texts)
        else:
            found.setdefault(prefix or "_body", []).append(str(item))
    return found
