"""Loading a write's input values: one loader per compiled entity type.

Built once per compiled entity type from its active fields' loaders
(:meth:`FieldType.value_loader` and :meth:`FieldType.new_value_loader`): each field's input
is read, normalised and (on a create) checked in one call, the common inputs without
marshmallow; an input a type's fast path leaves alone goes through the type's input field,
so every value and every message is the input field's. Every refusal is collected, so a
write reports all of them at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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


def input_loader(fields: Mapping[str, CompiledField]) -> InputLoader:
    """The :class:`InputLoader` of an entity type's active ``fields``."""
    loaders = {key: f.type.value_loader(f) for key, f in fields.items()}
    new_loaders = {key: f.type.new_value_loader(f) for key, f in fields.items()}

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

    return InputLoader(load, load_new)
