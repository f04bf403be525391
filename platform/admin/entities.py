"""Entity types with their fields, pipelines and rules, on one page per entity type."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask_admin import expose
from sqlalchemy import func, inspect, select

from trellis.access.exposure import rule_warnings
from trellis.accounts import Role
from trellis.admin.base import AdminView, form_text
from trellis.admin.entity_forms import (
    create_list_for,
    field_from_form,
    rule_from_form,
    stage_moves,
    stages_from_form,
)
from trellis.admin.field_settings import (
    FIXED,
    ON_DELETE,
    ON_DELETE_LABELS,
    inputs_for,
    setting_errors,
    setting_value,
)
from trellis.expressions import FUNCTION_DOCS
from trellis.metamodel.fields import TYPE_CHANGES
from trellis.metamodel.fieldtypes import registry
from trellis.metamodel.models import STAGE_KINDS, EntityType, OptionList
from trellis.metamodel.physical import LIST_INDEX_PREFIX, physical_name, record_table_name

#: the option list choice that creates a new list from the field form
NEW_LIST = "__new__"

#: inputs of the entity page that show their own errors
ENTITY_INPUTS = (
    "title_template",
    "label",
    "label_plural",
    "description",
    "card_fields",
    "list_indexes",
)
#: the system columns a list index may name, as the list form offers them
SYSTEM_LIST_KEYS = (
    ("owner", "Owner"),
    ("pipeline", "Pipeline"),
    ("stage", "Stage"),
    ("created_by", "Created by"),
    ("created_at", "Created"),
    ("updated_at", "Last changed"),
)


def list_index_state(session: Any, entity: EntityType) -> dict[str, bool]:
    """Per declared list index, whether the database has it now (one whose field is archived
    waits for it)."""
    table = record_table_name(entity.key)
    names = {physical_name(LIST_INDEX_PREFIX, table, i["key"]) for i in entity.list_indexes or []}
    if not names:
        return {}
    present = {ix["name"] for ix in inspect(session.connection()).get_indexes(table)}
    return {
        i["key"]: physical_name(LIST_INDEX_PREFIX, table, i["key"]) in present
        for i in entity.list_indexes or []
    }


class EntitiesView(AdminView):
    """``/admin/entities``: the list, and per entity type its fields, pipelines and rules."""

    # -- entity types ----------------------------------------------------------------------

    @expose("/")
    def index(self) -> Any:
        return self._index({}, {})

    def _index(self, values: dict[str, str], errors: dict[str, Any]) -> Any:
        with self.reading() as session:
            rows = session.scalars(
                select(EntityType).order_by(EntityType.archived, EntityType.label)
            ).all()
            entities = [
                {
                    "row": e,
                    "fields": sum(not f.archived for f in e.fields),
                    "pipelines": len(e.pipelines),
                    "rules": len(e.rules),
                }
                for e in rows
            ]
            return self.render(
                "admin/trellis/entities.html", entities=entities, values=values, errors=errors
            )

    @expose("/create", methods=["POST"])
    def create(self) -> Any:
        values = {k: form_text(k) for k in ("key", "label", "label_plural", "description")}
        _, errors = self.change(
            lambda s: self.runtime.metamodel(s, self.actor).create_entity(
                values["key"],
                values["label"],
                values["label_plural"] or None,
                values["description"],
            ),
            f"Entity type “{values['label']}” created. Add its fields next.",
        )
        if errors:
            return self._index(values, errors), 422
        return redirect(url_for(".detail", key=values["key"]))

    @expose("/<key>")
    def detail(self, key: str) -> Any:
        return self._detail(key, {}, {})

    def _detail(
        self, key: str, values: dict[str, Any], errors: dict[str, Any], tab: str = ""
    ) -> Any:
        with self.reading() as session:
            entity = session.scalar(select(EntityType).where(EntityType.key == key))
            if entity is None:
                return self.render("admin/trellis/missing.html", what=f"entity type {key!r}"), 404
            model = self.runtime.model(session)
            compiled = model.entities.get(key) or model.archived_entities.get(key)
            records = session.scalar(select(func.count()).select_from(compiled.table))
            return self.render(
                "admin/trellis/entity.html",
                entity=entity,
                fields=sorted(entity.fields, key=lambda f: (f.position, f.id)),
                records=records,
                values=values,
                errors=errors,
                tab=tab or request.args.get("tab", "fields"),
                shown_elsewhere=[
                    k
                    for k in errors
                    if k.startswith(("pipeline_", "stages"))
                    or k in ENTITY_INPUTS
                    or k in (values.get("rule") or {})
                ],
                types=registry.names(),
                type_labels={n: registry.get(n).label for n in registry.names()},
                list_labels={k: found.label for k, found in model.option_lists.items()},
                entity_labels={k: found.label for k, found in model.entities.items()},
                stage_kinds=STAGE_KINDS,
                functions=FUNCTION_DOCS,
                rule_warnings=rule_warnings(session, compiled),
                list_index_state=list_index_state(session, entity),
                system_list_keys=SYSTEM_LIST_KEYS,
            )

    @expose("/<key>/update", methods=["POST"])
    def update(self, key: str) -> Any:
        values: dict[str, Any] = {
            k: form_text(k) for k in ("label", "label_plural", "description", "title_template")
        }
        values["card_fields"] = request.form.getlist("card_fields")
        _, errors = self.change(
            lambda s: self.runtime.metamodel(s, self.actor).update_entity(key, **values), "Saved."
        )
        if errors:
            return self._detail(key, values, errors, "settings"), 422
        return redirect(url_for(".detail", key=key, tab="settings"))

    @expose("/<key>/list-indexes/add", methods=["POST"])
    def add_list_index(self, key: str) -> Any:
        """Declare one more list index (the planner creates it on save)."""
        new = {
            "key": form_text("index_key"),
            "filters": request.form.getlist("index_filters"),
            "sort": form_text("index_sort") or None,
            "include": request.form.getlist("index_include"),
        }

        def add(session: Any) -> Any:
            meta = self.runtime.metamodel(session, self.actor)
            declared = list(meta.entity_row(key).list_indexes or [])
            return meta.update_entity(key, list_indexes=[*declared, new])

        _, errors = self.change(add, f"List index “{new['key']}” created.")
        if errors:
            values = {"list_index": new}
            return self._detail(key, values, errors, "lists"), 422
        return redirect(url_for(".detail", key=key, tab="lists"))

    @expose("/<key>/list-indexes/<index>/delete", methods=["POST"])
    def delete_list_index(self, key: str, index: str) -> Any:
        """Drop a declared list index (the planner drops it on save)."""

        def drop(session: Any) -> Any:
            meta = self.runtime.metamodel(session, self.actor)
            declared = meta.entity_row(key).list_indexes or []
            kept = [i for i in declared if i.get("key") != index]
            return meta.update_entity(key, list_indexes=kept)

        _, errors = self.change(drop, f"List index “{index}” removed.")
        if errors:
            return self._detail(key, {}, errors, "lists"), 422
        return redirect(url_for(".detail", key=key, tab="lists"))

    @expose("/<key>/<action>", methods=["POST"])
    def entity_action(self, key: str, action: str) -> Any:
        operations = {
            "archive": "archive_entity",
            "restore": "restore_entity",
            "purge": "purge_entity",
        }
        if action not in operations:
            return self.render("admin/trellis/missing.html", what=action), 404
        messages = {
            "archive": "Archived: hidden everywhere, table and data kept.",
            "restore": "Restored with all its records.",
            "purge": "Purged for good.",
        }
        _, errors = self.change(
            lambda s: getattr(self.runtime.metamodel(s, self.actor), operations[action])(key),
            messages[action],
        )
        if errors:
            return self._detail(key, {}, errors, "settings"), 422
        return redirect(url_for(".index") if action == "purge" else url_for(".detail", key=key))

    # -- fields ------------------------------------------------------------------------------

    @expose("/<key>/fields/new", methods=["GET", "POST"])
    def new_field(self, key: str) -> Any:
        type_name = request.values.get("type", "text")
        if type_name not in registry:
            type_name = "text"
        values: dict[str, Any] = {"type": type_name}
        errors: dict[str, Any] = {}
        if request.method == "POST" and request.form.get("submit") == "save":
            values = field_from_form(type_name)
            field_key = form_text("key")
            values["key"] = field_key
            values["new_list_label"] = form_text("new_list_label")
            values["new_list_options"] = form_text("new_list_options")

            def add(session):  # type: ignore[no-untyped-def]
                if values["settings"].get("list") == NEW_LIST:
                    values["settings"]["list"] = create_list_for(
                        self.runtime.metamodel(session, self.actor), values
                    )
                return self.runtime.metamodel(session, self.actor).add_field(
                    key,
                    field_key,
                    values["label"],
                    type_name,
                    required=values["required"],
                    settings=values["settings"],
                    default=values["default"],
                    unique=values["unique"],
                    indexed=values["indexed"],
                    help_text=values["help_text"],
                )

            chosen_list = values["settings"].get("list")
            _, errors = self.change(add, f"Field “{values['label']}” added.")
            if chosen_list is not None:  # a refused save kept no new list: offer it again
                values["settings"]["list"] = chosen_list
            if not errors:
                return redirect(url_for(".detail", key=key))
        return self._field_form(key, None, values, errors), 422 if errors else 200

    @expose("/<key>/fields/<field>", methods=["GET", "POST"])
    def edit_field(self, key: str, field: str) -> Any:
        if request.method == "GET":
            return self._field_form(key, field, None, {})
        with self.reading() as session:
            current = self.runtime.metamodel(session, self.actor).field_row(
                self.runtime.metamodel(session, self.actor).entity_row(key, archived=None), field
            )
            current_type, old_settings = current.type, dict(current.settings or {})
        wanted = request.form.get("type") or current_type
        type_name = wanted if wanted in TYPE_CHANGES.get(current_type, ()) else current_type
        values = field_from_form(type_name)
        if request.form.get("submit") == "type":  # show the chosen type's settings; save nothing
            values["key"] = field
            return self._field_form(key, field, values, {})
        if type_name != current_type:  # keep only the settings the new type knows
            known = registry.get(type_name).settings_schema.get("properties", {})
            old_settings = {k: v for k, v in old_settings.items() if k in known}
        settings = {k: v for k, v in values["settings"].items() if k not in FIXED}
        dropped = {
            item.key
            for item in inputs_for(type_name)
            if item.key in old_settings
            and item.key not in values["settings"]
            and item.key not in FIXED
        }
        merged = {k: v for k, v in old_settings.items() if k not in dropped} | settings
        changes = {
            "label": values["label"],
            "help_text": values["help_text"],
            "required": values["required"],
            "unique": values["unique"],
            "indexed": values["indexed"],
            "default": values["default"],
        }
        if type_name != current_type:
            changes["type"] = type_name
        if merged != old_settings or type_name != current_type:
            changes["settings"] = merged
        _, errors = self.change(
            lambda s: self.runtime.metamodel(s, self.actor).update_field(key, field, **changes),
            "Field saved.",
        )
        if errors:
            values["key"] = field
            return self._field_form(key, field, values, errors), 422
        return redirect(url_for(".detail", key=key))

    def _field_form(
        self, key: str, field: str | None, values: dict[str, Any] | None, errors: dict[str, Any]
    ) -> Any:
        with self.reading() as session:
            entity = session.scalar(select(EntityType).where(EntityType.key == key))
            if entity is None:
                return self.render("admin/trellis/missing.html", what=f"entity type {key!r}"), 404
            existing = next((f for f in entity.fields if f.key == field), None) if field else None
            if field and existing is None:
                return self.render("admin/trellis/missing.html", what=f"field {field!r}"), 404
            if values is None and existing is not None:
                values = {
                    "key": existing.key,
                    "type": existing.type,
                    "label": existing.label,
                    "help_text": existing.help_text,
                    "required": existing.required,
                    "unique": existing.unique,
                    "indexed": existing.indexed,
                    "default": "" if existing.default is None else existing.default,
                    "settings": dict(existing.settings or {}),
                }
            values = values or {"type": "text"}
            type_name = values["type"]
            lists = [
                (r.key, r.label)
                for r in session.scalars(select(OptionList).order_by(OptionList.label))
            ]
            if existing is None:
                lists.append((NEW_LIST, "New option list…"))
            targets = [
                (e.key, e.label)
                for e in session.scalars(
                    select(EntityType)
                    .where(EntityType.archived.is_(False))
                    .order_by(EntityType.label)
                )
            ]
            return self.render(
                "admin/trellis/field.html",
                entity=entity,
                field=existing,
                values=values,
                errors=setting_errors(errors, type_name),
                types=[(n, registry.get(n).label) for n in registry.names()],
                type_changes=[existing.type, *TYPE_CHANGES.get(existing.type, ())]
                if existing
                else [],
                type_name=type_name,
                type_doc=registry.get(type_name).description,
                inputs=inputs_for(type_name),
                setting_value=setting_value,
                fixed=FIXED,
                lists=lists,
                targets=targets,
                on_delete=[(k, ON_DELETE_LABELS[k]) for k in ON_DELETE],
            )

    @expose("/<key>/fields/<field>/<action>", methods=["POST"])
    def field_action(self, key: str, field: str, action: str) -> Any:
        def run(session):  # type: ignore[no-untyped-def]
            meta = self.runtime.metamodel(session, self.actor)
            if action == "archive":
                meta.archive_field(key, field)
            elif action == "restore":
                meta.restore_field(key, field)
            elif action == "purge":
                meta.purge_field(key, field)
            elif action in ("up", "down"):
                entity = meta.entity_row(key)
                keys = [f.key for f in sorted(entity.fields, key=lambda f: (f.position, f.id))]
                i = keys.index(field)
                j = i - 1 if action == "up" else i + 1
                if 0 <= j < len(keys):
                    keys[i], keys[j] = keys[j], keys[i]
                    meta.reorder_fields(key, keys)

        messages = {
            "archive": "Field archived: hidden everywhere, its data kept.",
            "restore": "Field restored with its data.",
            "purge": "Field purged for good.",
        }
        _, errors = self.change(run, messages.get(action, ""))
        if errors:
            return self._detail(key, {}, errors), 422
        return redirect(url_for(".detail", key=key))

    # -- pipelines ---------------------------------------------------------------------------

    @expose("/<key>/pipelines/new", methods=["POST"])
    def new_pipeline(self, key: str) -> Any:
        values = {
            "pipeline_key": form_text("pipeline_key"),
            "pipeline_label": form_text("pipeline_label"),
        }
        stages = stages_from_form()
        _, errors = self.change(
            lambda s: self.runtime.metamodel(s, self.actor).create_pipeline(
                key, values["pipeline_key"], values["pipeline_label"], stages
            ),
            f"Pipeline “{values['pipeline_label']}” created.",
        )
        if errors:
            errors = {
                ("pipeline_" + k if k in ("key", "label") else k): v for k, v in errors.items()
            }
            values["stages"] = stages
            return self._detail(key, values, errors, "pipelines"), 422
        return redirect(url_for(".pipeline", key=key, pipeline=values["pipeline_key"]))

    @expose("/<key>/pipelines/<pipeline>", methods=["GET", "POST"])
    def pipeline(self, key: str, pipeline: str) -> Any:
        values: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        if request.method == "POST":
            stages = stages_from_form()
            moves = {
                name.removeprefix("move_to_"): value
                for name, value in request.form.items()
                if name.startswith("move_to_") and value
            }
            _, errors = self.change(
                lambda s: self.runtime.metamodel(s, self.actor).update_pipeline(
                    key, pipeline, label=form_text("label"), stages=stages, move_to=moves
                ),
                "Pipeline saved.",
            )
            if not errors:
                return redirect(url_for(".pipeline", key=key, pipeline=pipeline))
            values = {"label": form_text("label"), "stages": stages, "moves": moves}
        with self.reading() as session:
            meta = self.runtime.metamodel(session, self.actor)
            entity = meta.entity_row(key, archived=None)
            row = meta.pipeline_row(entity, pipeline)
            counts = {s.key: meta.records_in_stage(key, pipeline, s.key) for s in row.stages}
            saved = {s.key: s for s in row.stages}
            stages = values.get("stages") or [
                {"key": s.key, "label": s.label, "kind": s.kind, "color": s.color}
                for s in sorted(row.stages, key=lambda s: s.position)
            ]
            for stage in stages:
                stage["existing"] = stage["key"] in saved
                if stage["existing"] and "next_stages" not in stage:
                    stage.update(stage_moves(saved[stage["key"]]))
            return self.render(
                "admin/trellis/pipeline.html",
                entity=entity,
                pipeline=row,
                stages=stages,
                counts=counts,
                values=values,
                errors=errors,
                stage_kinds=STAGE_KINDS,
                roles=session.scalars(select(Role).order_by(Role.label)).all(),
                removed=[
                    s
                    for s in sorted(row.stages, key=lambda s: s.position)
                    if s.key not in {x["key"] for x in stages}
                ],
            ), (422 if errors else 200)

    # -- rules -------------------------------------------------------------------------------

    @expose("/<key>/rules/new", methods=["POST"])
    def new_rule(self, key: str) -> Any:
        kind, values, options = rule_from_form()
        _, errors = self.change(
            lambda s: self.runtime.metamodel(s, self.actor).add_rule(key, kind, **options),
            "Rule added.",
        )
        if errors:
            return self._detail(key, {"rule": values}, errors, "rules"), 422
        return redirect(url_for(".detail", key=key, tab="rules"))

    @expose("/<key>/rules/<int32:rule_id>/edit", methods=["POST"])
    def edit_rule(self, key: str, rule_id: int) -> Any:
        kind, values, options = rule_from_form()
        _, errors = self.change(
            lambda s: self.runtime.metamodel(s, self.actor).update_rule(
                key, rule_id, kind=kind, **options
            ),
            "Rule saved.",
        )
        if errors:
            return self._detail(key, {"rule": {**values, "id": rule_id}}, errors, "rules"), 422
        return redirect(url_for(".detail", key=key, tab="rules"))

    @expose("/<key>/rules/<int32:rule_id>/delete", methods=["POST"])
    def delete_rule(self, key: str, rule_id: int) -> Any:
        _, errors = self.change(
            lambda s: self.runtime.metamodel(s, self.actor).delete_rule(key, rule_id),
            "Rule deleted.",
        )
        if errors:
            return self._detail(key, {}, errors, "rules"), 422
        return redirect(url_for(".detail", key=key, tab="rules"))
