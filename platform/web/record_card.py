"""The record card of the end-user app: a record with its stage bar, links, flows, history
(in words: who did what, through which flow) and what may be done with it (convert, delete).

Reads and writes go through the record service with the signed-in user's rights, as the
list and forms do (:mod:`trellis.web.records`)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_login import login_required
from sqlalchemy.orm import Session

from trellis.accounts import user_names
from trellis.conversion.models import ConversionMap
from trellis.errors import Conflict
from trellis.metamodel.compiled import CompiledEntity
from trellis.records.service import Record, RecordService
from trellis.records.stage_rules import stage_choices
from trellis.runtime import get_runtime
from trellis.web import field_inputs
from trellis.web.inbox import flows_panel
from trellis.web.records import reference_titles, service_for, visible_fields
from trellis.web.views import web


@web.get("/records/<entity>/<int:record_id>")
@login_required
def card(entity: str, record_id: int) -> Any:
    with get_runtime().transaction() as session:
        service = service_for(session)
        ent = service.model.entity(entity)
        record = service.get(entity, record_id)
        fields = visible_fields(service, ent, record)
        history = service.history(entity, record_id)
        visits = service.stage_history(entity, record_id) if ent.has_pipelines else []
        titles = reference_titles(service, ent, [record], history)
        links = service.links(entity, record_id)
        entries = history_entries(history)
        convertible = _convertible(session, service, ent, record)
        can_update = service.access.allows("update", entity, record.owner_id)
        flows = flows_panel(session, entity, record_id, can_start=can_update)
        return render_template(
            "web/card.html",
            entity=ent,
            record=record,
            fields=fields,
            titles=titles,
            display=field_inputs.display,
            model=service.model,
            history=entries,
            display_change=field_inputs.display_change,
            visits=visits,
            duration_text=field_inputs.duration_text,
            user_names=user_names(
                session, [h["by"] for h in history] + [v.entered_by for v in visits]
            ),
            via_names=via_names(
                session, [h.get("via") for h in history] + [v.entered_via for v in visits]
            ),
            links=links,
            convertible=convertible,
            flows=flows,
            can_update=can_update,
            can_delete=service.access.allows("delete", entity, record.owner_id),
            # why each stage the record may not move to is closed (the bar disables those)
            closed_stages=(
                stage_choices(ent, record.pipeline, record.stage, service.actor)
                if record.pipeline in ent.pipelines
                else {}
            ),
        )


#: how the card's history names what happened
HISTORY_VERBS = {
    "create": "Created",
    "update": "Changed",
    "stage": "Moved",
    "delete": "Deleted",
    "convert": "Converted",
}


def via_names(session: Session, vias: list[str | None]) -> dict[str, str]:
    """How the card names who acted without a user: ``flow:<key>`` is the flow's label
    ("flow Deal approval"), so a flow's stage move never reads as "system"."""
    from sqlalchemy import select

    from trellis.flows.models import Flow

    keys = {v[5:] for v in vias if v and v.startswith("flow:")}
    labels = dict(session.execute(select(Flow.key, Flow.label).where(Flow.key.in_(keys))).all())
    names = {}
    for via in filter(None, vias):
        if via.startswith("flow:"):
            names[via] = f"flow {labels.get(via[5:], via[5:])}"
        else:
            names[via] = via
    return names


def history_entries(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The service's field-by-field history as one entry per save (newest first): a create
    is one entry listing what was filled in, an edit one entry listing what changed."""
    entries: list[dict[str, Any]] = []
    for item in history:
        last = entries[-1] if entries else None
        if last and (last["at"], last["by"], last["via"], last["action"]) == (
            item["at"],
            item["by"],
            item.get("via"),
            item["action"],
        ):
            last["changes"].append(item)
            continue
        entries.append(
            {
                "at": item["at"],
                "by": item["by"],
                "via": item.get("via"),
                "action": item["action"],
                "verb": HISTORY_VERBS.get(item["action"], item["action"].capitalize()),
                "changes": [item],
            }
        )
    return entries[::-1]


def _convertible(
    session: Session, service: RecordService, ent: CompiledEntity, record: Record
) -> bool:
    from sqlalchemy import select

    if not ent.has_pipelines or record.pipeline is None:
        return False
    if (
        session.scalar(select(ConversionMap.id).where(ConversionMap.source == ent.key).limit(1))
        is None
    ):
        return False
    stage = ent.pipelines[record.pipeline].stages.get(record.stage)
    return stage is not None and stage.kind == "open"


@web.post("/records/<entity>/<int:record_id>/delete")
@login_required
def record_delete(entity: str, record_id: int) -> Any:
    try:
        with get_runtime().transaction() as session:
            service_for(session).delete(entity, record_id)
    except Conflict as exc:
        flash(exc.detail, "danger")
        return redirect(url_for("web.card", entity=entity, record_id=record_id))
    flash("Deleted.", "success")
    return redirect(url_for("web.record_list", entity=entity))
