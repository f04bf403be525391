"""Automations (trigger, condition, actions), the webhooks they call, and the outbox of
deliveries with their status, errors and a retry. Saves go through the flows services, so a
form shows every problem the service finds, by field."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import func, select

from trellis.admin.base import AdminView, form_bool, form_text
from trellis.flows import outbox
from trellis.flows.actions import ACTIONS
from trellis.flows.automations import TRIGGERS, Automation, delete_automation, save_automation
from trellis.flows.outbox import OutboxEntry
from trellis.flows.webhooks import Webhook, new_secret, save_webhook

ACTION_EXAMPLES = {
    "set_fields": {
        "type": "set_fields",
        "values": {"note": "checked", "amount": {"expr": "amount * 2"}},
    },
    "move_stage": {"type": "move_stage", "stage": "qualified"},
    "convert": {"type": "convert", "map": "lead_to_deal", "targets": ["deal"]},
    "notify": {
        "type": "notify",
        "message": "{title} needs you",
        "users": ["alice"],
        "roles": [],
        "owner": True,
    },
    "webhook": {"type": "webhook", "webhook": "erp"},
}


def _form_data() -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The automation as the form describes it, and problems with the actions' text."""
    trigger: dict[str, Any] = {"on": form_text("on")}
    if trigger["on"] == "stage":
        trigger["stage"] = form_text("stage")
    if trigger["on"] == "field":
        trigger["field"] = form_text("field")
    if form_text("when"):
        trigger["when"] = form_text("when")
    errors: dict[str, list[str]] = {}
    try:
        actions = json.loads(form_text("actions") or "[]")
    except ValueError as exc:
        actions = []
        errors["actions"] = [f"Not valid JSON: {exc}."]
    data = {
        "label": form_text("label"),
        "entity": form_text("entity"),
        "trigger": trigger,
        "actions": actions,
        "active": form_bool("active"),
    }
    return data, errors


class AutomationsView(AdminView):
    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        errors: dict[str, Any] = {}
        values: dict[str, Any] = {"active": True, "actions": "[]"}
        if request.method == "POST":
            values = dict(request.form)
            values["active"] = form_bool("active")
            data, errors = _form_data()
            key = form_text("key")
            if not errors:
                _, errors = self.change(
                    lambda s: save_automation(s, self.runtime.model(s), key, data, create=True),
                    "Automation created.",
                )
            if not errors:
                return redirect(url_for(".index"))
        return self._page("admin/trellis/automations.html", values, errors)

    @expose("/<key>", methods=["GET", "POST"])
    def edit(self, key: str) -> Any:
        errors: dict[str, Any] = {}
        values: dict[str, Any] | None = None
        if request.method == "POST":
            if request.form.get("action") == "delete":
                _, errors = self.change(lambda s: delete_automation(s, key), "Automation deleted.")
                if not errors:
                    return redirect(url_for(".index"))
            else:
                values = dict(request.form)
                values["active"] = form_bool("active")
                data, errors = _form_data()
                if not errors:
                    _, errors = self.change(
                        lambda s: save_automation(
                            s, self.runtime.model(s), key, data, create=False
                        ),
                        "Automation saved.",
                    )
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
        return self._page("admin/trellis/automation.html", values, errors, key=key)

    def _page(
        self, template: str, values: dict[str, Any], errors: dict[str, Any], **extra: Any
    ) -> Any:
        with self.reading() as session:
            model = self.runtime.model(session)
            rows = session.scalars(
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
            return self.render(
                template,
                rows=rows,
                entity_choices=[(e.key, e.label_plural) for e in entities],
                entity_labels={e.key: e.label_plural for e in entities},
                stage_choices=list(dict.fromkeys(stages)),
                field_choices=fields,
                trigger_choices=[(k, f"When a record {v}") for k, v in TRIGGERS.items()],
                actions=ACTIONS,
                examples={k: json.dumps(v) for k, v in ACTION_EXAMPLES.items()},
                values=values,
                errors={
                    k: v for k, v in _form_errors(errors).items() if not k.startswith("actions.")
                },
                action_errors=_action_errors(errors),
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
        "actions": json.dumps(row.actions or [], indent=2),
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


def _action_errors(errors: dict[str, Any]) -> list[str]:
    """Problems of single actions in words: "Action 2, stage: No stage 'x' in Leads."."""
    lines = []
    for key, messages in errors.items():
        if key.startswith("actions."):
            _, position, *setting = key.split(".")
            where = f"Action {int(position) + 1}" + (f", {'.'.join(setting)}" if setting else "")
            lines += [f"{where}: {m}" for m in messages]
    return lines


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
