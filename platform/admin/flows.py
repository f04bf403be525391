"""Flows in the admin (issue 13, deliverables 2 and 3): the flows with their trigger and
versions, an approval route built from step rows in a form (saved as a draft through the
flows service, every problem shown beside its input), publishing, a read-only version page
with its instance counts, and the BPMN export. Saves go through :class:`FlowService`."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Response, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import select

from trellis.accounts import Role, User
from trellis.admin.base import AdminView, form_text
from trellis.errors import NotFound
from trellis.flows.definitions import instance_counts, route_context
from trellis.flows.models import Flow, FlowVersion
from trellis.flows.routes import MODES, route_problems

#: the inputs of one step row (``s<n>_<name>``); ``remove`` drops the row on save
STEP_INPUTS = (
    "id",
    "label",
    "kind",
    "users",
    "role",
    "field",
    "mode",
    "quorum",
    "when",
    "deadline",
    "escalate_to",
    "parallel_with",
)
APPROVER_KINDS = (("users", "Users"), ("role", "Everyone with a role"), ("field", "A user field"))
TRIGGER_CHOICES = (
    ("manual", "By hand (record card or API)"),
    ("create", "When a record is created"),
    ("stage", "When a record enters a stage"),
    ("field", "When a field changes"),
)
OUTCOMES = (("approved", "on_approved"), ("rejected", "on_rejected"))
LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)\s*(.*?)\s*$")
#: a problem's JSON path in the route (``route.steps[1].approvers.users[0]``)
STEP_PATH = re.compile(r"^route\.steps\[(\d+)\](?:\.(\w+))?(?:\.(\w+))?")


# -- the route form <-> the route ---------------------------------------------------------


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def route_rows(route: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """A stored route as the form's step rows and outcome inputs."""
    route = route or {}
    rows = []
    for step in route.get("steps") or []:
        approvers = step.get("approvers") or {}
        kind = next(iter(approvers), "")
        escalate = step.get("escalate_to")
        if isinstance(escalate, str):
            escalate = {"user": escalate}
        row = {k: step.get(k) for k in STEP_INPUTS}
        row.update(
            kind=kind,
            users=approvers.get("users") or [],
            role=approvers.get("role") or "",
            field=approvers.get("field") or "",
            mode=step.get("mode") or "all",
            escalate_to=(f"{next(iter(escalate))}:{next(iter(escalate.values()))}")
            if isinstance(escalate, dict) and escalate
            else (f"auto:{step['on_deadline']}" if step.get("on_deadline") else ""),
        )
        rows.append(row)
    outcomes: dict[str, str] = {}
    for name, key in OUTCOMES:
        action = route.get(key) or {}
        outcomes[f"{name}_stage"] = action.get("stage") or ""
        outcomes[f"{name}_set"] = "\n".join(
            f"{k} = {_value_text(v)}" for k, v in (action.get("set") or {}).items()
        )
    return rows, outcomes


def _rows_from_form() -> list[dict[str, Any]]:
    """The step rows as submitted, in order; empty rows and rows marked to remove drop."""
    numbers = sorted(
        {int(k[1:].split("_", 1)[0]) for k in request.form if re.match(r"^s\d+_id$", k)}
    )
    rows = []
    for n in numbers:
        row: dict[str, Any] = {k: form_text(f"s{n}_{k}") for k in STEP_INPUTS}
        row["users"] = request.form.getlist(f"s{n}_users")
        if request.form.get(f"s{n}_remove") or not (row["id"] or row["label"] or row["kind"]):
            continue
        rows.append(row)
    return rows


def _step_of(row: dict[str, Any]) -> dict[str, Any]:
    step: dict[str, Any] = {"id": row["id"], "label": row["label"]}
    kind = row["kind"]
    if kind == "users":
        step["approvers"] = {"users": row["users"]}
    elif kind in ("role", "field"):
        step["approvers"] = {kind: row[kind]}
    step["mode"] = row["mode"] or "all"
    if step["mode"] == "quorum":
        raw = row["quorum"]
        step["quorum"] = int(raw) if raw.isdigit() else (raw or None)
    for name in ("when", "deadline", "parallel_with"):
        if row[name]:
            step[name] = row[name]
    if row["escalate_to"]:
        kind, _, name = row["escalate_to"].partition(":")
        if kind == "auto":  # the deadline decides instead of escalating
            step["on_deadline"] = name
        else:
            step["escalate_to"] = {kind: name} if kind in ("user", "role") else row["escalate_to"]
    return step


def _literal(text: str) -> Any:
    """A value of a ``field = value`` line: a JSON literal (5, true, "text"), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def route_from_form() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, str], dict]:
    """The route the form describes, its rows and outcome inputs (as typed), and problems
    of lines the form could not read (by input name)."""
    rows = _rows_from_form()
    route: dict[str, Any] = {"steps": [_step_of(row) for row in rows]}
    outcomes: dict[str, str] = {}
    unreadable: dict[str, list[str]] = {}
    for name, key in OUTCOMES:
        stage = form_text(f"{name}_stage")
        text = (request.form.get(f"{name}_set") or "").strip()
        outcomes[f"{name}_stage"], outcomes[f"{name}_set"] = stage, text
        action: dict[str, Any] = {}
        if stage:
            action["stage"] = stage
        values = {}
        for line in text.splitlines():
            if not line.strip():
                continue
            found = LINE.match(line)
            if found is None or not found.group(2):
                unreadable.setdefault(f"{name}_set", []).append(
                    f"Write one 'field = value' per line, not {line.strip()!r}."
                )
            else:
                values[found.group(1)] = _literal(found.group(2))
        if values:
            action["set"] = values
        if action:
            route[key] = action
    return route, rows, outcomes, unreadable


def route_errors(errors: dict[str, Any]) -> tuple[dict[int, dict[str, list[str]]], dict]:
    """The service's problems by step row and input (``route.steps[1].approvers.users[0]``
    shows under row 1's users) and the others by the form's input names."""
    by_row: dict[int, dict[str, list[str]]] = {}
    others: dict[str, list[str]] = {}
    for path, messages in errors.items():
        found = STEP_PATH.match(path)
        if found:
            position, name, detail = int(found.group(1)), found.group(2), found.group(3)
            if name == "approvers":
                name = detail if detail in ("users", "role", "field") else "kind"
            if name == "on_deadline":  # chosen in the same input as the escalation
                name = "escalate_to"
            if name not in STEP_INPUTS:
                name = "id"
            by_row.setdefault(position, {}).setdefault(name, []).extend(messages)
            continue
        if not path.startswith(("route", "bpmn")):  # already an input's name
            others.setdefault(path, []).extend(messages)
            continue
        target = "_form"
        for outcome, key in OUTCOMES:
            if path.startswith(f"route.{key}"):
                target = f"{outcome}_stage" if path == f"route.{key}.stage" else f"{outcome}_set"
        if path.startswith("route.steps") and target == "_form":
            target = "steps"
        if target == "_form" and path not in ("_form", "route"):
            messages = [f"{path.removeprefix('route.')}: {m}" for m in messages]
        others.setdefault(target, []).extend(messages)
    return by_row, others


def step_inputs(row_errors: dict[str, list[str]], prefix: str) -> dict[str, list[str]]:
    """A row's problems by the names of its inputs (``s2_quorum``), for the form macros."""
    return {prefix + name: messages for name, messages in row_errors.items()}


# -- the view -----------------------------------------------------------------------------


def _flow_values() -> dict[str, Any]:
    return {k: form_text(k) for k in ("key", "label", "entity", "on", "stage", "field", "when")}


def _flow_data(values: dict[str, Any]) -> dict[str, Any]:
    trigger: dict[str, Any] = {"on": values["on"] or "manual"}
    if trigger["on"] in ("stage", "field"):
        trigger[trigger["on"]] = values[trigger["on"]]
    if values["when"]:
        trigger["when"] = values["when"]
    return {
        "key": values["key"],
        "label": values["label"],
        "entity": values["entity"],
        "trigger": trigger,
    }


def _trigger_errors(errors: dict[str, Any]) -> dict[str, Any]:
    return {k.removeprefix("trigger."): v for k, v in errors.items()}


class FlowsView(AdminView):
    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        errors: dict[str, Any] = {}
        values: dict[str, Any] = {"on": "manual"}
        if request.method == "POST":
            values = _flow_values()
            _, errors = self.change(
                lambda s: self.runtime.flows(s, self.actor).create_flow(_flow_data(values)),
                "Flow created.",
            )
            if not errors:
                return redirect(url_for(".flow", key=values["key"]))
        with self.reading() as session:
            flows = session.scalars(select(Flow).order_by(Flow.entity, Flow.key)).all()
            versions = self._versions(session, [f.id for f in flows])
            return self.render(
                "admin/trellis/flows.html",
                flows=flows,
                versions=versions,
                values=values,
                errors=_trigger_errors(errors),
                **self._choices(session),
            ), (422 if errors else 200)

    @expose("/<key>", methods=["GET", "POST"])
    def flow(self, key: str) -> Any:
        errors: dict[str, Any] = {}
        values: dict[str, Any] | None = None
        if request.method == "POST":
            values = _flow_values()
            data = _flow_data(values)
            data.pop("key"), data.pop("entity")
            _, errors = self.change(
                lambda s: self.runtime.flows(s, self.actor).update_flow(key, data), "Flow saved."
            )
            if not errors:
                return redirect(url_for(".flow", key=key))
        with self.reading() as session:
            flow = session.scalar(select(Flow).where(Flow.key == key))
            if flow is None:
                return self.render("admin/trellis/missing.html", what="flow", key=key), 404
            if values is None:
                values = {
                    "label": flow.label,
                    "on": flow.trigger,
                    "stage": flow.trigger_stage or "",
                    "field": flow.trigger_field or "",
                    "when": flow.when or "",
                }
            values.update(key=flow.key, entity=flow.entity)
            return self.render(
                "admin/trellis/flow.html",
                flow=flow,
                versions=self._versions(session, [flow.id]).get(flow.id, []),
                values=values,
                errors=_trigger_errors(errors),
                **self._choices(session),
            ), (422 if errors else 200)

    @expose("/<key>/new", methods=["GET", "POST"])
    def new_version(self, key: str) -> Any:
        return self._route_form(key, None)

    @expose("/<key>/<int:number>/edit", methods=["GET", "POST"])
    def edit_version(self, key: str, number: int) -> Any:
        return self._route_form(key, number)

    @expose("/<key>/<int:number>", methods=["GET", "POST"])
    def version(self, key: str, number: int) -> Any:
        errors: dict[str, Any] = {}
        if request.method == "POST" and request.form.get("action") == "publish":
            _, errors = self.change(
                lambda s: self.runtime.flows(s, self.actor).publish(key, number),
                f"Version {number} is published: new instances start on it.",
            )
            if not errors:
                return redirect(url_for(".version", key=key, number=number))
        with self.reading() as session:
            service = self.runtime.flows(session, self.actor)
            try:
                described = service.version(key, number)
                flow = service.flow(key)
            except NotFound:
                return self.render(
                    "admin/trellis/missing.html", what="flow version", key=f"{key} {number}"
                ), 404
            row = session.scalar(
                select(FlowVersion).where(
                    FlowVersion.flow_id == flow.id, FlowVersion.number == number
                )
            )
            names = self._usernames(session, [row.published_by, row.created_by])
            return self.render(
                "admin/trellis/flow_version.html",
                flow=flow,
                version=described,
                row=row,
                published_by=names.get(row.published_by),
                created_by=names.get(row.created_by),
                errors=errors,
            ), (422 if errors else 200)

    @expose("/<key>/<int:number>/bpmn")
    def bpmn(self, key: str, number: int) -> Any:
        with self.reading() as session:
            try:
                xml = self.runtime.flows(session, self.actor).bpmn(key, number)
            except NotFound:
                return self.render(
                    "admin/trellis/missing.html", what="flow version", key=f"{key} {number}"
                ), 404
        return Response(
            xml,
            mimetype="application/xml",
            headers={"Content-Disposition": f'attachment; filename="{key}-v{number}.bpmn"'},
        )

    # -- helpers --------------------------------------------------------------------------

    def _route_form(self, key: str, number: int | None) -> Any:
        errors: dict[str, Any] = {}
        rows: list[dict[str, Any]] | None = None
        outcomes: dict[str, str] = {}
        if request.method == "POST":
            route, rows, outcomes, unreadable = route_from_form()
            if unreadable:
                # nothing is saved; the rest of the route is checked too
                with self.reading() as session:
                    errors = {**self._problems(session, key, route), **unreadable}
            else:
                saved, errors = self.change(
                    lambda s: self._save(s, key, number, route), "Draft saved."
                )
                if not errors:
                    return redirect(url_for(".version", key=key, number=saved))
        with self.reading() as session:
            flow = session.scalar(select(Flow).where(Flow.key == key))
            if flow is None:
                return self.render("admin/trellis/missing.html", what="flow", key=key), 404
            if rows is None:
                query = select(FlowVersion).where(FlowVersion.flow_id == flow.id)
                query = (
                    query.where(FlowVersion.number == number)
                    if number is not None
                    else query.order_by(FlowVersion.number.desc()).limit(1)
                )
                stored = session.scalar(query)
                if number is not None and stored is None:
                    return self.render(
                        "admin/trellis/missing.html", what="flow version", key=f"{key} {number}"
                    ), 404
                if stored is not None and stored.published_at is not None and number:
                    return redirect(url_for(".version", key=key, number=number))
                rows, outcomes = route_rows(stored.route if stored is not None else None)
            by_row, others = route_errors(errors)
            ent = self.runtime.model(session).entities.get(flow.entity)
            stages = [
                (s.key, f"{p.label} / {s.label}")
                for p in (ent.pipelines.values() if ent else [])
                for s in p.stages.values()
            ]
            fields = list(ent.fields.values()) if ent else []
            choices = self._choices(session)
            return self.render(
                "admin/trellis/flow_route.html",
                flow=flow,
                number=number,
                step_rows=[*rows, {"mode": "all", "users": []}],
                row_errors=by_row,
                outcomes=outcomes,
                errors=others,
                stage_choices=list(dict.fromkeys(stages)),
                user_field_choices=[(f.key, f.label) for f in fields if f.type.name == "user"],
                kind_choices=APPROVER_KINDS,
                mode_choices=[(m, m) for m in MODES],
                escalate_choices=[("auto:approve", "Nobody: approve automatically")]
                + [("auto:reject", "Nobody: reject automatically")]
                + [("user:" + k, v) for k, v in choices["user_choices"]]
                + [("role:" + k, f"Role: {v}") for k, v in choices["role_choices"]],
                **choices,
            ), (422 if errors else 200)

    def _save(self, session: Any, key: str, number: int | None, route: dict) -> int:
        service = self.runtime.flows(session, self.actor)
        if number is None:
            return service.add_version(key, route=route).number
        return service.update_draft(key, number, route=route).number

    def _problems(self, session: Any, key: str, route: dict) -> dict[str, list[str]]:
        """The route's problems as a save would name them."""
        service = self.runtime.flows(session, self.actor)
        context = route_context(service.context, service.flow(key).entity)
        return {f"route.{k}": v for k, v in route_problems(route, context).items()}

    def _choices(self, session: Any) -> dict[str, Any]:
        model = self.runtime.model(session)
        entities = list(model.entities.values())
        return {
            "entity_choices": [(e.key, e.label_plural) for e in entities],
            "entity_labels": {e.key: e.label_plural for e in entities},
            "trigger_choices": TRIGGER_CHOICES,
            "trigger_stage_choices": list(
                dict.fromkeys(
                    (s.key, f"{e.label_plural} / {p.label} / {s.label}")
                    for e in entities
                    for p in e.pipelines.values()
                    for s in p.stages.values()
                )
            ),
            "trigger_field_choices": [
                (f.key, f"{e.label_plural} / {f.label}")
                for e in entities
                for f in e.fields.values()
            ],
            "user_choices": [
                (u.username, u.display_name or u.username)
                for u in session.scalars(
                    select(User).where(User.is_active.is_(True)).order_by(User.username)
                )
            ],
            "role_choices": [
                (r.key, r.label) for r in session.scalars(select(Role).order_by(Role.key))
            ],
        }

    def _versions(self, session: Any, flow_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        found: dict[int, list[dict[str, Any]]] = {}
        if not flow_ids:
            return found
        for row in session.scalars(
            select(FlowVersion)
            .where(FlowVersion.flow_id.in_(flow_ids))
            .order_by(FlowVersion.flow_id, FlowVersion.number)
        ):
            found.setdefault(row.flow_id, []).append(
                {
                    "number": row.number,
                    "hash": row.hash,
                    "published_at": row.published_at,
                    "instances": instance_counts(session, row),
                }
            )
        return found

    def _usernames(self, session: Any, ids: list[int | None]) -> dict[int, str]:
        wanted = [i for i in ids if i is not None]
        if not wanted:
            return {}
        return dict(
            session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all()
        )
