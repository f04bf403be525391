"""Loading a write's input values: one loader per compiled entity type.

Built once per compiled entity type from its active fields' loaders
(:meth:`FieldType.value_loader` and :meth:`FieldType.new_value_loader`): each field's input
is read, normalised and (on a create) checked in one call, the common inputs without
marshmallow; an input a type's fast path leaves alone goes through the type's input field,
so every value and every message is the input field's. Every refusal is collected, so a
write reports all of them at once.

A batch of creates is loaded column by column first (:attr:`InputLoader.load_new_many`): a
column of plain inputs at once by the type's plain column
(:mod:`~trellis.metamodel.fieldtypes.plain_columns`), any other column value by value; a
record any of whose values has a problem (or is checked later) is left to ``load_new``, so
its values and messages are exactly a single create's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING, Any

from trellis.metamodel.fieldtypes.input_fields import InputRefused

if TYPE_CHECKING:
    from trellis.metamodel.changes import Errors
    from trellis.metamodel.compiled import CompiledField, CompiledModel


@dataclass(frozen=True)
class InputLoader:
    """The input loading of one entity type's active fields (see the module docstring)."""

    #: ``(values by key, errors) -> loaded values``: an update's (no checks: they compare
    #: with the old values)
    load: Callable[[Mapping[str, Any], Errors], dict[str, Any]]
    #: ``(values by key, model, errors, checked) -> loaded values``: a create's, each
    #: value's checks run as it is loaded; ``checked`` gets the problems of the values that
    #: have any, and None for the values of the types whose checks run after loading
    #: (multiple choices, users). A value checked without a problem is not in it: there is
    #: nothing left to do for it
    load_new: Callable[
        [Mapping[str, Any], CompiledModel, Errors, dict[str, Sequence[str] | None]], dict[str, Any]
    ]
    #: ``(each record's values by key, model) -> each record's loaded values``, as
    #: ``load_new`` gives them for a record whose every value loads without a problem (its
    #: keys in its own order), or None for a record ``load_new`` must load (a value with a
    #: problem, or checked after loading, or a key that is no field)
    load_new_many: Callable[
        [Sequence[Mapping[str, Any]], CompiledModel], list[dict[str, Any] | None]
    ]


def input_loader(fields: Mapping[str, CompiledField]) -> InputLoader:
    """The :class:`InputLoader` of an entity type's active ``fields``."""
    loaders = {key: f.type.value_loader(f) for key, f in fields.items()}
    new_loaders = {key: f.type.new_value_loader(f) for key, f in fields.items()}
    plain = {key: f.type.plain_column(f) for key, f in fields.items()}

    def load(known: Mapping[str, Any], errors: Errors) -> dict[str, Any]:
        values = {}
        for key, value in known.items():
            try:
                values[key] = loaders[key](value)
            except InputRefused as refused:
                for message in refused.messages:
                    errors.add(key, message)
        return values

    def load_new(
        known: Mapping[str, Any],
        model: CompiledModel,
        errors: Errors,
        checked: dict[str, Sequence[str] | None],
    ) -> dict[str, Any]:
        values = {}
        for key, value in known.items():
            try:
                value, problems = new_loaders[key](value, model)
            except InputRefused as refused:
                for message in refused.messages:
                    errors.add(key, message)
                continue
            if problems is None or problems:
                checked[key] = problems
            values[key] = value
        return values

    def column(key: str, values: list[Any], model: CompiledModel) -> tuple[list[Any], set[int]]:
        """A column's loaded values, and the positions of those with a problem (or checked
        later), which are left to ``load_new``."""
        screen = plain[key]
        if screen is not None:
            loaded = screen(values, model)
            if loaded is not None:
                return loaded, set()
        load, out, odd = new_loaders[key], [], set()
        for position, value in enumerate(values):
            try:
                value, problems = load(value, model)
            except InputRefused:
                problems = None
            if problems is None or problems:
                odd.add(position)
            out.append(value)
        return out, odd

    def load_new_many(
        knowns: Sequence[Mapping[str, Any]], model: CompiledModel
    ) -> list[dict[str, Any] | None]:
        count = len(knowns)
        columns: dict[str, list[Any]] = {}
        odd: set[int] = set()
        for key in set().union(*knowns):
            if key not in fields:
                odd.update(i for i, known in enumerate(knowns) if key in known)
                continue
            values = [known[key] for known in knowns if key in known]
            loaded, odd_ones = column(key, values, model)
            if len(values) < count:  # (spread over the records that have the key)
                at = [i for i, known in enumerate(knowns) if key in known]
                odd.update(at[position] for position in odd_ones)
                spread: list[Any] = [None] * count
                for i, value in zip(at, loaded, strict=True):
                    spread[i] = value
                loaded = spread
            else:
                odd |= odd_ones
            columns[key] = loaded
        # each record's values in its keys' order; most records have the first one's keys in
        # its order, and take their row of the columns as they are
        first = tuple(knowns[0]) if knowns else ()
        if first and not odd and all(map(first.__eq__, map(tuple, knowns))):
            rows = zip(*(columns[key] for key in first), strict=True)
            return list(map(dict, map(zip, repeat(first), rows)))  # (no Python frame a record)
        return [
            None if i in odd else {key: columns[key][i] for key in known}
            for i, known in enumerate(knowns)
        ]

    return InputLoader(load, load_new, load_new_many)
