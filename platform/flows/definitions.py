"""Flows and their versions: drafts are editable; a published version is immutable and is
live for new instances at once, while running instances stay on the version they started on."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trellis.accounts import Role, User
from trellis.clock import utcnow
from trellis.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trellis.expressions import ExpressionError, compile_expression
from trellis.flows.active import touch
from trellis.flows.context import FlowContext
from trellis.flows.engine import (
    ParsedSpec,
    SpecError,
    expression_problems,
    parse_bpmn,
    service_calls,
)
from trellis.flows.models import TRIGGERS, Flow, FlowInstance, FlowVersion
from trellis.flows.readers import check_route_readers
from trellis.flows.routes import RouteContext, compile_route, route_problems, route_variables
from trellis.metamodel.changes import key_errors

#: variables a process sees besides the record's fields (``vacant_roles``: the roles of a
#: route's steps without an active user, given at start; empty for a BPMN version)
PROCESS_VARIABLES = ("record_id", "outcome", "vacant_roles")


def _admin(ctx: FlowContext) -> None:
    if not ctx.actor.is_admin:
        raise PermissionDenied("Only administrators change flows.")


def get_flow(session: Session, key: str) -> Flow:
    flow = session.scalar(select(Flow).where(Flow.key == key))
    if flow is None:
        raise NotFound(f"No flow {key!r}.")
    return flow


def get_version(session: Session, flow: Flow, number: int) -> FlowVersion:
    version = session.scalar(
        select(FlowVersion).where(FlowVersion.flow_id == flow.id, FlowVersion.number == number)
    )
    if version is None:
        raise NotFound(f"Flow {flow.key!r} has no version {number}.")
    return version


def versions_of(session: Session, flow: Flow) -> list[FlowVersion]:
    return list(
        session.scalars(
            select(FlowVersion).where(FlowVersion.flow_id == flow.id).order_by(FlowVersion.number)
        )
    )


def create_flow(ctx: FlowContext, data: dict[str, Any]) -> Flow:
    """``{"key", "label", "entity", "trigger": {"on", "stage"?, "field"?, "when"?}}``"""
    _admin(ctx)
    errors: dict[str, list[str]] = {}
    key = data.get("key")
    if key_errors(key):
        errors["key"] = key_errors(key)
    elif ctx.session.scalar(select(Flow.id).where(Flow.key == key)) is not None:
        raise Conflict(f"A flow {key!r} exists already.")
    entity = data.get("entity")
    if entity not in ctx.model.entities:
        errors["entity"] = [f"No entity type {entity!r}."]
    flow = Flow(key=key, entity=entity)
    _apply(ctx, flow, data, errors, creating=True)
    if errors:
        raise ValidationFailed(errors)
    ctx.session.add(flow)
    ctx.session.flush()
    touch(ctx.session)
    return flow


def update_flow(ctx: FlowContext, key: str, data: dict[str, Any]) -> Flow:
    """Change the label or the trigger (the entity type stays)."""
    _admin(ctx)
    flow = get_flow(ctx.session, key)
    errors: dict[str, list[str]] = {}
    for fixed in ("key", "entity"):
        if fixed in data and data[fixed] != getattr(flow, fixed):
            errors[fixed] = ["Cannot change; create another flow."]
    _apply(ctx, flow, data, errors, creating=False)
    if errors:
        ctx.session.expire(flow)
        raise ValidationFailed(errors)
    ctx.session.flush()
    touch(ctx.session)
    return flow


def _apply(
    ctx: FlowContext, flow: Flow, data: dict[str, Any], errors: dict[str, list[str]], creating: bool
) -> None:
    if creating or "label" in data:
        label = data.get("label")
        if not isinstance(label, str) or not label.strip() or len(label) > 200:
            errors["label"] = ["A label of 1-200 characters is required."]
        else:
            flow.label = label.strip()
    if not creating and "trigger" not in data:
        return
    trigger = data.get("trigger") or {"on": "manual"}
    if not isinstance(trigger, dict):
        errors["trigger"] = ['Give {"on": "manual|create|stage|field", ...}.']
        return
    on = trigger.get("on", "manual")
    if on not in TRIGGERS:
        errors.setdefault("trigger.on", []).append("Use manual, create, stage or field.")
    unknown = set(trigger) - {"on", "stage", "field", "when"}
    for name in sorted(unknown):
        errors.setdefault(f"trigger.{name}", []).append("Unknown key.")
    ent = ctx.model.entities.get(flow.entity)
    stage, field, when = trigger.get("stage"), trigger.get("field"), trigger.get("when")
    if on == "stage":
        stages = {s for p in ent.pipelines.values() for s in p.stages} if ent else set()
        if stage not in stages:
            errors.setdefault("trigger.stage", []).append(f"No stage {stage!r}.")
    elif stage is not None:
        errors.setdefault("trigger.stage", []).append("A stage goes with on: stage only.")
    if on == "field":
        if ent is None or field not in ent.fields:
            errors.setdefault("trigger.field", []).append(f"No field {field!r}.")
    elif field is not None:
        errors.setdefault("trigger.field", []).append("A field goes with on: field only.")
    if when is not None and ent is not None:
        try:
            compile_expression(when, ent.fields)
        except ExpressionError as exc:
            errors.setdefault("trigger.when", []).append(exc.message)
    flow.trigger, flow.trigger_stage, flow.trigger_field = on, stage, field
    flow.when = when


def route_context(ctx: FlowContext, entity: str) -> RouteContext:
    ent = ctx.model.entity(entity)
    return RouteContext(
        fields={k: f.type.name for k, f in ent.fields.items()},
        stages={s for p in ent.pipelines.values() for s in p.stages},
        users=set(ctx.session.scalars(select(User.username))),
        roles=set(ctx.session.scalars(select(Role.key))),
    )


def _content(
    ctx: FlowContext, flow: Flow, route: Any, bpmn: Any
) -> tuple[str, dict[str, Any] | None]:
    """The BPMN of a new draft (compiled from ``route`` or given), checked in full."""
    if (route is None) == (bpmn is None):
        raise ValidationFailed({"$": ['Give either "route" or "bpmn".']})
    fields = set(ctx.model.entity(flow.entity).fields)
    if route is not None:
        problems = route_problems(route, route_context(ctx, flow.entity))
        if problems:
            raise ValidationFailed(
                {f"route.{k}" if k != "$" else "route": v for k, v in problems.items()}
            )
        xml = compile_route(route, flow.key, flow.label)
        known = fields | route_variables(route) | set(PROCESS_VARIABLES)
    else:
        xml, known = bpmn, fields | set(PROCESS_VARIABLES)
    try:
        parsed = parse_bpmn(xml)
    except SpecError as exc:
        raise ValidationFailed({"bpmn": exc.problems}) from None
    problems = expression_problems(parsed, known) + _action_problems(parsed)
    if problems:
        raise ValidationFailed({"bpmn": problems})
    return xml, route


def _action_problems(parsed: ParsedSpec) -> list[str]:
    """Service tasks name actions of the registry, with settings those actions take."""
    from trellis.flows.actions import ACTIONS

    problems = []
    for where, name, params in service_calls(parsed):
        action = ACTIONS.get(name)
        if action is None:
            known = ", ".join(sorted(ACTIONS))
            problems.append(f"Service task {where}: no action {name!r} (one of: {known}).")
            continue
        for param in params:
            if param.split(".")[0] not in action.settings:
                problems.append(f"Service task {where}: {name} has no setting {param!r}.")
    return problems


def add_version(ctx: FlowContext, key: str, *, route: Any = None, bpmn: Any = None) -> FlowVersion:
    """A new draft version from a route or a BPMN document."""
    _admin(ctx)
    flow = get_flow(ctx.session, key)
    xml, route = _content(ctx, flow, route, bpmn)
    number = (
        ctx.session.scalar(
            select(func.max(FlowVersion.number)).where(FlowVersion.flow_id == flow.id)
        )
        or 0
    ) + 1
    version = FlowVersion(
        flow_id=flow.id,
        number=number,
        bpmn=xml,
        hash=hashlib.sha256(xml.encode()).hexdigest(),
        route=route,
        created_by=ctx.actor.user_id,
    )
    ctx.session.add(version)
    ctx.session.flush()
    return version


def update_draft(
    ctx: FlowContext, key: str, number: int, *, route: Any = None, bpmn: Any = None
) -> FlowVersion:
    """Replace a draft's content; a published version never changes."""
    _admin(ctx)
    flow = get_flow(ctx.session, key)
    version = get_version(ctx.session, flow, number)
    if version.published_at is not None:
        raise Conflict(f"Version {number} is published and cannot change; add a new version.")
    xml, route = _content(ctx, flow, route, bpmn)
    version.bpmn, version.route = xml, route
    version.hash = hashlib.sha256(xml.encode()).hexdigest()
    ctx.session.flush()
    return version


def publish(ctx: FlowContext, key: str, number: int, *, check_readers: bool = True) -> FlowVersion:
    """Publish a draft: new instances start on it at once; running ones stay on theirs."""
    _admin(ctx)
    flow = get_flow(ctx.session, key)
    version = get_version(ctx.session, flow, number)
    if version.published_at is not None:
        raise Conflict(f"Version {number} is published already.")
    if version.route is not None and check_readers:  # approvers see what they decide on
        check_route_readers(ctx, flow.entity, version.route)
    version.published_at = utcnow()
    version.published_by = ctx.actor.user_id
    flow.live_version_id = version.id
    ctx.session.flush()
    touch(ctx.session)
    return version


def instance_counts(session: Session, version: FlowVersion) -> dict[str, int]:
    """How many instances of ``version`` run and how many finished (any other status)."""
    rows = session.execute(
        select(FlowInstance.status, func.count())
        .where(FlowInstance.version_id == version.id)
        .group_by(FlowInstance.status)
    )
    counts = dict(rows.all())
    running = counts.pop("running", 0)
    return {"running": running, "finished": sum(counts.values())}


def describe_version(session: Session, flow: Flow, version: FlowVersion) -> dict[str, Any]:
    out: dict[str, Any] = {
        "flow": flow.key,
        "version": version.number,
        "hash": version.hash,
        "published": version.published_at is not None,
        "published_at": version.published_at,
        "live": flow.live_version_id == version.id,
        "instances": instance_counts(session, version),
    }
    if version.route is not None:
        out["route"] = version.route
    return out
