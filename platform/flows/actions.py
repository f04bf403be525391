"""The one action registry: what automations (and BPMN service tasks) do to records.

An action is data: ``{"type": "<name>", ...settings}``. Each type has a ``check`` (run when an
automation or a flow is saved: every problem by setting, e.g. ``values.amount``) and a ``run``
(inside the transaction of the change that triggered it). Actions change records only through
the record service's public methods, as the actor the context carries.

=============  ==============================================================================
``set_fields``  ``{"values": {"<field>": <value> | {"expr": "<expression>"}}}``
``move_stage``  ``{"stage": "<stage>", "pipeline"?: "<pipeline>"}``
``convert``     ``{"map": "<conversion map>", "targets": ["<entity>", ...]}``: creates records
                through a conversion map (the source moves to its success stage)
``notify``      ``{"message": "text; {title} is the record's title", "users"?: [usernames],
                "roles"?: [role keys], "fields"?: [user fields of the record], "owner"?:
                true}``: in-app notifications (inactive users are left out)
``webhook``     ``{"webhook": "<key>"}``: posts the record (as the API shows it) through the
                outbox, signed with the webhook's secret
=============  ==============================================================================

Register a new type with :func:`register_action`.

A BPMN service task names an action by its type, with its settings as expressions
(:mod:`trellis.flows.engine.services`); it runs as the flow (``by_flow``), through
:func:`trellis.flows.instances.action_runner`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import marshmallow as ma
from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.accounts import Role, User, user_roles
from trellis.errors import ValidationFailed
from trellis.expressions import ExpressionError, compile_expression
from trellis.metamodel.compiled import CompiledEntity, CompiledModel
from trellis.records.service import Record, RecordService

Problems = dict[str, list[str]]


@dataclass
class ActionContext:
    """What an action acts on: a record, in a transaction, as an actor (``records``)."""

    records: RecordService
    entity: str
    record_id: int
    #: what is acting, in words ("automation 'big_deal'"), for notifications and the outbox
    source: str
    #: the event that started it ("created", "updated", "stage_changed", or a flow's own)
    event: str = ""
    #: the key of the flow whose service task runs the action (None for automations): a
    #: stage reserved to flows is entered only with it (see ``records.stage_rules``)
    by_flow: str | None = None

    @property
    def session(self) -> Session:
        return self.records.session

    def record(self) -> Record:
        return self.records.get(self.entity, self.record_id)

    def names(self, record: Record | None = None) -> dict[str, Any]:
        """The record's values as expressions see them."""
        record = record or self.record()
        return expression_values(self.records.model.entity(self.entity), record)


@dataclass(frozen=True)
class ActionType:
    name: str
    label: str
    #: the settings it takes besides ``type``
    settings: tuple[str, ...]
    #: ``check(session, model, entity, spec, for_flow)``: ``for_flow`` when a flow's service
    #: task will run it (it may enter stages reserved to flows)
    check: Callable[[Session, CompiledModel, CompiledEntity, Mapping[str, Any], bool], Problems]
    run: Callable[[ActionContext, Mapping[str, Any]], None]


ACTIONS: dict[str, ActionType] = {}


def register_action(action: ActionType) -> None:
    ACTIONS[action.name] = action


def expression_names(entity: CompiledEntity) -> list[str]:
    """Names an automation's expressions may use: the fields, and the stage and pipeline."""
    names = list(entity.fields)
    if entity.has_pipelines:
        names += [n for n in ("pipeline", "stage") if n not in entity.fields]
    return names


def expression_values(entity: CompiledEntity, record: Record) -> dict[str, Any]:
    values = {
        k: entity.fields[k].type.to_plain(entity.fields[k], v) for k, v in record.values.items()
    }
    if entity.has_pipelines:
        values.setdefault("pipeline", record.pipeline)
        values.setdefault("stage", record.stage)
    return values


def check_action(
    session: Session,
    model: CompiledModel,
    entity: CompiledEntity,
    spec: Any,
    *,
    for_flow: bool = False,
) -> Problems:
    """Every problem of one action, by setting (``type``, ``values.amount``...); ``for_flow``
    when a flow's service task will run it."""
    if not isinstance(spec, Mapping):
        return {"type": ["An action is an object with a type."]}
    action = ACTIONS.get(spec.get("type"))  # type: ignore[arg-type]
    if action is None:
        known = ", ".join(sorted(ACTIONS))
        return {"type": [f"Unknown action type {spec.get('type')!r}; one of: {known}."]}
    problems: Problems = {}
    for key in spec:
        if key != "type" and key not in action.settings:
            problems.setdefault(key, []).append("Unknown setting.")
    for key, messages in action.check(session, model, entity, spec, for_flow).items():
        problems.setdefault(key, []).extend(messages)
    return problems


def run_action(context: ActionContext, spec: Mapping[str, Any]) -> None:
    ACTIONS[spec["type"]].run(context, spec)


def describe(spec: Mapping[str, Any]) -> str:
    """An action in a few words, for lists and error messages."""
    action = ACTIONS.get(spec.get("type"))  # type: ignore[arg-type]
    label = action.label if action else str(spec.get("type"))
    detail = {
        "set_fields": lambda: ", ".join(spec.get("values") or {}),
        "move_stage": lambda: spec.get("stage"),
        "convert": lambda: spec.get("map"),
        "notify": lambda: (
            ", ".join([*spec.get("users", []), *spec.get("roles", [])])
            + (" and the owner" if spec.get("owner") else "")
        ),
        "webhook": lambda: spec.get("webhook"),
    }.get(str(spec.get("type")), lambda: "")()
    return f"{label}: {detail}" if detail else label


# -- set fields ------------------------------------------------------------------------------


def _check_set_fields(
    session: Session,
    model: CompiledModel,
    entity: CompiledEntity,
    spec: Mapping[str, Any],
    for_flow: bool,
) -> Problems:
    values = spec.get("values")
    if not isinstance(values, Mapping) or not values:
        return {"values": ["Name at least one field and its value."]}
    problems: Problems = {}
    names = expression_names(entity)
    literals = {}
    for key, value in values.items():
        if key not in entity.fields:
            problems[f"values.{key}"] = [f"{entity.label_plural} have no field {key!r}."]
        elif isinstance(value, Mapping) and set(value) == {"expr"}:
            try:
                compile_expression(value["expr"], names)
            except ExpressionError as exc:
                problems[f"values.{key}"] = [exc.message]
        else:
            literals[key] = value
    try:
        entity.input_schema.load(literals, partial=True)
    except ma.ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"values": exc.messages}
        for key, found in messages.items():
            flat = found if isinstance(found, list) else [str(found)]
            problems[f"values.{key}"] = [str(m) for m in flat]
    return problems


def _plain_input(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _run_set_fields(context: ActionContext, spec: Mapping[str, Any]) -> None:
    entity = context.records.model.entity(context.entity)
    record = context.record()
    names = context.names(record)
    values = {}
    for key, value in spec["values"].items():
        if isinstance(value, Mapping) and set(value) == {"expr"}:
            compiled = compile_expression(value["expr"], expression_names(entity))
            value = _plain_input(compiled.evaluate(names))
        values[key] = value
    context.records.update(context.entity, context.record_id, values, version=record.version)


# -- move to a stage -------------------------------------------------------------------------


def _check_move_stage(
    session: Session,
    model: CompiledModel,
    entity: CompiledEntity,
    spec: Mapping[str, Any],
    for_flow: bool,
) -> Problems:
    if not entity.has_pipelines:
        return {"stage": [f"{entity.label_plural} have no stages."]}
    pipeline, stage = spec.get("pipeline"), spec.get("stage")
    if pipeline is not None and pipeline not in entity.pipelines:
        return {"pipeline": [f"{entity.label_plural} have no pipeline {pipeline!r}."]}
    pipelines = [entity.pipelines[pipeline]] if pipeline else list(entity.pipelines.values())
    found = [p.stages[stage] for p in pipelines if stage in p.stages]
    if not found:
        where = f"pipeline {pipeline!r}" if pipeline else entity.label_plural
        return {"stage": [f"No stage {stage!r} in {where}."]}
    if all(s.flow_only for s in found) and not for_flow:
        return {"stage": [f"Only a flow moves records to {found[0].label!r}."]}
    return {}


def _run_move_stage(context: ActionContext, spec: Mapping[str, Any]) -> None:
    context.records.move_stage(
        context.entity,
        context.record_id,
        spec["stage"],
        pipeline=spec.get("pipeline"),
        by_flow=context.by_flow,
    )


# -- create records through a conversion map -------------------------------------------------


def _check_convert(
    session: Session,
    model: CompiledModel,
    entity: CompiledEntity,
    spec: Mapping[str, Any],
    for_flow: bool,
) -> Problems:
    from trellis.conversion.models import ConversionMap

    key = spec.get("map")
    row = session.scalar(
        select(ConversionMap).where(ConversionMap.key == key, ConversionMap.source == entity.key)
    )
    if row is None:
        return {"map": [f"No conversion map {key!r} converts {entity.label_plural}."]}
    targets = spec.get("targets")
    if targets is None:
        return {}
    if not isinstance(targets, list) or not targets:
        return {"targets": ["A list of the map's target entity types."]}
    unknown = [t for t in targets if t not in (row.targets or {})]
    if unknown:
        return {"targets": [f"The map {key!r} does not make {', '.join(map(str, unknown))}."]}
    return {}


def _run_convert(context: ActionContext, spec: Mapping[str, Any]) -> None:
    from trellis.conversion.convert import conversion_map, convert

    targets = spec.get("targets") or list(
        conversion_map(context.records, context.entity, spec["map"]).targets
    )
    result = convert(
        context.records,
        context.entity,
        context.record_id,
        {t: {} for t in targets},
        map_key=spec["map"],
    )
    if not result.ok:
        problems = {
            f"{target}.{field}": messages
            for target, fields in result.errors.items()
            for field, messages in fields.items()
        }
        raise ValidationFailed(problems, "The conversion is not possible.")


# -- notify users ----------------------------------------------------------------------------


def _check_notify(
    session: Session,
    model: CompiledModel,
    entity: CompiledEntity,
    spec: Mapping[str, Any],
    for_flow: bool,
) -> Problems:
    problems: Problems = {}
    message = spec.get("message")
    if not isinstance(message, str) or not message.strip():
        problems["message"] = ["Write the message."]
    elif len(message) > 400:
        problems["message"] = ["At most 400 characters."]
    users, roles = spec.get("users") or [], spec.get("roles") or []
    fields = spec.get("fields") or []
    for name, given in (("users", users), ("roles", roles), ("fields", fields)):
        if not isinstance(given, list) or not all(isinstance(x, str) for x in given):
            problems[name] = ["A list of names."]
    if problems.keys() & {"users", "roles", "fields"}:
        return problems
    if not users and not roles and not fields and not spec.get("owner"):
        problems["users"] = ["Name users, roles, user fields or the owner to notify."]
    not_users = [
        f for f in fields if f not in entity.fields or entity.fields[f].type.name != "user"
    ]
    if not_users:
        problems["fields"] = [
            f"{entity.label_plural} have no user field {', '.join(map(repr, not_users))}."
        ]
    known = set(session.scalars(select(User.username).where(User.username.in_(users))))
    missing = [u for u in users if u not in known]
    if missing:
        problems["users"] = [f"Unknown user: {', '.join(missing)}."]
    known_roles = set(session.scalars(select(Role.key).where(Role.key.in_(roles))))
    missing = [r for r in roles if r not in known_roles]
    if missing:
        problems["roles"] = [f"Unknown role: {', '.join(missing)}."]
    return problems


def _run_notify(context: ActionContext, spec: Mapping[str, Any]) -> None:
    from trellis.flows.notifications import notify

    session = context.session
    record = context.record()
    ids: list[int] = []
    if spec.get("users"):
        ids += session.scalars(
            select(User.id).where(User.username.in_(spec["users"]), User.is_active.is_(True))
        )
    if spec.get("roles"):
        ids += session.scalars(
            select(User.id)
            .join(user_roles)
            .join(Role)
            .where(Role.key.in_(spec["roles"]), User.is_active.is_(True))
        )
    if spec.get("owner") and record.owner_id is not None:
        ids.append(record.owner_id)
    for name in spec.get("fields") or ():
        if isinstance(record.values.get(name), int):  # a user field holds the user's id
            ids.append(record.values[name])
    if ids:  # the owner and user fields may name someone who left: only active users
        ids = list(
            session.scalars(select(User.id).where(User.id.in_(set(ids)), User.is_active.is_(True)))
        )
    message = spec["message"].replace("{title}", record.title)
    notify(
        session,
        ids,
        message,
        entity=context.entity,
        record_id=context.record_id,
        source=context.source,
    )


# -- call a webhook (through the outbox) -----------------------------------------------------


def _check_webhook(
    session: Session,
    model: CompiledModel,
    entity: CompiledEntity,
    spec: Mapping[str, Any],
    for_flow: bool,
) -> Problems:
    from trellis.flows.webhooks import webhook_keys

    key = spec.get("webhook")
    active = webhook_keys(session).get(key)  # type: ignore[arg-type]
    if active is None:
        return {"webhook": [f"No webhook {key!r}."]}
    if not active:
        return {"webhook": [f"The webhook {key!r} is switched off."]}
    return {}


def _run_webhook(context: ActionContext, spec: Mapping[str, Any]) -> None:
    from trellis.flows.outbox import enqueue
    from trellis.records.representation import records_json

    entity = context.records.model.entity(context.entity)
    record = context.record()
    payload = {
        "event": context.event,
        "source": context.source,
        "entity": context.entity,
        "record": records_json(context.records, entity, [record])[0],
    }
    enqueue(
        context.session,
        "webhook",
        spec["webhook"],
        payload,
        source=f"{context.source} on {context.entity} {context.record_id}",
    )


for _action in (
    ActionType("set_fields", "Set fields", ("values",), _check_set_fields, _run_set_fields),
    ActionType(
        "move_stage", "Move to a stage", ("stage", "pipeline"), _check_move_stage, _run_move_stage
    ),
    ActionType(
        "convert",
        "Create records through a conversion map",
        ("map", "targets"),
        _check_convert,
        _run_convert,
    ),
    ActionType(
        "notify",
        "Notify users",
        ("message", "users", "roles", "fields", "owner"),
        _check_notify,
        _run_notify,
    ),
    ActionType("webhook", "Call a webhook", ("webhook",), _check_webhook, _run_webhook),
):
    register_action(_action)
