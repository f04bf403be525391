"""Flows over HTTP: definitions and their versions (administrators), flows of a record (whoever
may read it), instances, the caller's tasks with their decisions and delegation, substitutes,
and in-app notifications.

Everything goes through the flows service as the caller, which says who may decide (a 403)
and what has moved on meanwhile (a 409); records are read through the record service as the
caller, so a record they may not read is a 404 here as on the record routes."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from sqlalchemy import select

from trellis.accounts import User
from trellis.api.blueprint import api
from trellis.api.context import require_administrator, unit
from trellis.api.meta_schemas import (
    FILLED_TEXT,
    JSON_VALUE_DOC,
    AnyJSON,
    Body,
    Choice,
    Label,
    Object,
    ObjectOf,
    Text,
    WholeNumber,
)
from trellis.api.representation import iso_times
from trellis.api.schemas import NO_NUL, items_of
from trellis.errors import NotFound, PermissionDenied
from trellis.flows import notifications, routes
from trellis.flows.engine import ISO_DURATION
from trellis.flows.models import Flow, FlowInstance, FlowTask, FlowVersion
from trellis.flows.service import FlowService

TRIGGERS = ("manual", "create", "stage", "field")
STATUSES = ("running", "completed", "cancelled", "failed")

# -- request bodies -----------------------------------------------------------------------


class TriggerBody(Body):
    on = Choice(TRIGGERS, required=True)
    stage = Text(allow_none=True, metadata={"description": "With on: stage"})
    field = Text(allow_none=True, metadata={"description": "With on: field"})
    when = Text(allow_none=True, metadata={"description": "A condition on the record"})


class FlowCreate(Body):
    key = Text(required=True, metadata={"pattern": "^[a-z][a-z0-9_]{0,29}$"})
    label = Label(required=True)
    entity = Text(required=True)
    trigger = Object(TriggerBody, metadata={"description": 'Default: {"on": "manual"}'})


class FlowPatch(Body):
    immutable = {"key": "Cannot change; create another flow.", "entity": "Cannot change."}
    label = Label()
    trigger = Object(TriggerBody)


ROUTE_HELP = (
    'An approval route: {"steps": [{"id", "label", "approvers": {"users": [...]} | '
    '{"role"} | {"field"}, "mode": "all|any|quorum", "quorum"?, "when"?, "deadline"? '
    '(ISO 8601 duration), "escalate_to"? | "on_deadline"? ("approve|reject"), '
    '"parallel_with"?}], "on_approved": {"stage"?, '
    '"set"?}, "on_rejected": {...}}; its problems are named by JSON path (route.steps[0].mode).'
)


class VersionBody(Body):
    """A route or a BPMN document (the document's ``VersionBody`` is a ``oneOf`` of the two,
    the route typed: :func:`document_version_body`); the flows service checks the route."""

    route = ObjectOf(AnyJSON(allow_none=True), metadata={"description": ROUTE_HELP})
    bpmn = Text(metadata={"description": "BPMN 2.0 XML"})

    @ma.validates_schema
    def _one_of(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if ("route" in data) == ("bpmn" in data):
            raise ma.ValidationError('Give either "route" or "bpmn".', "route")


#: what a version names that the configuration decides, as the flows service's 422 names it
#: (by JSON path): a step id must not clash with another step's or with the variables of a
#: field of the record; the users, roles and user fields of approvers and escalations, the
#: fields a condition reads, the earlier step a step runs in parallel with, a quorum the
#: approvers can reach, the stages and fields of the outcomes; a BPMN document (or the one
#: a route compiles to) whose expressions and service tasks name what exists
VERSION_CONFIGURATION = (
    "route.steps[*].id",
    "route.steps[*].approvers.users[*]",
    "route.steps[*].approvers.role",
    "route.steps[*].approvers.field",
    "route.steps[*].quorum",
    "route.steps[*].when",
    "route.steps[*].escalate_to",
    "route.steps[*].parallel_with",
    "route.on_approved.stage",
    "route.on_rejected.stage",
    "route.on_approved.set.*",
    "route.on_rejected.set.*",
    "bpmn",
)


def _string(**more: Any) -> dict[str, Any]:
    return {"type": "string", "pattern": NO_NUL, **more}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _only(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: schema},
        "required": [name],
        "additionalProperties": False,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def route_schemas() -> dict[str, dict[str, Any]]:
    """The approval route as JSON Schema, from the flows service's own shape
    (:mod:`trellis.flows.routes`: its keys, modes, limits and patterns): what the service
    refuses of a route's form, the schema refuses too; what depends on the configuration or
    on other steps is :data:`VERSION_CONFIGURATION`. An absent key and ``null`` are alike."""
    assignee = {
        "anyOf": [
            _string(description="A user name"),
            _only("user", _string()),
            _only("role", _string()),
        ]
    }
    step = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": routes.STEP_ID.pattern},
            "label": {"type": "string", "pattern": FILLED_TEXT, "maxLength": 200},
            "approvers": _ref("RouteApprovers"),
            "mode": {"enum": list(routes.MODES), "description": "Default: all."},
            "quorum": {"type": ["integer", "null"], "minimum": 1},
            "when": _nullable(_string(description="A condition on the record")),
            "deadline": _nullable(
                {"type": "string", "pattern": ISO_DURATION.pattern, "description": "P2D, PT4H"}
            ),
            "escalate_to": _nullable(assignee),
            "on_deadline": {"enum": [*routes.AUTOMATIC_DECISIONS, None]},
            "parallel_with": _nullable(_string(description="An earlier step's id")),
        },
        "required": ["id", "label", "approvers"],
        "additionalProperties": False,
        "allOf": [
            {  # a quorum with the mode quorum only, and then one
                "if": {"properties": {"mode": {"const": "quorum"}}, "required": ["mode"]},
                "then": {"properties": {"quorum": {"type": "integer"}}, "required": ["quorum"]},
                "else": {"properties": {"quorum": {"type": "null"}}},
            },
            {  # a deadline with an escalation or an automatic decision, and only then
                "if": {"properties": {"deadline": {"type": "string"}}, "required": ["deadline"]},
                "then": {
                    "anyOf": [
                        {
                            "properties": {"escalate_to": {"not": {"type": "null"}}},
                            "required": ["escalate_to"],
                        },
                        {
                            "properties": {"on_deadline": {"type": "string"}},
                            "required": ["on_deadline"],
                        },
                    ]
                },
                "else": {
                    "properties": {
                        "escalate_to": {"type": "null"},
                        "on_deadline": {"type": "null"},
                    }
                },
            },
            {  # not both
                "not": {
                    "properties": {
                        "escalate_to": {"not": {"type": "null"}},
                        "on_deadline": {"type": "string"},
                    },
                    "required": ["escalate_to", "on_deadline"],
                }
            },
        ],
    }
    outcome = {
        "type": "object",
        "properties": {
            "stage": _nullable(_string(description="A stage of the record's type")),
            "set": _nullable(
                {
                    "type": "object",
                    "propertyNames": {"pattern": NO_NUL},
                    "additionalProperties": JSON_VALUE_DOC,
                    "description": "Field values to set",
                }
            ),
        },
        "additionalProperties": False,
    }
    return {
        "RouteApprovers": {
            "oneOf": [
                _only(
                    "users",
                    {
                        "type": "array",
                        "items": _string(),
                        "minItems": 1,
                        "maxItems": routes.MAX_APPROVERS,
                        "uniqueItems": True,
                    },
                ),
                _only("role", _string()),
                _only("field", _string(description="A user field of the record")),
            ]
        },
        "RouteStep": step,
        "RouteOutcome": outcome,
        "Route": {
            "type": "object",
            "description": ROUTE_HELP,
            "properties": {
                "steps": {
                    "type": "array",
                    "items": _ref("RouteStep"),
                    "minItems": 1,
                    "maxItems": routes.MAX_STEPS,
                },
                "on_approved": _nullable(_ref("RouteOutcome")),
                "on_rejected": _nullable(_ref("RouteOutcome")),
            },
            "required": ["steps"],
            "additionalProperties": False,
        },
    }


def document_version_body(schemas: dict[str, Any]) -> None:
    """``VersionBody`` in the document: exactly one of a typed route and a BPMN document."""
    schemas.update(route_schemas())
    bpmn = _string(description="BPMN 2.0 XML", contentMediaType="application/xml")
    schemas["VersionBody"] = {
        "description": "A draft's content: an approval route or a BPMN document.",
        "oneOf": [_only("route", _ref("Route")), _only("bpmn", bpmn)],
    }


class StartBody(Body):
    flow = Text(required=True, metadata={"description": "The flow's key"})
    version = WholeNumber(
        allow_none=True, metadata={"description": "Administrators: start a draft to try it"}
    )


class CompleteBody(Body):
    decision = Choice(("approve", "reject"), required=True)
    comment = Text(allow_none=True, validate=ma.validate.Length(max=2000))


class DelegateBody(Body):
    to = Text(required=True, metadata={"description": "A user name"})


def _date(**kwargs: Any) -> ma.fields.Date:
    return ma.fields.Date(
        error_messages={"required": "Required.", "invalid": "Use a date (YYYY-MM-DD)."}, **kwargs
    )


class SubstituteBody(Body):
    to = Text(required=True, metadata={"description": "Who decides your tasks"})
    starts_on = _date(required=True, data_key="from")
    ends_on = _date(required=True, data_key="until")


# -- responses ----------------------------------------------------------------------------


class TriggerSchema(ma.Schema):
    on = ma.fields.String(required=True, validate=ma.validate.OneOf(TRIGGERS))
    stage = ma.fields.String()
    field = ma.fields.String()
    when = ma.fields.String()


class VersionSummarySchema(ma.Schema):
    version = ma.fields.Integer(required=True)
    hash = ma.fields.String(required=True)
    published = ma.fields.Boolean(required=True)
    published_at = ma.fields.DateTime(allow_none=True)
    live = ma.fields.Boolean()


class FlowSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    entity = ma.fields.String(required=True)
    trigger = ma.fields.Nested(TriggerSchema, required=True)
    live_version = ma.fields.Integer(allow_none=True)
    versions = ma.fields.List(ma.fields.Nested(VersionSummarySchema))


class InstanceCountsSchema(ma.Schema):
    running = ma.fields.Integer(required=True)
    finished = ma.fields.Integer(required=True)


class VersionSchema(VersionSummarySchema):
    flow = ma.fields.String(required=True)
    route = ma.fields.Dict()
    instances = ma.fields.Nested(InstanceCountsSchema)


class RecordRefSchema(ma.Schema):
    entity = ma.fields.String(required=True)
    id = ma.fields.Integer(required=True)
    title = ma.fields.String(allow_none=True)
    values = ma.fields.Dict(
        allow_none=True,
        metadata={
            "description": "On tasks and instances: the record as the caller's roles show it "
            "(hidden fields left out); null when they may not read it"
        },
    )
    through_task = ma.fields.Boolean(
        metadata={"description": "Read through the task: the caller's scope does not cover it"}
    )


class InstanceTaskSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    label = ma.fields.String(required=True)
    activity = ma.fields.String()
    assignee = ma.fields.String(allow_none=True)
    due_at = ma.fields.DateTime(allow_none=True)
    status = ma.fields.String()


class DecisionSchema(ma.Schema):
    task = ma.fields.Integer(required=True)
    user = ma.fields.String(allow_none=True)
    on_behalf_of = ma.fields.String(allow_none=True)
    by = ma.fields.String()
    decision = ma.fields.String(required=True)
    comment = ma.fields.String()
    at = ma.fields.DateTime()


class InstanceSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    flow = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(STATUSES))
    outcome = ma.fields.String(allow_none=True)
    error = ma.fields.String(allow_none=True)
    record = ma.fields.Nested(RecordRefSchema, required=True)
    next_due_at = ma.fields.DateTime(allow_none=True)
    tasks = ma.fields.List(ma.fields.Nested(InstanceTaskSchema), required=True)
    decisions = ma.fields.List(ma.fields.Nested(DecisionSchema), required=True)


class TaskSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    instance = ma.fields.Integer(required=True)
    flow = ma.fields.String()
    label = ma.fields.String(required=True)
    record = ma.fields.Nested(RecordRefSchema, required=True)
    assignee = ma.fields.String(allow_none=True)
    due_at = ma.fields.DateTime(allow_none=True)


class SubstituteSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    user = ma.fields.String(required=True)
    to = ma.fields.String(required=True)
    starts_on = ma.fields.Date(required=True, data_key="from")
    ends_on = ma.fields.Date(required=True, data_key="until")


class NotificationSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    message = ma.fields.String(required=True)
    record = ma.fields.Nested(RecordRefSchema, allow_none=True)
    source = ma.fields.String()
    created_at = ma.fields.DateTime(required=True)
    read = ma.fields.Boolean(required=True)


NotificationListSchema = items_of(
    NotificationSchema, "NotificationList", unread=ma.fields.Integer(required=True)
)


FlowListSchema = items_of(FlowSchema, "FlowList")
VersionListSchema = items_of(VersionSchema, "FlowVersionList")
SubstituteListSchema = items_of(SubstituteSchema, "SubstituteList")
InstanceListSchema = items_of(InstanceSchema, "FlowInstanceList")
TaskListSchema = items_of(TaskSchema, "TaskList")

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


class TaskQuerySchema(ma.Schema):
    assignee = ma.fields.String(
        validate=ma.validate.Length(min=1, max=64),
        metadata={
            "description": "Whose open tasks, as their inbox lists them (administrators "
            "only: anyone else naming another user gets a 403); default: mine"
        },
    )


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
