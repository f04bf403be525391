"""Flows started by record events: on create, on entering a stage, on a field change (each
when the flow's condition holds); a deleted record's running flows are cancelled."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from trellis.accounts import SYSTEM, Actor
from trellis.expressions import ExpressionError, compile_expression
from trellis.flows.active import ActiveTriggers, FlowTrigger
from trellis.flows.context import FlowContext
from trellis.flows.instances import cancel_for_record, start_version
from trellis.flows.models import Flow, FlowVersion
from trellis.metamodel.model_cache import MetamodelCache
from trellis.records.events import EventBus, RecordEvent
from trellis.records.service import RecordService

log = logging.getLogger(__name__)


def register(events: EventBus, cache: MetamodelCache, active: ActiveTriggers) -> None:
    """Subscribe the flow triggers to the record events of a runtime; ``active`` holds the
    live triggered flows per entity type (a record event reads no flow table)."""

    def context(session: Session, actor: Actor) -> FlowContext:
        return FlowContext(
            session,
            actor,
            lambda: cache.get(session),
            lambda who: RecordService(session, cache.get(session), who, events),
        )

    def on_event(session: Session, event: RecordEvent) -> None:
        if event.kind == "deleted":
            cancel_for_record(context(session, event.actor), event.entity, event.record_id)
            return
        if event.kind not in ("created", "updated", "stage_changed"):
            return
        flows = active.flows(session, event.entity)
        if not flows:  # (most entity types have none)
            return
        started = [f for f in flows if _fires(f, event)]
        if not started:
            return
        ctx = context(session, event.actor)
        values = None
        for flow in started:
            if flow.when:
                if values is None:
                    values = ctx.records(SYSTEM).get(event.entity, event.record_id).values
                try:
                    if not compile_expression(flow.when, values).holds(values):
                        continue
                except ExpressionError:
                    continue
            version = session.get(FlowVersion, flow.live_version_id)
            start_version(ctx, session.get(Flow, flow.id), version, event.entity, event.record_id)

    def concerns(session: Session, kind: str, entity: str) -> bool:
        if kind == "deleted":
            return True
        starts = kind in ("created", "updated", "stage_changed")
        return starts and bool(active.flows(session, entity))

    events.subscribe("*", on_event, concerns)


def _fires(flow: FlowTrigger, event: RecordEvent) -> bool:
    if flow.trigger == "create":
        return event.kind == "created"
    if flow.trigger == "stage":
        change = event.changes.get("stage")
        return (
            event.kind in ("created", "stage_changed") and bool(change) and change[1] == flow.stage
        )
    if flow.trigger == "field":
        return event.kind in ("updated", "stage_changed") and flow.field in event.changes
    return False
