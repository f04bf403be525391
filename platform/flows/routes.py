"""Approval routes: steps in JSON, validated in full and compiled to BPMN.

A route is ``{"steps": [...], "on_approved": {"stage"?, "set"?}, "on_rejected": {...}}``; a
step is ``{"id", "label", "approvers": {"users": [...]} | {"role": "..."} | {"field": "..."},
"mode": "all|any|quorum", "quorum"?, "when"?, "deadline"? (ISO 8601 duration),
"escalate_to"? ({"user"} | {"role"} | a username), "on_deadline"? ("approve" | "reject": the
automatic decision when the deadline passes, instead of an escalation), "parallel_with"? (an
earlier step's id)}``.

Every step compiles to a parallel multi-instance user task over ``<step>_approvers`` (one task
per user; for a role, one task per active member in the modes ``all`` and ``quorum``, and a
single task any member may decide in the mode ``any``) whose completion condition ends it as
soon as the outcome is known (a rejection in ``all``; the quorum reached, or no longer
reachable). ``when`` becomes an exclusive gateway that skips the step; a deadline a boundary
timer leading to an escalation task or to a script task deciding automatically
(``<step>_auto_decision``); ``parallel_with`` a parallel gateway, each branch ending the whole
route rejected at once (a terminate end event: the other branches' tasks are cancelled) when
its step rejects. A step whose approvers may turn out empty (a user field empty on the record;
a role without active users, which the platform passes in as ``vacant_roles``) goes to its
escalation, or else ends the route with ``failed_step`` set (the flows service fails the
instance with the reason): never a task nobody can decide, never an approval by nobody.
The escalation's own target is checked when its task becomes ready (at the deadline, or at
once for an empty step): a role without active users, or an inactive user, fails the instance
the same way (the flows service says why on the card and notifies the administrators).

A role's members are fixed when its step starts (the platform passes them in as
``<step>_approvers`` at the flow's start, and sets them again from the members of that moment
just before the step's ``<step>_assigned`` gateway runs; the N of M of a quorum is of the
members then: someone joining or leaving the role while the step waits does not change it,
someone joining before a later step is asked there). A quorum larger than the role's
active members at that moment can never be reached, so the step is handled like a vacant
role: it goes to its escalation, or the route ends with ``failed_step`` set and the instance
shows why (the role has fewer active members than the quorum). Publishing cannot know the
members of a later day, so it does not refuse such a quorum.

The BPMN carries everything it runs on: a script task after the start assigns the fixed
approvers (users, roles) and escalation assignees, each user task names its approvers in
``trellis:approvers`` extension data, and the document has a diagram (BPMN DI) laid out by
:mod:`.layout`, so an export opens in bpmn-js or the Camunda Modeler and runs without the
route's JSON (only a user field's approvers and a role's members, for the modes ``all`` and
``quorum``, come from the platform at start).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

from trellis.expressions import ExpressionError, compile_expression
from trellis.flows.engine import ISO_DURATION

STEP_ID = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
MODES = ("all", "any", "quorum")
MAX_STEPS = 50
MAX_APPROVERS = 100
STEP_KEYS = {
    "id",
    "label",
    "approvers",
    "mode",
    "quorum",
    "when",
    "deadline",
    "escalate_to",
    "on_deadline",
    "parallel_with",
}
AUTOMATIC_DECISIONS = ("approve", "reject")
OUTCOME_KEYS = {"stage", "set"}
#: variables every route uses besides its steps' (``<step>_approvers`` ...)
ROUTE_VARIABLES = ("outcome", "failed_step", "vacant_roles")
TRELLIS_NS = "https://trellis.example/flows"


@dataclass(frozen=True)
class RouteContext:
    """What a route is checked against: the entity's fields and stages, users and roles."""

    fields: dict[str, str]
    """field key -> type name"""
    stages: set[str]
    users: set[str]
    roles: set[str]


def step_variables(step_id: str) -> tuple[str, ...]:
    return (
        f"{step_id}_approvers",
        f"{step_id}_approver",
        f"{step_id}_decision",
        f"{step_id}_decisions",
        f"{step_id}_escalation_assignee",
        f"{step_id}_escalation_decision",
        f"{step_id}_auto_decision",
    )


def route_problems(route: Any, context: RouteContext) -> dict[str, list[str]]:
    """Every problem of ``route``, by JSON path (``steps[1].quorum``)."""
    problems: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        problems.setdefault(path, []).append(message)

    if not isinstance(route, dict):
        add("$", "A route is an object with steps.")
        return problems
    for key in sorted(set(route) - {"steps", "on_approved", "on_rejected"}):
        add(key, "Unknown key.")
    steps = route.get("steps")
    if not isinstance(steps, list) or not steps:
        add("steps", "A route needs at least one step.")
        steps = []
    elif len(steps) > MAX_STEPS:
        add("steps", f"At most {MAX_STEPS} steps.")
    seen: list[str] = []
    group_of: dict[str, str] = {}
    for index, step in enumerate(steps if len(steps) <= MAX_STEPS else []):
        path = f"steps[{index}]"
        if not isinstance(step, dict):
            add(path, "A step is an object.")
            continue
        for key in sorted(set(step) - STEP_KEYS):
            add(f"{path}.{key}", "Unknown key.")
        step_id = step.get("id")
        if not isinstance(step_id, str) or not STEP_ID.match(step_id):
            add(
                f"{path}.id",
                "Use 1-30 lower-case letters, digits or underscores, starting with a letter.",
            )
            step_id = None
        elif step_id in seen:
            add(f"{path}.id", f"Another step has the id {step_id!r}.")
        elif any(v in context.fields for v in step_variables(step_id)):
            add(
                f"{path}.id",
                f"The id {step_id!r} clashes with a field of the record; choose another.",
            )
        label = step.get("label")
        if not isinstance(label, str) or not label.strip() or len(label) > 200:
            add(f"{path}.label", "A label of 1-200 characters is required.")
        count = _check_approvers(step.get("approvers"), f"{path}.approvers", context, add)
        mode = step.get("mode", "all")
        if mode not in MODES:
            add(f"{path}.mode", "Use all, any or quorum.")
        quorum = step.get("quorum")
        if mode == "quorum":
            if not isinstance(quorum, int) or isinstance(quorum, bool) or quorum < 1:
                add(f"{path}.quorum", "A quorum is a whole number of at least 1.")
            elif count is not None and quorum > count:
                add(f"{path}.quorum", f"The quorum {quorum} is more than the {count} approvers.")
        elif quorum is not None:
            add(f"{path}.quorum", "A quorum goes with the mode quorum only.")
        when = step.get("when")
        if when is not None:
            try:
                compile_expression(when, context.fields)
            except ExpressionError as exc:
                add(f"{path}.when", exc.message)
        deadline, escalate = step.get("deadline"), step.get("escalate_to")
        automatic = step.get("on_deadline")
        if deadline is not None:
            if not isinstance(deadline, str) or not ISO_DURATION.match(deadline):
                add(f"{path}.deadline", "Use an ISO 8601 duration such as P2D or PT4H.")
            if escalate is None and automatic is None:
                add(
                    f"{path}.escalate_to",
                    "A deadline needs someone to escalate to, or an automatic decision "
                    "(on_deadline).",
                )
        if escalate is not None:
            if deadline is None:
                add(f"{path}.deadline", "An escalation needs a deadline.")
            _check_assignee(escalate, f"{path}.escalate_to", context, add)
        if automatic is not None:
            if automatic not in AUTOMATIC_DECISIONS:
                add(f"{path}.on_deadline", "Use approve or reject.")
            elif deadline is None:
                add(f"{path}.deadline", "An automatic decision needs a deadline.")
            elif escalate is not None:
                add(
                    f"{path}.on_deadline",
                    "Choose either an escalation or an automatic decision at the deadline.",
                )
        parallel = step.get("parallel_with")
        if parallel is not None:
            if not isinstance(parallel, str) or parallel not in seen:
                add(f"{path}.parallel_with", "Name an earlier step.")
            elif seen and group_of.get(seen[-1]) != group_of.get(parallel, parallel):
                add(f"{path}.parallel_with", "Steps in parallel must follow each other.")
            elif step_id:
                group_of[step_id] = group_of.get(parallel, parallel)
        if step_id:
            seen.append(step_id)
            group_of.setdefault(step_id, step_id)
    for key in ("on_approved", "on_rejected"):
        _check_outcome(route.get(key), key, context, add)
    return problems


def _check_approvers(value: Any, path: str, context: RouteContext, add: Any) -> int | None:
    """Check a step's approvers; returns how many tasks the step makes (when known)."""
    if (
        not isinstance(value, dict)
        or len(value) != 1
        or next(iter(value))
        not in (
            "users",
            "role",
            "field",
        )
    ):
        add(path, 'Give exactly one of {"users": [...]}, {"role": "..."} or {"field": "..."}.')
        return None
    kind, given = next(iter(value.items()))
    if kind == "users":
        if not isinstance(given, list) or not given or len(given) > MAX_APPROVERS:
            add(f"{path}.users", f"List 1-{MAX_APPROVERS} user names.")
            return None
        for i, name in enumerate(given):
            if not isinstance(name, str) or name not in context.users:
                add(f"{path}.users[{i}]", f"No user named {name!r}.")
            elif given.index(name) != i:
                add(f"{path}.users[{i}]", f"{name!r} is listed twice.")
        return len(given)
    if kind == "role":
        if not isinstance(given, str) or given not in context.roles:
            add(f"{path}.role", f"No role {given!r}.")
        return None  # its members, known when its step starts
    if not isinstance(given, str) or given not in context.fields:
        add(f"{path}.field", f"No field {given!r}.")
    elif context.fields[given] != "user":
        add(f"{path}.field", "Approvers come from a field of type user.")
    return None


def _check_assignee(value: Any, path: str, context: RouteContext, add: Any) -> None:
    if isinstance(value, str):
        value = {"user": value}
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in ("user", "role"):
        add(path, 'Give a user name, {"user": "..."} or {"role": "..."}.')
        return
    kind, name = next(iter(value.items()))
    known = context.users if kind == "user" else context.roles
    if not isinstance(name, str) or name not in known:
        add(path, f"No {kind} {name!r}.")


def _check_outcome(value: Any, path: str, context: RouteContext, add: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        add(path, 'An outcome is {"stage"?, "set"?}.')
        return
    for key in sorted(set(value) - OUTCOME_KEYS):
        add(f"{path}.{key}", "Unknown key.")
    stage = value.get("stage")
    if stage is not None and stage not in context.stages:
        add(f"{path}.stage", f"No stage {stage!r} for this record type.")
    values = value.get("set")
    if values is not None:
        if not isinstance(values, dict):
            add(f"{path}.set", "Give field values as an object.")
        else:
            for key in values:
                if key not in context.fields:
                    add(f"{path}.set.{key}", f"No field {key!r}.")


def assignee_ref(value: Any) -> str:
    """``user:<name>`` or ``role:<key>`` for an ``escalate_to`` value."""
    if isinstance(value, str):
        return f"user:{value}"
    kind, name = next(iter(value.items()))
    return f"{kind}:{name}"


def route_variables(route: dict[str, Any]) -> set[str]:
    names = set(ROUTE_VARIABLES)
    for step in route["steps"]:
        names.update(step_variables(step["id"]))
    return names


# -- compiling ---------------------------------------------------------------------------


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[str] = []
        self.flows: list[str] = []
        self._n = 0

    def node(self, xml: str) -> None:
        self.nodes.append(xml)

    def flow(self, source: str, target: str, condition: str | None = None) -> str:
        self._n += 1
        flow_id = f"flow_{self._n}"
        if condition is None:
            self.flows.append(
                f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}"/>'
            )
        else:
            self.flows.append(
                f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
                f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{_text(condition)}'
                "</bpmn:conditionExpression></bpmn:sequenceFlow>"
            )
        return flow_id


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _needed(step: dict[str, Any]) -> str:
    """How many approvals a step needs, as an expression."""
    mode = step.get("mode", "all")
    if mode == "any":
        return "1"
    if mode == "quorum":
        return str(step["quorum"])
    return f"len({step['id']}_approvers)"


def _completion(step: dict[str, Any], prefix: str) -> str:
    """The outcome is known: enough approvals, or too many rejections to get them."""
    decisions = f"{prefix}_decisions"
    mode = step.get("mode", "all")
    if mode == "all":
        return f'count({decisions}, "reject") > 0'
    needed = "1" if mode == "any" else str(step["quorum"])
    return (
        f'count({decisions}, "approve") >= {needed} or '
        f'count({decisions}, "reject") > nrOfInstances - {needed}'
    )


def _approvers_xml(step: dict[str, Any]) -> str:
    """The step's approvers as extension data (what the assign script and the platform
    resolve into ``<step>_approvers``)."""
    kind, value = next(iter(step["approvers"].items()))
    mode = step.get("mode", "all")
    quorum = f" quorum={quoteattr(str(step['quorum']))}" if mode == "quorum" else ""
    if kind == "users":
        inner = "".join(f"<trellis:user name={quoteattr(u)}/>" for u in value)
    elif kind == "role":
        inner = f"<trellis:role key={quoteattr(value)}/>"
    else:
        inner = f"<trellis:field key={quoteattr(value)}/>"
    return (
        f"<bpmn:extensionElements><trellis:approvers mode={quoteattr(mode)}{quorum}>{inner}"
        "</trellis:approvers></bpmn:extensionElements>"
    )


def _who(step: dict[str, Any]) -> str:
    """The approvers in words, as the task's documentation."""
    kind, value = next(iter(step["approvers"].items()))
    names = ", ".join(value) if kind == "users" else value
    mode = step.get("mode", "all")
    mode = f"quorum of {step['quorum']}" if mode == "quorum" else mode
    return f"Approvers ({mode}): {kind} {names}"


def _user_task(step: dict[str, Any]) -> str:
    sid = step["id"]
    completion = _completion(step, sid)
    return (
        f"<bpmn:userTask id={quoteattr(sid)} name={quoteattr(step['label'])}>"
        f"<bpmn:documentation>{_text(_who(step))}</bpmn:documentation>"
        + _approvers_xml(step)
        + '<bpmn:multiInstanceLoopCharacteristics isSequential="false">'
        f"<bpmn:loopDataInputRef>{sid}_approvers</bpmn:loopDataInputRef>"
        f"<bpmn:loopDataOutputRef>{sid}_decisions</bpmn:loopDataOutputRef>"
        f'<bpmn:inputDataItem id="{sid}_approver" name="{sid}_approver"/>'
        f'<bpmn:outputDataItem id="{sid}_decision" name="{sid}_decision"/>'
        f'<bpmn:completionCondition xsi:type="bpmn:tFormalExpression">{_text(completion)}'
        "</bpmn:completionCondition></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>"
    )


def _script_task(node_id: str, name: str, lines: list[str]) -> str:
    return (
        f"<bpmn:scriptTask id={quoteattr(node_id)} name={quoteattr(name)}>"
        f"<bpmn:script>{_text(chr(10).join(lines))}</bpmn:script></bpmn:scriptTask>"
    )


def _terminate(node_id: str) -> str:
    """An end event ending the whole process (other branches' tasks are cancelled)."""
    return f'<bpmn:endEvent id="{node_id}"><bpmn:terminateEventDefinition/></bpmn:endEvent>'


def _assignments(route: dict[str, Any]) -> list[str]:
    """Script lines assigning the fixed approvers and escalation assignees."""
    lines = []
    for step in route["steps"]:
        sid = step["id"]
        kind, value = next(iter(step["approvers"].items()))
        if kind == "users":
            lines.append(f"{sid}_approvers = {json.dumps([f'user:{u}' for u in value])}")
        elif kind == "role" and step.get("mode", "all") == "any":
            lines.append(f"{sid}_approvers = {json.dumps([f'role:{value}'])}")
        if step.get("escalate_to") is not None:
            lines.append(
                f"{sid}_escalation_assignee = {json.dumps(assignee_ref(step['escalate_to']))}"
            )
    return lines


def _compile_step(b: _Builder, step: dict[str, Any], entry: str) -> tuple[str, str]:
    """Add one step starting after the node ``entry``; returns (its exit node, the
    condition that says it was approved, evaluated after it)."""
    sid = step["id"]
    current, condition = entry, None
    if step.get("when"):
        b.node(f'<bpmn:exclusiveGateway id="{sid}_when" default="{sid}_skip"/>')
        b.flow(current, f"{sid}_when")
        current, condition = f"{sid}_when", step["when"]
    kind, value = next(iter(step["approvers"].items()))
    escalation = f"{sid}_escalation"
    escalates = step.get("escalate_to") is not None
    if kind in ("field", "role"):  # approvers that may turn out empty
        b.node(f'<bpmn:exclusiveGateway id="{sid}_assigned" default="{sid}_assigned_flow"/>')
        b.flow(current, f"{sid}_assigned", condition)
        b.flows.append(
            f'<bpmn:sequenceFlow id="{sid}_assigned_flow" sourceRef="{sid}_assigned" '
            f'targetRef="{sid}"/>'
        )
        empty = f"len({sid}_approvers) == 0"
        if kind == "role":
            empty += f" or contains(vacant_roles, {json.dumps(value)})"
            if step.get("mode") == "quorum":  # fewer members than the quorum
                empty += f" or len({sid}_approvers) < {step['quorum']}"
        if escalates:
            b.flow(f"{sid}_assigned", escalation, empty)
        else:
            b.node(_script_task(f"{sid}_unassigned", "No approver", [f'failed_step = "{sid}"']))
            b.node(_terminate(f"{sid}_end_unassigned"))
            b.flow(f"{sid}_assigned", f"{sid}_unassigned", empty)
            b.flow(f"{sid}_unassigned", f"{sid}_end_unassigned")
    else:
        b.flow(current, sid, condition)
    b.node(_user_task(step))
    approved = f'count({sid}_decisions, "approve") >= {_needed(step)}'
    exit_node = sid
    if step.get("deadline"):
        b.node(
            f'<bpmn:boundaryEvent id="{sid}_deadline" name="Deadline" attachedToRef="{sid}" '
            'cancelActivity="true"><bpmn:timerEventDefinition>'
            f'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{step["deadline"]}'
            "</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        )
        b.node(f'<bpmn:exclusiveGateway id="{sid}_done"/>')
        b.flow(sid, f"{sid}_done")
        exit_node = f"{sid}_done"
        if escalates:
            # one plain user task (Spiff cannot start a multi-instance task on the path of a
            # boundary event: "non-predicted child to predicted task"); its assignee is the
            # variable <activity>_assignee
            target = assignee_ref(step["escalate_to"])
            b.node(
                f"<bpmn:userTask id={quoteattr(escalation)} "
                f"name={quoteattr(step['label'] + ' (escalated)')}><bpmn:documentation>"
                f"{_text('Escalated to ' + target)}</bpmn:documentation>"
                "<bpmn:extensionElements>"
                f"<trellis:assignee ref={quoteattr(target)}/></bpmn:extensionElements>"
                "</bpmn:userTask>"
            )
            b.flow(f"{sid}_deadline", escalation)
            b.flow(escalation, f"{sid}_done")
            approved = f'{approved} or {escalation}_decision == "approve"'
        else:
            auto = step["on_deadline"]
            b.node(
                _script_task(
                    f"{sid}_auto",
                    f"{'Approved' if auto == 'approve' else 'Rejected'} at the deadline",
                    [f"{sid}_auto_decision = {json.dumps(auto)}"],
                )
            )
            b.flow(f"{sid}_deadline", f"{sid}_auto")
            b.flow(f"{sid}_auto", f"{sid}_done")
            approved = f'{approved} or {sid}_auto_decision == "approve"'
    if step.get("when"):
        b.node(f'<bpmn:exclusiveGateway id="{sid}_join"/>')
        b.flow(exit_node, f"{sid}_join")
        b.flows.append(
            f'<bpmn:sequenceFlow id="{sid}_skip" sourceRef="{sid}_when" targetRef="{sid}_join"/>'
        )
        exit_node = f"{sid}_join"
        approved = f"not ({step['when']}) or {approved}"
    return exit_node, f"({approved})"


def compile_route(route: dict[str, Any], key: str = "route", label: str = "Approval") -> str:
    """BPMN XML, with its diagram, for a valid route (check it with :func:`route_problems`
    first)."""
    from trellis.flows.layout import diagram

    b = _Builder()
    b.node('<bpmn:startEvent id="start"/>')
    current = "start"
    assignments = _assignments(route)
    if assignments:
        b.node(_script_task("assign", "Assign approvers", assignments))
        b.flow("start", "assign")
        current = "assign"
    b.node(_script_task("approved", "Approved", ['outcome = "approved"']))
    b.node('<bpmn:endEvent id="end_approved"/>')
    b.flow("approved", "end_approved")
    groups: list[list[dict[str, Any]]] = []
    for step in route["steps"]:
        if step.get("parallel_with") and groups:
            groups[-1].append(step)
        else:
            groups.append([step])
    for number, group in enumerate(groups, 1):
        gid = f"group_{number}"
        if len(group) > 1:
            # each branch ends the route rejected at once (terminate: the other branches'
            # tasks are cancelled); the merge is reached when every branch approved
            b.node(f'<bpmn:parallelGateway id="{gid}_fork"/>')
            b.node(f'<bpmn:parallelGateway id="{gid}_merge"/>')
            b.flow(current, f"{gid}_fork")
            for step in group:
                sid = step["id"]
                step_exit, step_approved = _compile_step(b, step, f"{gid}_fork")
                b.node(f'<bpmn:exclusiveGateway id="{sid}_check" default="{sid}_rejected_flow"/>')
                b.flow(step_exit, f"{sid}_check")
                b.flow(f"{sid}_check", f"{gid}_merge", step_approved)
                b.node(_script_task(f"{sid}_rejected", "Rejected", ['outcome = "rejected"']))
                b.node(_terminate(f"{sid}_end_rejected"))
                b.flows.append(
                    f'<bpmn:sequenceFlow id="{sid}_rejected_flow" sourceRef="{sid}_check" '
                    f'targetRef="{sid}_rejected"/>'
                )
                b.flow(f"{sid}_rejected", f"{sid}_end_rejected")
            current = f"{gid}_merge"
            continue
        exit_node, approved = _compile_step(b, group[0], current)
        b.node(f'<bpmn:exclusiveGateway id="{gid}_check" default="{gid}_rejected_flow"/>')
        b.flow(exit_node, f"{gid}_check")
        b.node(_script_task(f"{gid}_rejected", "Rejected", ['outcome = "rejected"']))
        b.node(f'<bpmn:endEvent id="{gid}_end_rejected"/>')
        b.flows.append(
            f'<bpmn:sequenceFlow id="{gid}_rejected_flow" sourceRef="{gid}_check" '
            f'targetRef="{gid}_rejected"/>'
        )
        b.flow(f"{gid}_rejected", f"{gid}_end_rejected")
        b.node(f'<bpmn:exclusiveGateway id="{gid}_next"/>')
        b.flow(f"{gid}_check", f"{gid}_next", approved)
        current = f"{gid}_next"
    b.flow(current, "approved")
    process_id = f"flow_{key}"
    process = (
        f'<bpmn:process id={quoteattr(process_id)} name={quoteattr(label)} isExecutable="true">\n'
        + "\n".join(b.nodes)
        + "\n"
        + "\n".join(b.flows)
        + "\n</bpmn:process>"
    )
    return diagram(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        f'xmlns:trellis="{TRELLIS_NS}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'id="definitions_{key}" targetNamespace="{TRELLIS_NS}">\n'
        + process
        + "\n</bpmn:definitions>\n"
    )
