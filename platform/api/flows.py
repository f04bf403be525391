"""Flows over HTTP: definitions and their versions (administrators), flows of a record (whoever
may read it), instances, the caller's tasks with their decisions and delegation, substitutes,
and in-app notifications.

Everything goes through the flows service as the caller, which says who may decide (a 403)
and what has moved on meanwhile (a 409); records are read through the record service as the
caller, so a record they may not read is a 404 here as on the record routes. The routes' request
and response schemas live in :mod:`trellis.api.flow_schemas`."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from sqlalchemy import select

from trellis.accounts import User
from trellis.api.blueprint import api
from trellis.api.context import require_administrator, unit
from trellis.api.flow_schemas import (
    VERSION_CONFIGURATION,
    CompleteBody,
    DelegateBody,
    FlowCreate,
    FlowListSchema,
    FlowPatch,
    FlowSchema,
    InstanceListSchema,
    InstanceSchema,
    NotificationListSchema,
    StartBody,
    SubstituteBody,
    SubstituteListSchema,
    SubstituteSchema,
    TaskListSchema,
    TaskQuerySchema,
    VersionBody,
    VersionListSchema,
    VersionSchema,
)
from trellis.api.representation import iso_times
from trellis.errors import NotFound, PermissionDenied
from trellis.flows import notifications
from trellis.flows.models import Flow, FlowInstance, FlowTask, FlowVersion
from trellis.flows.service import FlowService

# -- representation -----------------------------------------------------------------------


def _flow_json(session, flow: Flow) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    trigger: dict[str, Any] = {"on": flow.trigger}
    for name, value in (
        ("stage", flow.trigger_stage),
        ("field", flow.trigger_field),
        ("when", flow.when),
    ):
        if value is not None:
            trigger[name] = value
    versions = session.scalars(
        select(FlowVersion).where(FlowVersion.flow_id == flow.id).order_by(FlowVersion.number)
    ).all()
    live = next((v.number for v in versions if v.id == flow.live_version_id), None)
    return {
        "key": flow.key,
        "label": flow.label,
        "entity": flow.entity,
        "trigger": trigger,
        "live_version": live,
        "versions": [_version_summary(flow, v) for v in versions],
    }


def _version_summary(flow: Flow, version: FlowVersion) -> dict[str, Any]:
    return {
        "version": version.number,
        "hash": version.hash,
        "published": version.published_at is not None,
        "published_at": iso_times(version.published_at),
        "live": flow.live_version_id == version.id,
    }


def _admin_flows(runtime, session, actor) -> FlowService:  # type: ignore[no-untyped-def]
    require_administrator(actor, "read and change flows")
    return runtime.flows(session, actor)


def _record_ref(records, entity: str, record_id: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The record as the caller sees it: its title only when they may read it."""
    try:
        title: str | None = records.get(entity, record_id).title
    except (NotFound, PermissionDenied):
        title = None
    return {"entity": entity, "id": record_id, "title": title}


def _task_record(flows: FlowService, records, instance_id: int, entity: str, record_id: int):  # type: ignore[no-untyped-def]
    """The record of an instance as the caller's roles show it (an approver whose scope does
    not cover it reads it through the task); None when they may not see it."""
    from trellis.records.representation import records_json

    found = flows.record_for_task(instance_id)
    if found is None:
        return None
    record, through_task = found
    try:
        values = records_json(records, records.model.entity(entity), [record])[0]
    except (NotFound, PermissionDenied):  # a referred type they may not read
        values = None
    return {
        "entity": entity,
        "id": record_id,
        "title": record.title,
        "values": values,
        "through_task": through_task,
    }


def _instance_json(flows: FlowService, records, instance: FlowInstance | int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """An instance of a record the caller may read, or decides on (a 404 otherwise)."""
    described = flows.describe(instance)
    record = described["record"]
    found = _task_record(flows, records, described["id"], record["entity"], record["id"])
    if found is None:
        if not flows.context.actor.is_admin:
            raise NotFound(f"No flow instance {described['id']}.")
        found = {**record, "title": None, "values": None, "through_task": False}
    described["record"] = found
    return iso_times(described)


# -- definitions --------------------------------------------------------------------------


@api.get("/meta/flows")
@api.problems(403)
@api.alt_response(200, schema=FlowListSchema, success=True)
def list_flows() -> Any:
    """Flows"""
    with unit() as (runtime, session, actor):
        _admin_flows(runtime, session, actor)
        rows = session.scalars(select(Flow).order_by(Flow.key)).all()
        return {"items": [_flow_json(session, f) for f in rows]}


@api.post("/meta/flows")
@api.arguments(FlowCreate)
@api.configuration_dependent("entity", "trigger.stage", "trigger.field", "trigger.when")
@api.problems(400, 403, 409, 422)
@api.alt_response(201, schema=FlowSchema, success=True)
def create_flow(data: dict[str, Any]) -> Any:
    """Create a flow"""
    with unit() as (runtime, session, actor):
        flow = _admin_flows(runtime, session, actor).create_flow(data)
        return _flow_json(session, flow), 201


@api.get("/meta/flows/<key>")
@api.problems(403, 404)
@api.alt_response(200, schema=FlowSchema, success=True)
def get_flow(key: str) -> Any:
    """A flow with its versions"""
    with unit() as (runtime, session, actor):
        return _flow_json(session, _admin_flows(runtime, session, actor).flow(key))


@api.patch("/meta/flows/<key>")
@api.arguments(FlowPatch)
@api.problems(400, 403, 404, 422)
@api.alt_response(200, schema=FlowSchema, success=True)
def update_flow(data: dict[str, Any], key: str) -> Any:
    """Change a flow's label or trigger"""
    with unit() as (runtime, session, actor):
        flow = _admin_flows(runtime, session, actor).update_flow(key, data)
        return _flow_json(session, flow)


@api.post("/meta/flows/<key>/versions")
@api.arguments(VersionBody)
@api.configuration_dependent(*VERSION_CONFIGURATION)
@api.problems(400, 403, 404, 422)
@api.alt_response(201, schema=VersionSchema, success=True)
def add_version(data: dict[str, Any], key: str) -> Any:
    """Add a draft version (from a route or BPMN)"""
    with unit() as (runtime, session, actor):
        flows = _admin_flows(runtime, session, actor)
        version = flows.add_version(key, route=data.get("route"), bpmn=data.get("bpmn"))
        return iso_times(flows.version(key, version.number)), 201


@api.get("/meta/flows/<key>/versions")
@api.problems(403, 404)
@api.alt_response(200, schema=VersionListSchema, success=True)
def list_versions(key: str) -> Any:
    """A flow's versions, oldest first, with their routes and instance counts"""
    with unit() as (runtime, session, actor):
        flows = _admin_flows(runtime, session, actor)
        return {"items": iso_times(flows.versions(key))}


@api.get("/meta/flows/<key>/versions/<int32:version>")
@api.problems(403, 404)
@api.alt_response(200, schema=VersionSchema, success=True)
def get_version(key: str, version: int) -> Any:
    """A version with its route and instance counts"""
    with unit() as (runtime, session, actor):
        return iso_times(_admin_flows(runtime, session, actor).version(key, version))


@api.patch("/meta/flows/<key>/versions/<int32:version>")
@api.arguments(VersionBody)
@api.configuration_dependent(*VERSION_CONFIGURATION)
@api.problems(400, 403, 404, 409, 422)
@api.alt_response(200, schema=VersionSchema, success=True)
def update_draft(data: dict[str, Any], key: str, version: int) -> Any:
    """Replace a draft's route or BPMN (a published version is a 409: add a new one)"""
    with unit() as (runtime, session, actor):
        flows = _admin_flows(runtime, session, actor)
        flows.update_draft(key, version, route=data.get("route"), bpmn=data.get("bpmn"))
        return iso_times(flows.version(key, version))


@api.get("/meta/flows/<key>/versions/<int32:version>/bpmn")
@api.problems(403, 404)
@api.alt_response(
    200,
    schema={"type": "string"},
    content_type="application/xml",
    description="BPMN 2.0 XML",
    success=True,
)
def get_version_bpmn(key: str, version: int) -> Any:
    """A version's BPMN (export)"""
    with unit() as (runtime, session, actor):
        xml = _admin_flows(runtime, session, actor).bpmn(key, version)
    return Response(xml, mimetype="application/xml")


@api.post("/meta/flows/<key>/versions/<int32:version>/publish")
@api.problems(403, 404, 409)
@api.alt_response(200, schema=VersionSchema, success=True)
def publish_version(key: str, version: int) -> Any:
    """Publish a version (live for new instances; running ones stay on theirs)"""
    with unit() as (runtime, session, actor):
        flows = _admin_flows(runtime, session, actor)
        flows.publish(key, version)
        return iso_times(flows.version(key, version))


# -- flows of a record --------------------------------------------------------------------


@api.post("/records/<entity>/<int:record_id>/flows")
@api.arguments(StartBody)
@api.problems(400, 403, 404, 409, 422)
@api.alt_response(201, schema=InstanceSchema, success=True)
def start_flow(data: dict[str, Any], entity: str, record_id: int) -> Any:
    """Start a flow on a {label}"""
    with unit() as (runtime, session, actor):
        records = runtime.records(session, actor)
        records.get(entity, record_id)  # a record the caller cannot read is a 404
        flows = runtime.flows(session, actor)
        instance = flows.start(data["flow"], entity, record_id, version=data.get("version"))
        return _instance_json(flows, records, instance), 201


@api.get("/records/<entity>/<int:record_id>/flows")
@api.problems(404)
@api.alt_response(200, schema=InstanceListSchema, success=True)
def record_flows(entity: str, record_id: int) -> Any:
    """Flows of a {label}: running and finished, with tasks and decisions"""
    with unit() as (runtime, session, actor):
        records = runtime.records(session, actor)
        records.get(entity, record_id)
        flows = runtime.flows(session, actor)
        found = flows.instances_of(entity, record_id)
        return {"items": [_instance_json(flows, records, i) for i in found]}


@api.get("/flows/instances/<int:id>")
@api.problems(404)
@api.alt_response(200, schema=InstanceSchema, success=True)
def get_instance(id: int) -> Any:
    """A flow instance (of a record the caller may read)"""
    with unit() as (runtime, session, actor):
        flows = runtime.flows(session, actor)
        return _instance_json(flows, runtime.records(session, actor), id)


# -- tasks --------------------------------------------------------------------------------


@api.get("/tasks")
# a misspelt parameter is a 400, not silently my own tasks
@api.arguments(TaskQuerySchema, location="query", unknown=ma.RAISE)
@api.problems(403, 404)
@api.alt_response(200, schema=TaskListSchema, success=True)
def my_tasks(query: dict[str, Any]) -> Any:
    """My open tasks (substitutions included)

    ``?assignee=<username>``: an administrator lists another user's open tasks (those
    assigned to them, to one of their roles, or to someone they substitute today)."""
    with unit() as (runtime, session, actor):
        flows, records = runtime.flows(session, actor), runtime.records(session, actor)
        assignee = query.get("assignee")
        tasks = flows.tasks_of(assignee) if assignee else flows.my_tasks()
        ids = {t.instance_id for t in tasks}
        instances = {
            i.id: i
            for i in (
                session.scalars(select(FlowInstance).where(FlowInstance.id.in_(ids))) if ids else []
            )
        }
        flow_ids = {i.flow_id for i in instances.values()}
        keys = dict(
            session.execute(select(Flow.id, Flow.key).where(Flow.id.in_(flow_ids))).all()
            if flow_ids
            else []
        )
        names = _usernames(session, [t.assignee_user_id for t in tasks])
        items = []
        for task in tasks:
            instance = instances[task.instance_id]
            items.append(
                {
                    "id": task.id,
                    "instance": instance.id,
                    "flow": keys.get(instance.flow_id),
                    "label": task.label,
                    "record": _task_record(
                        flows, records, instance.id, instance.entity, instance.record_id
                    )
                    or _record_ref(records, instance.entity, instance.record_id),
                    "assignee": _assignee(task, names),
                    "due_at": iso_times(task.due_at),
                }
            )
        return {"items": items}


def _usernames(session, ids: list[int | None]) -> dict[int, str]:  # type: ignore[no-untyped-def]
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def _assignee(task: FlowTask, names: dict[int, str]) -> str | None:
    if task.assignee_user_id is not None:
        return names.get(task.assignee_user_id)
    return f"role:{task.assignee_role}" if task.assignee_role else None


@api.post("/tasks/<int:id>/complete")
@api.arguments(CompleteBody)
@api.problems(400, 403, 404, 409, 422)
@api.alt_response(200, schema=InstanceSchema, success=True)
def complete_task(data: dict[str, Any], id: int) -> Any:
    """Approve or reject a task; answers the flow instance as it is now"""
    with unit() as (runtime, session, actor):
        flows = runtime.flows(session, actor)
        instance_id = flows.complete(id, data["decision"], data.get("comment") or "")
        return iso_times(flows.describe(instance_id))


@api.post("/tasks/<int:id>/delegate")
@api.arguments(DelegateBody)
@api.problems(400, 403, 404, 409, 422)
@api.alt_response(200, schema=InstanceSchema, success=True)
def delegate_task(data: dict[str, Any], id: int) -> Any:
    """Pass a task on (administrators: reassign any)"""
    with unit() as (runtime, session, actor):
        flows = runtime.flows(session, actor)
        task = flows.delegate(id, data["to"])
        return iso_times(flows.describe(task.instance_id))


@api.post("/me/substitutes")
@api.arguments(SubstituteBody)
@api.problems(400, 403, 404, 422)
@api.alt_response(201, schema=SubstituteSchema, success=True)
def add_substitute(data: dict[str, Any]) -> Any:
    """Name who decides my tasks for a date range"""
    with unit() as (runtime, session, actor):
        row = runtime.flows(session, actor).add_substitute(
            data["to"], data["starts_on"], data["ends_on"]
        )
        names = _usernames(session, [row.user_id, row.substitute_id])
        return _substitute_json(row, names), 201


def _name(names: dict[int, str], user_id: int) -> str:
    return names.get(user_id, "")


def _substitute_json(row: Any, names: dict[int, str]) -> dict[str, Any]:
    return SubstituteSchema().dump(
        {
            "id": row.id,
            "user": _name(names, row.user_id),
            "to": _name(names, row.substitute_id),
            "starts_on": row.starts_on,
            "ends_on": row.ends_on,
        }
    )


@api.get("/me/substitutes")
@api.problems()
@api.alt_response(200, schema=SubstituteListSchema, success=True)
def list_substitutes() -> Any:
    """My substitutions not yet over: whom I named, and whom I stand in for"""
    with unit() as (runtime, session, actor):
        rows = runtime.flows(session, actor).substitutes()
        names = _usernames(session, [i for r in rows for i in (r.user_id, r.substitute_id)])
        return {"items": [_substitute_json(r, names) for r in rows]}


@api.delete("/me/substitutes/<int:id>")
@api.problems(403, 404)
@api.alt_response(204, description="Ended", success=True)
def end_substitute(id: int) -> Any:
    """End a substitution I named: one not yet begun goes, a running one ends yesterday"""
    with unit() as (runtime, session, actor):
        runtime.flows(session, actor).end_substitute(id)
    return "", 204


# -- notifications ------------------------------------------------------------------------


@api.get("/notifications")
@api.problems()
@api.alt_response(200, schema=NotificationListSchema, success=True)
def list_notifications() -> Any:
    """My notifications, unread first, with the unread count"""
    with unit() as (_runtime, session, actor):
        if actor.user_id is None:
            return {"items": [], "unread": 0}
        rows = notifications.notifications_of(session, actor.user_id)
        rows.sort(key=lambda n: n.read_at is not None)  # stable: newest first within each
        return {
            "items": [
                {
                    "id": n.id,
                    "message": n.message,
                    "record": {"entity": n.entity, "id": n.record_id}
                    if n.entity and n.record_id is not None
                    else None,
                    "source": n.source,
                    "created_at": iso_times(n.created_at),
                    "read": n.read_at is not None,
                }
                for n in rows
            ],
            "unread": notifications.unread_count(session, actor.user_id),
        }


@api.post("/notifications/<int:id>/read")
@api.problems(404)
@api.alt_response(204, description="Marked read", success=True)
def read_notification(id: int) -> Any:
    """Mark a notification read"""
    with unit() as (_runtime, session, actor):
        row = session.get(notifications.Notification, id)
        if row is None or row.user_id != actor.user_id:
            raise NotFound(f"No notification {id}.")
        notifications.mark_read(session, actor.user_id, [id])
    return "", 204
