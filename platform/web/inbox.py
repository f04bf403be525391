"""Flows in the app: "My tasks" (the signed-in user's open tasks, substitutions included)
with approve / reject / delegate, the user's substitutes, and the flows panel of the record
card (running flows, who is asked, every decision, "Start <flow>" for manual flows).

Records are read through the record service as the signed-in user, so a task whose record
the user may not read shows no title or link; deciding goes through the flows service,
which says who may decide."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.accounts import user_names
from trellis.clock import utcnow
from trellis.errors import Conflict, NotFound, PermissionDenied, TrellisError
from trellis.flows.models import Flow, FlowInstance, FlowTask
from trellis.flows.service import FlowService
from trellis.records.service import RecordService
from trellis.runtime import get_runtime
from trellis.web import field_inputs
from trellis.web.views import _safe_next, web

DECISION_DONE = {"approve": "Approved", "reject": "Rejected"}


def _problem(exc: TrellisError) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        return " ".join(m for messages in errors.values() for m in messages)
    return exc.detail


def can_delegate(task: FlowTask, actor: Any) -> bool:
    """What :meth:`FlowService.delegate` allows: the assignee (or a member of the assigned
    role) and administrators."""
    own = actor.user_id is not None and task.assignee_user_id == actor.user_id
    in_role = task.assignee_role is not None and task.assignee_role in actor.roles
    return bool(actor.is_admin or own or in_role)


def inbox_items(session: Session, flows: FlowService, records: RecordService) -> list[dict]:
    """The user's open tasks with their flow, record (when readable) and whom they decide for."""
    actor = flows.context.actor
    tasks = flows.my_tasks()
    instances = {i.id: i for i in _by_ids(session, FlowInstance, {t.instance_id for t in tasks})}
    labels = {
        f.id: f.label for f in _by_ids(session, Flow, {i.flow_id for i in instances.values()})
    }
    names = user_names(session, [t.assignee_user_id for t in tasks])
    now = utcnow()
    items = []
    for task in tasks:
        instance = instances[task.instance_id]
        entity = records.model.entities.get(instance.entity)
        # the record as the approver's roles show it (through the task when their read
        # scope does not cover it), hidden fields left out
        found = flows.record_for_task(instance.id)
        record, through_task = found if found is not None else (None, False)
        title = record.title if record is not None else None
        fields = (
            [f for f in entity.fields.values() if f.key in record.values]
            if record is not None and entity is not None
            else []
        )
        mine = task.assignee_user_id == actor.user_id or (
            task.assignee_role is not None and task.assignee_role in actor.roles
        )
        items.append(
            {
                "task": task,
                "flow": labels.get(instance.flow_id, ""),
                "entity": instance.entity,
                "entity_label": entity.label if entity else instance.entity,
                "record_id": instance.record_id,
                "title": title,
                "record": record,
                "fields": fields,
                "through_task": through_task,
                "titles": _titles(records, entity, record),
                "for_whom": None if mine else names.get(task.assignee_user_id),
                "role": task.assignee_role,
                "overdue": task.due_at is not None and task.due_at < now,
                "can_delegate": can_delegate(task, actor),
            }
        )
    return items


def _titles(records: RecordService, entity: Any, record: Any) -> dict[Any, Any]:
    """The titles of the records ``record`` refers to that the user may read."""
    if record is None or entity is None:
        return {}
    from trellis.web.records import reference_titles

    try:
        return reference_titles(records, entity, [record])
    except (NotFound, PermissionDenied):  # a referred type they may not read
        return {}


def _by_ids(session: Session, model: Any, ids: set[int]) -> list[Any]:
    if not ids:
        return []
    return list(session.scalars(select(model).where(model.id.in_(ids))))


def open_task_count(session: Session) -> int:
    """For the menu: the signed-in user's open tasks (as a substitute today included)."""
    return get_runtime().flows(session, current_user.actor).open_task_count()


@web.get("/tasks")
@login_required
def tasks() -> Any:
    runtime = get_runtime()
    with runtime.transaction() as session:
        actor = current_user.actor
        records = runtime.records(session, actor)
        items = inbox_items(session, runtime.flows(session, actor), records)
        return render_template(
            "web/tasks.html", items=items, model=records.model, display=field_inputs.display
        )


@web.post("/tasks/<int:task_id>/decide")
@login_required
def decide_task(task_id: int) -> Any:
    decision = request.form.get("decision", "")
    comment = request.form.get("comment", "").strip()
    back = _safe_next(request.form.get("next") or url_for("web.tasks"))
    runtime = get_runtime()
    try:
        with runtime.transaction() as session:
            runtime.flows(session, current_user.actor).complete(task_id, decision, comment)
    except Conflict as exc:
        flash(f"Someone else acted on this task meanwhile: {exc.detail} Reloaded.", "warning")
        return redirect(url_for("web.tasks"))
    except PermissionDenied:
        flash("You may not decide this task: it is not assigned to you.", "danger")
        return redirect(back)
    except TrellisError as exc:
        flash(f"The decision was not taken: {_problem(exc)}", "danger")
        return redirect(back)
    flash(f"{DECISION_DONE[decision]}.", "success")
    return redirect(back)


@web.post("/tasks/<int:task_id>/delegate")
@login_required
def delegate_task(task_id: int) -> Any:
    to = request.form.get("to", "").strip()
    runtime = get_runtime()
    try:
        with runtime.transaction() as session:
            runtime.flows(session, current_user.actor).delegate(task_id, to)
    except PermissionDenied:
        flash("You may not pass this task on.", "danger")
    except Conflict as exc:
        flash(f"{exc.detail} Reloaded.", "warning")
    except TrellisError as exc:
        flash(f"The task was not passed on: {_problem(exc)}", "danger")
    else:
        flash(f"Passed on to {to}.", "success")
    return redirect(url_for("web.tasks"))


# -- substitutes ----------------------------------------------------------------------------


@web.get("/substitutes")
@login_required
def substitutes() -> Any:
    runtime = get_runtime()
    with runtime.transaction() as session:
        rows = runtime.flows(session, current_user.actor).substitutes()
        names = user_names(session, [r.user_id for r in rows] + [r.substitute_id for r in rows])
        return render_template(
            "web/substitutes.html",
            rows=rows,
            names=names,
            me=current_user.actor.user_id,
            today=utcnow().date(),
        )


@web.post("/substitutes")
@login_required
def add_substitute() -> Any:
    form = request.form
    runtime = get_runtime()
    try:
        starts_on = date.fromisoformat(form.get("from", ""))
        ends_on = date.fromisoformat(form.get("until", ""))
    except ValueError:
        flash("Give the first and the last day as dates.", "danger")
        return redirect(url_for("web.substitutes"))
    to = form.get("to", "").strip()
    try:
        with runtime.transaction() as session:
            runtime.flows(session, current_user.actor).add_substitute(to, starts_on, ends_on)
    except TrellisError as exc:
        flash(f"The substitute was not saved: {_problem(exc)}", "danger")
    else:
        flash(f"{to} decides your tasks from {starts_on} to {ends_on}.", "success")
    return redirect(url_for("web.substitutes"))


@web.post("/substitutes/<int:substitute_id>/end")
@login_required
def end_substitute(substitute_id: int) -> Any:
    runtime = get_runtime()
    try:
        with runtime.transaction() as session:
            runtime.flows(session, current_user.actor).end_substitute(substitute_id)
    except TrellisError as exc:
        flash(_problem(exc), "danger")
    else:
        flash("Ended.", "success")
    return redirect(url_for("web.substitutes"))


# -- the record card ------------------------------------------------------------------------


def flows_panel(
    session: Session, entity: str, record_id: int, *, can_start: bool
) -> dict[str, Any]:
    """The record's flows (described: tasks and decisions) with their labels, and the
    published manual flows of its type, to start when the user may (``can_start``: they may
    change the record, as :meth:`FlowService.start` asks)."""
    flows = get_runtime().flows(session, current_user.actor)
    instances = flows.instances_of(entity, record_id)
    found = _by_ids(session, Flow, {i.flow_id for i in instances})
    labels = {f.key: f.label for f in found}
    described = [flows.describe(i) for i in instances]
    for item in described:
        item["label"] = labels.get(item["flow"], item["flow"])
        item["open"] = [t for t in item["tasks"] if t["status"] == "open"]
    described.sort(key=lambda d: (d["status"] != "running", -d["id"]))
    if not can_start:
        return {"instances": described, "startable": []}
    startable = list(
        session.scalars(
            select(Flow)
            .where(
                Flow.entity == entity,
                Flow.trigger == "manual",
                Flow.live_version_id.is_not(None),
            )
            .order_by(Flow.label)
        )
    )
    return {"instances": described, "startable": startable}


@web.post("/records/<entity>/<int:record_id>/flows")
@login_required
def start_flow(entity: str, record_id: int) -> Any:
    key = request.form.get("flow", "")
    runtime = get_runtime()
    try:
        with runtime.transaction() as session:
            flows = runtime.flows(session, current_user.actor)
            flow = flows.flow(key)
            if flow.trigger != "manual":
                raise PermissionDenied(f"{flow.label} starts by itself, not by hand.")
            label = flow.label
            instance = flows.start(key, entity, record_id)
            failed = instance.status == "failed"
    except TrellisError as exc:
        flash(f"The flow did not start: {_problem(exc)}", "danger")
    else:
        if failed:
            flash(f"{label} failed to start.", "danger")
        else:
            flash(f"Started {label}.", "success")
    return redirect(url_for("web.card", entity=entity, record_id=record_id))
