"""Rule evaluation: a pure function of the compiled entity and a record's values.

It yields every problem (like jsonschema's ``iter_errors``), so a form shows all of them at
once. The record service collects them with type errors, reference and uniqueness checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from trellis.metamodel.compiled import CompiledEntity, CompiledRule

RECORD_KEY = "_record"


def stage_reached(
    entity: CompiledEntity, rule: CompiledRule, pipeline: str | None, stage: str | None
) -> bool:
    """Whether a record at ``pipeline``/``stage`` is at the rule's stage or later.

    A failure stage (e.g. "junk") only counts when the rule names it: dropping a lead must not
    ask for the data that qualifying it needs.
    """
    if rule.from_stage is None:
        return True
    if pipeline != rule.from_pipeline or stage is None:
        return False
    stages = entity.pipelines[pipeline].stages
    current, start = stages.get(stage), stages.get(rule.from_stage)
    if current is None or start is None:
        return False
    if current.kind == "failure" and current.key != start.key:
        return False
    return current.position >= start.position


def rule_problems(
    entity: CompiledEntity,
    values: Mapping[str, Any],
    plain: Mapping[str, Any],
    pipeline: str | None,
    stage: str | None,
) -> Iterator[tuple[str, str, frozenset[str]]]:
    """Yield ``(field, message, names)`` for every broken rule. ``values`` are the record's
    values after the change, ``plain`` the same as expression-safe scalars; ``names`` are the
    fields the problem depends on (the field and the names in the rule's expressions): a
    caller who may not see one of them must not be told which, nor the condition."""
    missing: set[str] = set()
    is_empty = entity.value_hooks.is_empty  # (each active field's, by key)
    for key in entity.value_hooks.required:
        if is_empty[key](values.get(key)):
            missing.add(key)
            yield key, "Required.", frozenset({key})
    for rule in entity.rules:
        if rule.kind == "required":
            key = rule.field_key
            if key is None or key in missing or key not in is_empty:
                continue
            if not is_empty[key](values.get(key)):
                continue
            if rule.condition is not None and not rule.condition.holds(plain):
                continue
            if not stage_reached(entity, rule, pipeline, stage):
                continue
            missing.add(key)
            yield key, _required_message(entity, rule), rule.field_keys
        elif (
            rule.expression is not None
            and _applies(is_empty, rule.expression, values)
            and not rule.expression.holds(plain)
        ):
            yield (rule.field_key or RECORD_KEY), rule.message, rule.field_keys


def _applies(
    is_empty: Mapping[str, Callable[[Any], bool]], expression: Any, values: Mapping[str, Any]
) -> bool:
    """Whether a validation rule is checked: once every field it reads has a value (by
    ``is_empty``: each active field's test, by key). While one is empty it is not (``days >
    0`` must not make Days required: required rules say when a field must be filled), unless
    the expression asks about emptiness itself."""
    if expression.tests_emptiness:
        return True
    return not any(
        is_empty[key](values.get(key)) for key in expression.names_used if key in is_empty
    )


def _required_message(entity: CompiledEntity, rule: CompiledRule) -> str:
    if rule.from_stage is not None and rule.from_pipeline is not None:
        stage = entity.pipelines[rule.from_pipeline].stages[rule.from_stage]
        return f"Required from stage {stage.label!r} on."
    if rule.condition is not None:
        return f"Required when {rule.condition.source}."
    return "Required."
