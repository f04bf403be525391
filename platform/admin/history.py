"""The history of configuration changes as people read it: who changed what, when, in a
sentence with labels and names (never user ids, keys or raw JSON). Read-only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import request
from flask_admin import expose
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trellis.accounts import Role, user_names
from trellis.admin.base import AdminView
from trellis.clock import as_utc
from trellis.conversion.models import ConversionMap
from trellis.metamodel.compiled import CompiledModel
from trellis.metamodel.fieldtypes import registry
from trellis.metamodel.models import ConfigChange

PER_PAGE = 50

#: the parts of an entity type or field a change names, in words
PART_WORDS = {
    "label": "label",
    "label_plural": "plural label",
    "description": "description",
    "title_template": "title",
    "help_text": "help text",
    "required": "required",
    "unique": "unique",
    "indexed": "indexed",
    "default": "default value",
    "settings": "settings",
    "type": "type",
    "position": "order",
}
SCOPE_WORDS = {"none": "none", "own": "their own", "all": "all"}


class Names:
    """Labels for the keys a change names, from the compiled model and a few small tables;
    a key that no longer exists (a purged entity type) shows as the key itself."""

    def __init__(self, session: Session, model: CompiledModel, changes: Iterable[Any]) -> None:
        self.model = model
        self.users = user_names(session, [c.by for c in changes])
        self.roles = {key: label for key, label in session.execute(select(Role.key, Role.label))}
        self.conversions = {
            key: label or key
            for key, label in session.execute(select(ConversionMap.key, ConversionMap.label))
        }

    def entity(self, key: str, plural: bool = True) -> str:
        found = self.model.entities.get(key) or self.model.archived_entities.get(key)
        if found is None:
            return key
        return found.label_plural if plural else found.label

    def field(self, entity: str, key: str) -> str:
        found = self.model.entities.get(entity) or self.model.archived_entities.get(entity)
        field = found and (found.fields.get(key) or found.archived_fields.get(key))
        return f"“{field.label}”" if field else f"“{key}”"

    def option_list(self, key: str) -> str:
        found = self.model.option_lists.get(key)
        return f"“{found.label}”" if found else f"“{key}”"

    def option(self, list_key: str, key: str) -> str:
        found = self.model.option_lists.get(list_key)
        option = found.options.get(key) if found else None
        return f"“{option.label}”" if option else f"“{key}”"

    def pipeline(self, entity: str, key: str) -> str | None:
        found = self.model.entities.get(entity) or self.model.archived_entities.get(entity)
        pipeline = found.pipelines.get(key) if found else None
        return pipeline.label if pipeline else None

    def stage(self, entity: str, ref: str) -> str:
        """``"<pipeline>.<stage>"`` as the stage's label."""
        pipeline_key, _, stage_key = ref.partition(".")
        found = self.model.entities.get(entity) or self.model.archived_entities.get(entity)
        pipeline = found.pipelines.get(pipeline_key) if found else None
        stage = pipeline.stages.get(stage_key) if pipeline else None
        return stage.label if stage else stage_key

    def who(self, user_id: int | None) -> str:
        return "Trellis" if user_id is None else self.users.get(user_id, "a removed user")


def _parts(changed: Mapping[str, Any] | None) -> str:
    names = [PART_WORDS.get(k, k.replace("_", " ")) for k in (changed or {})]
    return ", ".join(names) if names else "nothing"


def _required_rule(entity: str, detail: Mapping[str, Any], names: Names) -> str:
    """“Days” of Vacation requests required from Submitted on when …"""
    text = f"{names.field(entity, detail.get('field') or '')} of {names.entity(entity)} required"
    if detail.get("from_stage"):
        text += f" from {names.stage(entity, detail['from_stage'])} on"
    if detail.get("when"):
        text += f" when {detail['when']}"
    return text


def describe(change: Any, names: Names) -> str:
    """One configuration change in a sentence."""
    action, target, detail = change.action, change.target or "", change.detail or {}
    group, _, verb = action.partition(".")
    entity, _, rest = target.partition(".")
    if group == "entity":
        label = names.entity(target, plural=False)
        words = {"create": "Created", "archive": "Archived", "restore": "Restored"}
        if verb == "update":
            return f"Changed the {_parts(detail.get('after'))} of the entity type {label}"
        if verb == "purge":
            return f"Deleted the entity type {label} and its records for good"
        return f"{words.get(verb, verb.capitalize())} the entity type {label}"
    if group == "field":
        where = names.entity(entity)
        if verb == "reorder":
            return f"Put the fields of {where} in a new order"
        field = names.field(entity, rest)
        if verb == "add":
            type_name = detail.get("type", "")
            kind = registry.get(type_name).label if type_name in registry else type_name
            return f"Added the {kind.lower()} field {field} to {where}"
        if verb == "update":
            return f"Changed the {_parts(detail.get('after'))} of the field {field} of {where}"
        words = {"archive": "Archived", "restore": "Restored", "purge": "Deleted for good"}
        return f"{words.get(verb, verb.capitalize())} the field {field} of {where}"
    if group == "pipeline":
        words = {"create": "Created", "update": "Changed", "delete": "Deleted"}
        label = detail.get("label") or names.pipeline(entity, rest) or rest
        return (
            f"{words.get(verb, verb.capitalize())} the pipeline “{label}” of {names.entity(entity)}"
        )
    if group == "list":
        if verb == "option":  # list.option.add / list.option.update
            list_key, _, option = target.partition(".")
            sub = action.rsplit(".", 1)[-1]
            if sub == "add":
                label = detail.get("label") or option
                return f"Added the option “{label}” to the list {names.option_list(list_key)}"
            return (
                f"Changed the option {names.option(list_key, option)} of the list "
                f"{names.option_list(list_key)}"
            )
        words = {"create": "Created", "update": "Changed", "delete": "Deleted"}
        return f"{words.get(verb, verb.capitalize())} the option list {names.option_list(target)}"
    if group == "rule":
        entity = target.partition("#")[0]
        where = names.entity(entity)
        if verb == "delete" and not detail:
            return f"Removed a rule of {where}"
        words = {"add": "Added", "update": "Changed", "delete": "Removed"}
        if detail.get("kind") == "required":
            about = _required_rule(entity, detail, names)
            if verb == "add":
                return f"Made {about}"
            return f"{words.get(verb, verb.capitalize())} the rule that makes {about}"
        field = f" about {names.field(entity, detail['field'])}" if detail.get("field") else ""
        if verb == "add":
            return f"Added a validation rule{field} to {where}: “{detail.get('message', '')}”"
        return (
            f"{words.get(verb, verb.capitalize())} the validation rule{field} of {where}: "
            f"“{detail.get('message', '')}”"
        )
    if group == "role":
        role, _, entity = target.partition(".")
        label = f"“{names.roles.get(role, role)}”"
        if verb == "grant":
            may = [
                f"{action_name} {SCOPE_WORDS.get(detail.get(action_name), detail.get(action_name))}"
                for action_name in ("read", "update", "delete")
            ]
            if detail.get("create"):
                may.insert(0, "create")
            return f"Set what {label} may do with {names.entity(entity)}: {', '.join(may)}"
        return f"Created the role {label}"
    if group == "duplicates":
        where = names.entity(target)
        if verb == "add":
            fields = ", ".join(names.field(target, f) for f in detail.get("fields") or [])
            return f"Added a duplicate check to {where} (same {fields})"
        return f"Removed a duplicate check from {where}"
    if group == "conversion":
        label = f"“{names.conversions.get(target, target)}”"
        if verb == "transfer":
            where = names.entity(detail.get("target", ""))
            return f"Added a field to {where} for the conversion {label}"
        words = {"save": "Saved", "delete": "Deleted"}
        return f"{words.get(verb, verb.capitalize())} the conversion {label}"
    return f"{action.replace('.', ' ').capitalize()} {target}"


def readable_changes(
    session: Session, model: CompiledModel, rows: list[Any]
) -> list[dict[str, Any]]:
    """``[{at, by, text}]`` for the given :class:`ConfigChange` rows."""
    names = Names(session, model, rows)
    return [
        {
            "id": row.id,
            "at": as_utc(row.at).strftime("%Y-%m-%d %H:%M"),
            "by": names.who(row.by),
            "text": describe(row, names),
        }
        for row in rows
    ]


class ConfigHistoryView(AdminView):
    """``/admin/history``: the latest changes first, a page at a time."""

    @expose("/")
    def index(self) -> Any:
        try:
            page = max(1, int(request.args.get("page", "1")))
        except ValueError:
            page = 1
        with self.reading() as session:
            total = session.scalar(select(func.count()).select_from(ConfigChange)) or 0
            rows = session.scalars(
                select(ConfigChange)
                .order_by(ConfigChange.id.desc())
                .offset((page - 1) * PER_PAGE)
                .limit(PER_PAGE)
            ).all()
            changes = readable_changes(session, self.runtime.model(session), list(rows))
        return self.render(
            "admin/trellis/history.html",
            changes=changes,
            page=page,
            pages=max(1, -(-total // PER_PAGE)),
            total=total,
        )
