"""The marshmallow schemas of the flow routes (:mod:`trellis.api.flows`): the request bodies,
with the approval route as JSON Schema for the document (from the flows service's own shape),
the responses, and the task list's query."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from trellis.api.bodies import (
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
from trellis.api.schemas import NO_NUL, items_of
from trellis.flows import routes
from trellis.flows.engine import ISO_DURATION

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


class TaskQuerySchema(ma.Schema):
    assignee = ma.fields.String(
        validate=ma.validate.Length(min=1, max=64),
        metadata={
            "description": "Whose open tasks, as their inbox lists them (administrators "
            "only: anyone else naming another user gets a 403); default: mine"
        },
    )
