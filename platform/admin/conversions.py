"""Conversion maps (target field <- source field, constants, expressions; the pipeline and
start stage; "transfer to target" for source fields with no counterpart) and duplicate
rules per entity type."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask_admin import expose
from sqlalchemy import select

from trellis.admin.base import AdminView, form_text
from trellis.conversion import duplicates
from trellis.conversion.compatibility import compatibility_error
from trellis.conversion.maps import ConversionMaps
from trellis.conversion.models import ConversionMap


class ConversionsView(AdminView):
    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        errors: dict[str, Any] = {}
        values: dict[str, Any] = {}
        if request.method == "POST":
            action = request.form.get("action")
            values = dict(request.form)
            if action == "create":
                key, source = form_text("key"), form_text("source")
                targets = {t: {"fields": {}} for t in request.form.getlist("targets")}
                _, errors = self.change(
                    lambda s: ConversionMaps(s, self.runtime.cache, self.actor).save(
                        key, source, targets, form_text("label"), create=True
                    ),
                    "Conversion map created: now say how each target is filled.",
                )
                if not errors:
                    return redirect(url_for(".edit", key=key))
            elif action == "add_duplicate_rule":
                fields = [f.strip() for f in form_text("fields").split(",") if f.strip()]
                _, errors = self.change(
                    lambda s: duplicates.add_rule(
                        s, self.actor, self.runtime.model(s), form_text("entity"), fields
                    ),
                    "Duplicate rule added.",
                )
                errors = {f"dup_{k}": v for k, v in errors.items()}
            elif action == "delete_duplicate_rule":
                _, errors = self.change(
                    lambda s: duplicates.delete_rule(
                        s, self.actor, form_text("entity"), int(form_text("rule_id") or 0)
                    ),
                    "Duplicate rule deleted.",
                )
            if not errors:
                return redirect(url_for(".index"))
        with self.reading() as session:
            model = self.runtime.model(session)
            maps = session.scalars(select(ConversionMap).order_by(ConversionMap.key)).all()
            rules = {e: duplicates.rules_of(session, e) for e in model.entities}
            return self.render(
                "admin/trellis/conversions.html",
                maps=maps,
                entities=list(model.entities.values()),
                entity_choices=[(e.key, e.label_plural) for e in model.entities.values()],
                rules=rules,
                values=values,
                errors=errors,
            ), (422 if errors else 200)

    @expose("/<key>", methods=["GET", "POST"])
    def edit(self, key: str) -> Any:
        errors: dict[str, Any] = {}
        submitted: dict[str, Any] | None = None
        if request.method == "POST":
            action = request.form.get("action", "save")
            if action == "transfer":
                _, errors = self.change(
                    lambda s: ConversionMaps(s, self.runtime.cache, self.actor).transfer(
                        key, form_text("field"), form_text("target")
                    ),
                    f"Field {form_text('field')!r} created on {form_text('target')} and mapped.",
                )
            elif action == "delete":
                _, errors = self.change(
                    lambda s: ConversionMaps(s, self.runtime.cache, self.actor).delete(key),
                    "Map deleted.",
                )
                if not errors:
                    return redirect(url_for(".index"))
            else:
                _, errors = self.change(lambda s: self._save(s, key), "Conversion map saved.")
                if errors:
                    # show what was chosen (and its value tables), not what is stored
                    with self.reading() as session:
                        row = ConversionMaps(session, self.runtime.cache, self.actor).get(key)
                        submitted = self._targets_from_form(self.runtime.model(session), row)
            if not errors:
                return redirect(url_for(".edit", key=key))
        with self.reading() as session:
            row = ConversionMaps(session, self.runtime.cache, self.actor).get(key)
            model = self.runtime.model(session)
            source = model.entities.get(row.source)
            targets = []
            for target_key, spec in (submitted or row.targets or {}).items():
                target = model.entities.get(target_key)
                if target is None or source is None:
                    continue
                targets.append(self._target_view(model, source, target, spec))
            return self.render(
                "admin/trellis/conversion.html",
                row=row,
                source=source,
                targets=targets,
                errors=errors,
            ), (422 if errors else 200)

    def _target_view(
        self, model: Any, source: Any, target: Any, spec: dict[str, Any]
    ) -> dict[str, Any]:
        fields = spec.get("fields") or {}
        tables = spec.get("values") or {}
        rows = []
        for f in target.fields.values():
            # a list from another list is offered too: it needs a value table
            compatible = [
                s
                for s in source.fields.values()
                if compatibility_error(s, f, {"table": "given"}) is None
            ]
            origin = fields.get(f.key)
            table = None
            if (
                isinstance(origin, str)
                and origin in source.fields
                and f.type.name in ("list", "multi_list")
            ):
                source_list = source.fields[origin].settings.get("list")
                if source_list and source_list != f.settings.get("list"):
                    table = {
                        "source": sorted(
                            model.option_lists[source_list].options.values(),
                            key=lambda o: o.position,
                        ),
                        "target": sorted(
                            model.option_lists[f.settings["list"]].options.values(),
                            key=lambda o: o.position,
                        ),
                        "current": tables.get(f.key) or {},
                    }
            rows.append({"field": f, "compatible": compatible, "origin": origin, "table": table})
        mapped_sources = {o for o in fields.values() if isinstance(o, str)}
        transferable = [
            s
            for s in source.fields.values()
            if s.key not in mapped_sources
            and s.key not in target.fields
            and s.key not in target.archived_fields
        ]
        return {"entity": target, "rows": rows, "spec": spec, "transferable": transferable}

    def _targets_from_form(self, model: Any, row: ConversionMap) -> dict[str, Any]:
        """The map as the submitted form describes it, value tables included."""
        targets: dict[str, Any] = {}
        for target_key in row.targets or {}:
            target = model.entities.get(target_key)
            if target is None:
                continue
            fields: dict[str, Any] = {}
            tables: dict[str, Any] = {}
            for f in target.fields.values():
                choice = request.form.get(f"src_{target_key}__{f.key}", "")
                text = request.form.get(f"txt_{target_key}__{f.key}", "")
                if choice.startswith("f:"):
                    fields[f.key] = choice[2:]
                    prefix = f"vt_{target_key}__{f.key}__"
                    table = {
                        name.removeprefix(prefix): value
                        for name, value in request.form.items()
                        if name.startswith(prefix) and value
                    }
                    if table:
                        tables[f.key] = table
                elif choice == "value":
                    fields[f.key] = {"value": text}
                elif choice == "expr":
                    fields[f.key] = {"expr": text}
            spec: dict[str, Any] = {"fields": fields}
            if tables:
                spec["values"] = tables
            pipeline = request.form.get(f"pipeline_{target_key}") or None
            stage = request.form.get(f"stage_{target_key}") or None
            if pipeline:
                spec["pipeline"] = pipeline
            if stage:
                spec["stage"] = stage
            targets[target_key] = spec
        return targets

    def _save(self, session: Any, key: str) -> Any:
        maps = ConversionMaps(session, self.runtime.cache, self.actor)
        row = maps.get(key)
        targets = self._targets_from_form(self.runtime.model(session), row)
        return maps.save(key, row.source, targets, form_text("label") or row.label, create=False)
