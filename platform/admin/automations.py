"""Automations (trigger, condition, actions), the webhooks they call, and the outbox of
deliveries with their status, errors and a retry. Saves go through the flows services, so a
form shows every problem the service finds, by field."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import func, select

from trellis.accounts import Role, User
from trellis.admin.base import AdminView, form_bool, form_text
from trellis.conversion.models import ConversionMap
from trellis.flows import outbox
from trellis.flows.actions import ACTIONS
from trellis.flows.automations import (
    TRIGGERS,
    Automation,
    check_automation,
    delete_automation,
    save_automation,
)
from trellis.flows.outbox import OutboxEntry
from trellis.flows.webhooks import Webhook, new_secret, save_webhook

#: one action row of the form: a type and the inputs of every type (the page shows those of
#: the chosen type); ``values`` are ``field = expression`` lines
ROW_INPUTS = (
    "type",
    "values",
    "stage",
    "map",
    "targets",
    "message",
    "users",
    "roles",
    "fields",
    "owner",
    "webhook",
)
LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)\s*(.*?)\s*$")


def _expression_text(value: Any) -> str:
    """A stored value as the expression the form shows (``"checked"``, ``5``, ``amount * 2``)."""
    if isinstance(value, dict) and set(value) == {"expr"}:
        return str(value["expr"])
    if isinstance(value, bool) or value is None:
        return repr(value)
    return json.dumps(value)


def _row_of(spec: Any) -> dict[str, Any]:
    """A stored action as the form's row."""
    if not isinstance(spec, dict):
        return {"type": ""}
    row = {k: spec.get(k) for k in ROW_INPUTS}
    values = spec.get("values")
    if isinstance(values, dict):
        row["values"] = "\n".join(f"{k} = {_expression_text(v)}" for k, v in values.items())
    if isinstance(spec.get("targets"), list):
        row["targets"] = ", ".join(map(str, spec["targets"]))
    for name in ("users", "roles", "fields"):
        row[name] = spec.get(name) or []
    return row


def _rows_from_form() -> list[dict[str, Any]]:
    """The action rows as submitted, in order; rows without a type are dropped."""
    numbers = sorted(
        {int(k[1:].split("_", 1)[0]) for k in request.form if re.match(r"^a\d+_type$", k)}
    )
    rows = []
    for n in numbers:
        row: dict[str, Any] = {k: form_text(f"a{n}_{k}") for k in ROW_INPUTS}
        row["values"] = (request.form.get(f"a{n}_values") or "").strip()
        for name in ("users", "roles", "fields"):
            row[name] = request.form.getlist(f"a{n}_{name}")
        row["owner"] = form_bool(f"a{n}_owner")
        if row["type"]:
            rows.append(row)
    return rows


def _spec_of(row: dict[str, Any], position: int, errors: dict[str, list[str]]) -> dict[str, Any]:
    """The action a form row describes; unreadable ``values`` lines go to ``errors``."""
    kind = row["type"]
    spec: dict[str, Any] = {"type": kind}
    if kind == "set_fields":
        values: dict[str, Any] = {}
        for line in (row.get("values") or "").splitlines():
            if not line.strip():
                continue
            found = LINE.match(line)
            if found is None or not found.group(2):
                errors.setdefault(f"actions.{position}.values", []).append(
                    f"Write one 'field = value' per line, not {line.strip()!r}."
                )
            else:
                values[found.group(1)] = {"expr": found.group(2)}
        spec["values"] = values
    elif kind == "move_stage":
        spec["stage"] = row.get("stage") or ""
    elif kind == "convert":
        spec["map"] = row.get("map") or ""
        targets = [t.strip() for t in (row.get("targets") or "").split(",") if t.strip()]
        if targets:
            spec["targets"] = targets
    elif kind == "notify":
        spec["message"] = row.get("message") or ""
        for name in ("users", "roles", "fields"):
            if row.get(name):
                spec[name] = list(row[name])
        if row.get("owner"):
            spec["owner"] = True
    elif kind == "webhook":
        spec["webhook"] = row.get("webhook") or ""
    return spec


def _form_data() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, list[str]]]:
    """The automation as the form describes it, its action rows, and problems of the rows."""
    trigger: dict[str, Any] = {"on": form_text("on")}
    if trigger["on"] == "stage":
        trigger["stage"] = form_text("stage")
    if trigger["on"] == "field":
        trigger["field"] = form_text("field")
    if form_text("when"):
        trigger["when"] = form_text("when")
    errors: dict[str, list[str]] = {}
    rows = _rows_from_form()
    data = {
        "label": form_text("label"),
        "entity": form_text("entity"),
        "trigger": trigger,
        "actions": [_spec_of(row, n, errors) for n, row in enumerate(rows)],
        "active": form_bool("active"),
    }
    return data, rows, errors


class AutomationsView(AdminView):
    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        errors: dict[str, Any] = {}
        values: dict[str, Any] = {"active": True}
        rows: list[dict[str, Any]] = []
        if request.method == "POST":
            values = dict(request.form)
            values["active"] = form_bool("active")
            data, rows, unreadable = _form_data()
            errors = self._save(form_text("key"), data, unreadable, create=True)
            if not errors:
                return redirect(url_for(".index"))
        return self._page("admin/trellis/automations.html", values, rows, errors)

    @expose("/<key>", methods=["GET", "POST"])
    def edit(self, key: str) -> Any:
        errors: dict[str, Any] = {}
        values: dict[str, Any] | None = None
        rows: list[dict[str, Any]] = []
        if request.method == "POST":
            if request.form.get("action") == "delete":
                _, errors = self.change(lambda s: delete_automation(s, key), "Automation deleted.")
                if not errors:
                    return redirect(url_for(".index"))
            else:
                values = dict(request.form)
                values["active"] = form_bool("active")
                data, rows, unreadable = _form_data()
                errors = self._save(key, data, unreadable, create=False)
                if not errors:
                    return redirect(url_for(".edit", key=key))
        if values is None:
            with self.reading() as session:
                row = session.scalar(select(Automation).where(Automation.key == key))
                if row is None:
                    return self.render(
                        "admin/trellis/missing.html", what="automation", key=key
                    ), 404
                values = _values_of(row)
                rows = [_row_of(a) for a in row.actions or []]
        return self._page("admin/trellis/automation.html", values, rows, errors, key=key)

    def _save(
        self, key: str, data: dict[str, Any], unreadable: dict[str, list[str]], *, create: bool
    ) -> dict[str, Any]:
        """Save, or with lines the form could not read, name those and everything else the
        check finds (nothing is saved)."""
        if not unreadable:
            _, errors = self.change(
                lambda s: save_automation(s, self.runtime.model(s), key, data, create=create),
                "Automation created." if create else "Automation saved.",
            )
            return errors
        with self.reading() as session:
            errors = check_automation(session, self.runtime.model(session), data)
        return {**errors, **unreadable}

    def _page(
        self,
        template: str,
        values: dict[str, Any],
        rows: list[dict[str, Any]],
        errors: dict[str, Any],
        **extra: Any,
    ) -> Any:
        with self.reading() as session:
            model = self.runtime.model(session)
            automations = session.scalars(
                select(Automation).order_by(Automation.entity, Automation.key)
            ).all()
            entities = list(model.entities.values())
            stages = [
                (s.key, f"{e.label_plural} / {p.label} / {s.label}")
                for e in entities
                for p in e.pipelines.values()
                for s in p.stages.values()
            ]
            fields = [
                (f.key, f"{e.label_plural} / {f.label}")
                for e in entities
                for f in e.fields.values()
            ]
            labels = {e.key: e.label_plural for e in entities}
            maps = [
                (
                    m.key,
                    f"{m.label or m.key}: {labels.get(m.source, m.source)} to "
                    + ", ".join(labels.get(t, t) for t in m.targets or {}),
                )
                for m in session.scalars(select(ConversionMap).order_by(ConversionMap.key))
            ]
            users = [
                (u.username, u.display_name or u.username)
                for u in session.scalars(
                    select(User).where(User.is_active.is_(True)).order_by(User.username)
                )
            ]
            roles = [(r.key, r.label) for r in session.scalars(select(Role).order_by(Role.key))]
            user_fields = list(
                dict.fromkeys(
                    (f.key, f"{e.label_plural} / {f.label}")
                    for e in entities
                    for f in e.fields.values()
                    if f.type.name == "user"
                )
            )
            hooks = [
                (h.key, f"{h.label or h.key} ({h.url})")
                for h in session.scalars(select(Webhook).order_by(Webhook.key))
            ]
            by_row = _row_errors(errors)
            return self.render(
                template,
                rows=automations,
                action_rows=[*rows, {"type": ""}],
                row_errors=by_row,
                entity_choices=[(e.key, e.label_plural) for e in entities],
                entity_labels=labels,
                stage_choices=list(dict.fromkeys(stages)),
                field_choices=fields,
                trigger_choices=[(k, f"When a record {v}") for k, v in TRIGGERS.items()],
                action_choices=[(k, a.label) for k, a in ACTIONS.items()],
                map_choices=maps,
                user_choices=users,
                role_choices=roles,
                user_field_choices=user_fields,
                webhook_choices=hooks,
                values=values,
                errors={
                    k: v for k, v in _form_errors(errors).items() if not k.startswith("actions.")
                },
                **extra,
            ), (422 if errors else 200)


def _values_of(row: Automation) -> dict[str, Any]:
    return {
        "key": row.key,
        "label": row.label,
        "entity": row.entity,
        "on": row.trigger,
        "stage": row.stage or "",
        "field": row.field or "",
        "when": row.condition or "",
        "active": row.active,
    }


#: the service's names of trigger problems -> the form's input names
_INPUTS = {
    "trigger.on": "on",
    "trigger.stage": "stage",
    "trigger.field": "field",
    "trigger.when": "when",
}


def _form_errors(errors: dict[str, Any]) -> dict[str, Any]:
    return {_INPUTS.get(k, k): v for k, v in errors.items()}


def _row_errors(errors: dict[str, Any]) -> dict[int, dict[str, list[str]]]:
    """Problems of single actions by row and input: ``values.amount`` shows under the row's
    values as "amount: ..."; a setting without an input of its own under the type."""
    found: dict[int, dict[str, list[str]]] = {}
    for key, messages in errors.items():
        if not key.startswith("actions."):
            continue
        _, position, *setting = key.split(".")
        name = setting[0] if setting else "type"
        if name not in ROW_INPUTS:
            name = "type"
        detail = ".".join(setting[1:])
        row = found.setdefault(int(position), {})
        row.setdefault(name, []).extend(f"{detail}: {m}" if detail else m for m in messages)
    return found


def action_inputs(row_errors: dict[str, list[str]], prefix: str) -> dict[str, list[str]]:
    """A row's problems by the names of its inputs (``a2_stage``), for the form macros."""
    return {prefix + name: messages for name, messages in row_errors.items()}


class WebhooksView(AdminView):
    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        errors: dict[str, Any] = {}
        values: dict[str, Any] = {}
        secret_key = self.runtime.settings["SECRET_KEY"]
        if request.method == "POST":
            action = request.form.get("action")
            values = dict(request.form)
            key = form_text("key")
            if action == "create":
                result, errors = self.change(
                    lambda s: save_webhook(
                        s,
                        secret_key,
                        key,
                        form_text("url"),
                        label=form_text("label"),
                        secret=form_text("secret") or None,
                        create=True,
                    ),
                    "Webhook created.",
                )
            else:  # save one row, or give it a new secret
                with self.reading() as session:
                    hook = session.scalar(select(Webhook).where(Webhook.key == key))
                    url, label, active = (
                        (hook.url, hook.label, hook.active) if hook else ("", "", True)
                    )
                if action == "secret":
                    secret = new_secret()
                elif action == "toggle":
                    secret, active = None, not active
                else:
                    secret, url, label = None, form_text("url"), form_text("label")
                result, errors = self.change(
                    lambda s: save_webhook(
                        s, secret_key, key, url, label=label, secret=secret, active=active
                    ),
                    "Webhook saved.",
                )
            if not errors:
                shown = result[1] if result else None
                if shown:
                    flash(
                        f"The secret of {key!r}, shown only now: {shown} - give it to the "
                        "receiver; it signs every call (X-Trellis-Signature).",
                        "warning",
                    )
                return redirect(url_for(".index"))
        with self.reading() as session:
            hooks = session.scalars(select(Webhook).order_by(Webhook.key)).all()
            return self.render(
                "admin/trellis/webhooks.html", hooks=hooks, values=values, errors=errors
            ), (422 if errors else 200)


class OutboxView(AdminView):
    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        errors: dict[str, Any] = {}
        status = request.args.get("status") or ""
        if request.method == "POST":
            entry_id = int(form_text("entry_id") or 0)
            _, errors = self.change(
                lambda s: outbox.retry(s, entry_id), f"Entry {entry_id} will be sent again now."
            )
            if not errors:
                return redirect(url_for(".index", status=status or None))
        with self.reading() as session:
            query = select(OutboxEntry).order_by(OutboxEntry.id.desc()).limit(200)
            if status in outbox.STATUSES:
                query = query.where(OutboxEntry.status == status)
            entries = session.scalars(query).all()
            total = session.scalar(select(func.count()).select_from(OutboxEntry))
            return self.render(
                "admin/trellis/outbox.html",
                entries=entries,
                counts=outbox.counts(session),
                total=total,
                status=status,
                errors=errors,
            ), (422 if errors else 200)
