"""Automations as data: when a record of an entity type is created, enters a stage or has a
field changed (and an optional condition holds), run a list of actions.

They run on the events seam, inside the transaction of the change that triggered them, as
the system actor, through the record service: their writes are validated like any other and
commit or roll back with the change. An automation's writes announce events too, so
automations can trigger each other (and themselves); a chain deeper than :data:`MAX_DEPTH`
stops with a clear error and nothing of the change is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from trellis.accounts import SYSTEM, Actor
from trellis.clock import utcnow
from trellis.db import Base
from trellis.errors import NotFound, TrellisError, ValidationFailed
from trellis.expressions import CompiledExpression, ExpressionError, compile_expression
from trellis.flows.actions import (
    ActionContext,
    check_action,
    describe,
    expression_names,
    expression_values,
    run_action,
)
from trellis.flows.active import ActiveTriggers, AutomationTrigger, touch
from trellis.metamodel.changes import Errors
from trellis.metamodel.compiled import CompiledModel
from trellis.metamodel.model_cache import MetamodelCache
from trellis.patterns import fixed
from trellis.records.events import EventBus, RecordEvent
from trellis.records.service import RecordService
from trellis.records.validation import RECORD_KEY

TRIGGERS = {"create": "is created", "stage": "enters a stage", "field": "has a field changed"}
KEY_PATTERN = fixed(r"^[a-z][a-z0-9_]{0,39}$")
#: automations triggering automations deeper than this stop the change
MAX_DEPTH = 5
MAX_ACTIONS = 20
#: who automations act as
AUTOMATION_ACTOR: Actor = SYSTEM

_CHAIN = "trellis.automation_chain"


class Automation(Base):
    """Trigger (``trigger`` with ``stage`` or ``field``), condition and actions."""

    __tablename__ = "automation"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    entity: Mapped[str] = mapped_column(String(40), index=True)
    trigger: Mapped[str] = mapped_column(String(10))
    stage: Mapped[str | None] = mapped_column(String(40), nullable=True)
    field: Mapped[str | None] = mapped_column(String(40), nullable=True)
    condition: Mapped[str | None] = mapped_column(Text, nullable=True)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def as_data(self) -> dict[str, Any]:
        trigger: dict[str, Any] = {"on": self.trigger}
        if self.stage:
            trigger["stage"] = self.stage
        if self.field:
            trigger["field"] = self.field
        if self.condition:
            trigger["when"] = self.condition
        return {
            "key": self.key,
            "label": self.label,
            "entity": self.entity,
            "trigger": trigger,
            "actions": list(self.actions or []),
            "active": self.active,
        }

    def trigger_text(self) -> str:
        text = f"when a record {TRIGGERS.get(self.trigger, self.trigger)}"
        if self.stage:
            text = f"when a record enters {self.stage!r}"
        if self.field:
            text = f"when {self.field!r} changes"
        return text + (f" and {self.condition}" if self.condition else "")

    def action_texts(self) -> list[str]:
        return [describe(a) if isinstance(a, Mapping) else str(a) for a in self.actions or []]


class AutomationLoop(ValidationFailed):
    """Automations kept triggering each other: the change is refused."""


# -- saving: checked in full ----------------------------------------------------------------


def check_automation(
    session: Session, model: CompiledModel, data: Mapping[str, Any]
) -> dict[str, list[str]]:
    """Every problem of an automation, by field: ``entity``, ``trigger.on``, ``trigger.when``,
    ``actions.0.stage``..."""
    errors = Errors()
    label = data.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > 100):
        errors.add("label", "At most 100 characters.")
    entity = model.entities.get(data.get("entity"))  # type: ignore[arg-type]
    if entity is None:
        errors.add("entity", f"No entity type {data.get('entity')!r}.")
    trigger = data.get("trigger")
    if not isinstance(trigger, Mapping):
        errors.add("trigger.on", "Say when it runs: on create, on entering a stage or on a change.")
        trigger = {}
    on = trigger.get("on")
    for key in trigger:
        if key not in ("on", "stage", "field", "when"):
            errors.add(f"trigger.{key}", "Unknown setting.")
    if on not in TRIGGERS:
        errors.add("trigger.on", f"One of: {', '.join(TRIGGERS)}.")
    stage, field, when = trigger.get("stage"), trigger.get("field"), trigger.get("when")
    if on == "stage":
        if entity is not None and not entity.has_pipelines:
            errors.add("trigger.stage", f"{entity.label_plural} have no stages.")
        elif entity is not None and not any(stage in p.stages for p in entity.pipelines.values()):
            errors.add("trigger.stage", f"No stage {stage!r} in {entity.label_plural}.")
    elif stage is not None:
        errors.add("trigger.stage", "Only an automation on entering a stage names a stage.")
    if on == "field":
        if entity is not None and field not in entity.fields:
            errors.add("trigger.field", f"{entity.label_plural} have no field {field!r}.")
    elif field is not None:
        errors.add("trigger.field", "Only an automation on a field change names a field.")
    if when not in (None, "") and entity is not None:
        try:
            compile_expression(when, expression_names(entity))
        except ExpressionError as exc:
            errors.add("trigger.when", exc.message)
    actions = data.get("actions")
    if not isinstance(actions, list) or not actions:
        errors.add("actions", "Add at least one action.")
    elif len(actions) > MAX_ACTIONS:
        errors.add("actions", f"At most {MAX_ACTIONS} actions.")
    elif entity is not None:
        for position, spec in enumerate(actions):
            for key, messages in check_action(session, model, entity, spec).items():
                for message in messages:
                    errors.add(f"actions.{position}.{key}", message)
    if not isinstance(data.get("active", True), bool):
        errors.add("active", "True or false.")
    return dict(errors)


def save_automation(
    session: Session, model: CompiledModel, key: str, data: Mapping[str, Any], *, create: bool
) -> Automation:
    """Create (``create=True``) or replace an automation after checking all of it."""
    existing = session.scalar(select(Automation).where(Automation.key == key))
    errors = Errors()
    if create:
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            errors.add("key", "Use lower-case letters, digits and underscores (at most 40).")
        elif existing is not None:
            errors.add("key", f"An automation {key!r} exists already.")
    elif existing is None:
        raise NotFound(f"No automation {key!r}.")
    for name, messages in check_automation(session, model, data).items():
        for message in messages:
            errors.add(name, message)
    errors.raise_if_any()
    row = existing if existing is not None else Automation(key=key)
    trigger = data["trigger"]
    row.label = data.get("label") or key.replace("_", " ").capitalize()
    row.entity = data["entity"]
    row.trigger = trigger["on"]
    row.stage = trigger.get("stage") if row.trigger == "stage" else None
    row.field = trigger.get("field") if row.trigger == "field" else None
    row.condition = (trigger.get("when") or "").strip() or None
    row.actions = [dict(a) for a in data["actions"]]
    row.active = data.get("active", True)
    session.add(row)
    session.flush()
    touch(session)
    return row


def delete_automation(session: Session, key: str) -> None:
    row = session.scalar(select(Automation).where(Automation.key == key))
    if row is None:
        raise NotFound(f"No automation {key!r}.")
    session.delete(row)
    session.flush()
    touch(session)


# -- running ----------------------------------------------------------------------------------


def _triggered_by(automation: AutomationTrigger, event: RecordEvent) -> bool:
    if automation.trigger == "create":
        return event.kind == "created"
    if automation.trigger == "stage":
        return event.kind == "stage_changed" and event.changes["stage"][1] == automation.stage
    return event.kind in ("updated", "stage_changed") and automation.field in event.changes


class AutomationRunner:
    """Subscribed to every record event: runs the automations it triggers."""

    def __init__(self, cache: MetamodelCache, events: EventBus, active: ActiveTriggers) -> None:
        self.cache = cache
        self.events = events
        self.active = active

    def concerns(self, session: Session, kind: str, entity: str) -> bool:
        """Whether events of ``kind`` about ``entity`` may trigger an automation."""
        return kind in ("created", "updated", "stage_changed") and bool(
            self.active.automations(session, entity)
        )

    def __call__(self, session: Session, event: RecordEvent) -> None:
        if event.kind not in ("created", "updated", "stage_changed"):
            return
        automations = self.active.automations(session, event.entity)
        if not automations:  # (most entity types have none)
            return
        triggered = [a for a in automations if _triggered_by(a, event)]
        if not triggered:
            return
        model = self.cache.get(session)
        entity = model.entities.get(event.entity)
        if entity is None:
            return
        chain: list[str] = session.info.setdefault(_CHAIN, [])
        for automation in triggered:
            if len(chain) >= MAX_DEPTH:
                path = " → ".join(repr(k) for k in [*chain, automation.key])
                raise AutomationLoop(
                    {
                        RECORD_KEY: [
                            f"Automations kept triggering each other ({path}) and were stopped "
                            f"after {MAX_DEPTH} levels; nothing was saved. Change their triggers "
                            "or conditions so that they come to rest."
                        ]
                    }
                )
            service = RecordService(session, model, AUTOMATION_ACTOR, self.events)
            context = ActionContext(
                service, event.entity, event.record_id, f"automation {automation.key!r}", event.kind
            )
            if automation.condition and not self._holds(automation, entity, context):
                continue
            chain.append(automation.key)
            try:
                for position, spec in enumerate(automation.actions):
                    try:
                        run_action(context, spec)
                    except AutomationLoop:
                        raise
                    except TrellisError as exc:
                        raise _failed(automation, position, spec, exc) from exc
            finally:
                chain.pop()

    @staticmethod
    def _holds(automation: AutomationTrigger, entity: Any, context: ActionContext) -> bool:
        condition: CompiledExpression = compile_expression(
            automation.condition or "", expression_names(entity)
        )
        return condition.holds(expression_values(entity, context.record()))


def _failed(
    automation: AutomationTrigger, position: int, spec: Mapping[str, Any], exc: TrellisError
) -> ValidationFailed:
    details = [
        f"{name}: {' '.join(map(str, messages))}"
        for name, messages in (getattr(exc, "errors", None) or {}).items()
    ]
    message = (
        f"Automation {automation.label!r} could not run action {position + 1} "
        f"({describe(spec)}): {exc.detail}" + (f" ({'; '.join(details)})" if details else "")
    )
    return ValidationFailed({RECORD_KEY: [message]})


def register(events: EventBus, cache: MetamodelCache, active: ActiveTriggers) -> None:
    """Run automations on a runtime's events bus (``active``: the active ones per entity)."""
    runner = AutomationRunner(cache, events, active)
    events.subscribe("*", runner, runner.concerns)
