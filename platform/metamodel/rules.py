"""Required-field rules and validation rules, stored as data.

Expressions are compiled when a rule is saved, against the entity's active fields, so an
unknown name or a syntax error is the administrator's error message, never a user's crash.
"""

from __future__ import annotations

import ast
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.errors import NotFound, ValidationFailed
from trellis.expressions import ExpressionError, compile_expression
from trellis.metamodel.changes import USAGE_CHECKS, Errors, MetamodelChanges
from trellis.metamodel.models import RULE_KINDS, EntityType, Rule
from trellis.patterns import fixed

#: a rule's key: it names the rule in config packs (``required_email``, ``validation_1``)
RULE_KEY = fixed(r"^[a-z][a-z0-9_]{0,59}$")  # RE2: "$" is the very end
RULE_KEY_TEXT = "Use 1-60 lower-case letters, digits or underscores, starting with a letter."

#: what a rule is made of, as the API and the admin form name it
RULE_OPTIONS = ("kind", "field", "when", "from_stage", "expression", "message")
#: the parts only one kind of rule has
KIND_OPTIONS = {"required": ("when", "from_stage"), "validation": ("expression", "message")}


class RuleOperations(MetamodelChanges):
    """Rules of entity types."""

    def add_rule(
        self,
        entity: str,
        kind: str,
        *,
        field: str | None = None,
        when: str = "",
        from_stage: str | None = None,
        expression: str = "",
        message: str = "",
        key: str | None = None,
    ) -> Rule:
        """Add a rule; ``from_stage`` is ``"<pipeline>.<stage>"``. ``key`` names it (unique
        per entity type); without one it is ``required_<field>`` or ``validation_<n>``."""
        row = self.entity_row(entity)
        key_problem = _key_problem(row, key)
        try:
            stage = self._checked(row, kind, field, when, from_stage, expression, message)
        except ValidationFailed as exc:
            if key_problem:
                exc.errors.setdefault("key", []).append(key_problem)
            raise
        if key_problem:
            raise ValidationFailed({"key": [key_problem]})
        rule = Rule(
            key=key or _new_key(row, kind, field),
            kind=kind,
            field_key=field,
            condition=when or "",
            from_stage=stage,
            expression=expression or "",
            message=(message or "").strip(),
        )
        row.rules.append(rule)
        self.session.flush()
        self.bump("rule.add", f"{entity}#{rule.id}", _describe(rule, from_stage))
        return rule

    def update_rule(self, entity: str, rule_id: int, **changes: Any) -> Rule:
        """Change a rule in place: any of ``kind``, ``field``, ``when``, ``from_stage``,
        ``expression``, ``message`` (the others keep their values; ``None`` or ``""`` empties
        one). The result is checked as a new rule would be."""
        row = self.entity_row(entity)
        rule = self._rule(row, rule_id)
        if "key" in changes and changes["key"] == rule.key:
            changes.pop("key")  # a rule read and sent back names its own key
        unknown = set(changes) - set(RULE_OPTIONS)
        if unknown:
            raise ValidationFailed(
                {
                    k: ["Cannot be changed." if k == "key" else "Unknown property."]
                    for k in sorted(unknown)
                }
            )
        current = {
            "kind": rule.kind,
            "field": rule.field_key,
            "when": rule.condition,
            "from_stage": _stage_ref(rule),
            "expression": rule.expression,
            "message": rule.message,
        }
        merged = {**current, **changes}
        if "kind" in changes and changes["kind"] != rule.kind:
            # the other kind's parts do not carry over (a condition is not an expression)
            for name in KIND_OPTIONS.get(rule.kind, ()):
                if name not in changes and name not in KIND_OPTIONS.get(changes["kind"], ()):
                    merged[name] = None
        stage = self._checked(
            row,
            merged["kind"],
            merged["field"] or None,
            merged["when"] or "",
            merged["from_stage"] or None,
            merged["expression"] or "",
            merged["message"] or "",
        )
        rule.kind = merged["kind"]
        rule.field_key = merged["field"] or None
        rule.condition = merged["when"] or ""
        rule.from_stage = stage
        rule.expression = merged["expression"] or ""
        rule.message = (merged["message"] or "").strip()
        self.session.flush()
        self.bump("rule.update", f"{entity}#{rule.id}", _describe(rule, merged["from_stage"]))
        return rule

    def _checked(
        self,
        row: EntityType,
        kind: Any,
        field: Any,
        when: Any,
        from_stage: Any,
        expression: Any,
        message: Any,
    ) -> Any:
        """Every problem of a rule as given (ValidationFailed), else its start stage."""
        entity = row.key
        active = [f.key for f in row.fields if not f.archived]
        errors = Errors()
        stage = None
        for name, value in (
            ("kind", kind),
            ("field", field),
            ("when", when),
            ("from_stage", from_stage),
            ("expression", expression),
            ("message", message),
        ):
            if value is not None and not isinstance(value, str):
                errors.add(name, "Use text.")
        errors.raise_if_any()
        if kind not in RULE_KINDS:
            errors.add("kind", f"Use one of: {', '.join(RULE_KINDS)}.")
        if field is not None and field not in active:
            errors.add("field", f"{entity!r} has no active field {field!r}.")
        if kind == "required":
            if field is None:
                errors.add("field", "Name the field that is required.")
            if expression or message:
                errors.add("expression", "A required rule has no expression; use 'when'.")
            if from_stage:
                stage, problem = self._stage_of(row, from_stage)
                if problem:
                    errors.add("from_stage", problem)
        if kind == "validation":
            if not expression:
                errors.add("expression", "A validation rule needs an expression that must hold.")
            if not (message or "").strip():
                errors.add("message", "Say what the user should fix.")
            if when or from_stage:
                errors.add("when", "Put the condition into the expression of a validation rule.")
        for name, source in (("when", when), ("expression", expression)):
            if source:
                try:
                    compile_expression(source, active)
                except ExpressionError as exc:
                    errors.add(name, exc.message)
        errors.raise_if_any()
        return stage

    def _rule(self, row: EntityType, rule_id: int) -> Rule:
        rule = next((r for r in row.rules if r.id == rule_id), None)
        if rule is None:
            raise NotFound(f"{row.key!r} has no rule {rule_id}.")
        return rule

    def delete_rule(self, entity: str, rule_id: int) -> None:
        """Remove a rule."""
        row = self.entity_row(entity)
        rule = self._rule(row, rule_id)
        detail = _describe(rule, _stage_ref(rule))
        row.rules.remove(rule)
        self.session.delete(rule)
        self.bump("rule.delete", f"{entity}#{rule_id}", detail)

    def _stage_of(self, entity: EntityType, ref: str) -> tuple[Any, str | None]:
        pipeline_key, _, stage_key = ref.partition(".")
        for pipeline in entity.pipelines:
            if pipeline.key == pipeline_key:
                for stage in pipeline.stages:
                    if stage.key == stage_key:
                        return stage, None
                return None, f"Pipeline {pipeline_key!r} has no stage {stage_key!r}."
        return None, f"Use '<pipeline>.<stage>'; {entity.key!r} has no pipeline {pipeline_key!r}."


def _key_problem(entity: EntityType, key: Any) -> str | None:
    """What is wrong with ``key`` as a new rule's key of ``entity`` (None: fine or absent)."""
    if key is None:
        return None
    if not isinstance(key, str) or not RULE_KEY.match(key):
        return RULE_KEY_TEXT
    if any(r.key == key for r in entity.rules):
        return f"{entity.key!r} has a rule {key!r} already."
    return None


def _new_key(entity: EntityType, kind: str, field: str | None) -> str:
    """A free key for a new rule: ``required_<field>``, ``validation_<field>``, else
    ``<kind>_<n>`` (with ``_2``, ``_3``... when taken)."""
    taken = {r.key for r in entity.rules}
    base = f"{kind}_{field}" if field else f"{kind}_1"
    base = base[:56]
    if base not in taken:
        return base
    stem = base.removesuffix("_1") if not field else base
    number = 2
    while f"{stem}_{number}" in taken:
        number += 1
    return f"{stem}_{number}"


def _stage_ref(rule: Rule) -> str | None:
    stage = rule.from_stage
    return f"{stage.pipeline.key}.{stage.key}" if stage is not None else None


def _describe(rule: Rule, from_stage: str | None) -> dict[str, Any]:
    return {
        "key": rule.key,
        "kind": rule.kind,
        "field": rule.field_key,
        "when": rule.condition,
        "from_stage": from_stage,
        "expression": rule.expression,
        "message": rule.message,
    }


def rule_reference(rule: Rule) -> str:
    """How a rule is named in messages."""
    labels = {f.key: f.label for f in rule.entity.fields} if rule.entity else {}
    if rule.kind == "required":
        label = labels.get(rule.field_key or "", rule.field_key)
        return f"the rule that makes “{label}” required"
    return f"the validation rule “{rule.message}”"


def _rules_using(session: Session, entity: str, field: str | None) -> list[str]:
    """Rules of ``entity`` that name ``field`` or read it in an expression."""
    if field is None:
        return []
    rules = session.scalars(select(Rule).join(Rule.entity).where(EntityType.key == entity))
    found = []
    for rule in rules:
        names = (
            {rule.field_key} | set(_all_names(rule.condition)) | set(_all_names(rule.expression))
        )
        if field in names:
            found.append(f"Used by {rule_reference(rule)}.")
    return found


def _all_names(source: str) -> list[str]:
    if not source:
        return []
    try:
        return [n.id for n in ast.walk(ast.parse(source, mode="eval")) if isinstance(n, ast.Name)]
    except SyntaxError:
        return []


USAGE_CHECKS.append(_rules_using)
