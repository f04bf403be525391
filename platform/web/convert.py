"""The conversion wizard on a record card (a lead): choose the targets and the deal's
pipeline, see duplicate candidates to link instead, fill exactly the missing required
fields, then convert in one go and land on the new deal's card."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required

from trellis.conversion.convert import conversion_map, convert
from trellis.errors import BadRequest, Conflict
from trellis.runtime import get_runtime
from trellis.web import field_inputs
from trellis.web.records import service_for
from trellis.web.views import web

#: the target a user lands on after converting, when it was created
LANDING_ORDER = ("deal", "contact", "company")
#: name prefix of the inputs for the source's own missing fields (``s__source``)
SOURCE_PREFIX = "s__"


@web.route("/records/<entity>/<int:record_id>/convert", methods=["GET", "POST"])
@login_required
def convert_start(entity: str, record_id: int) -> Any:
    runtime = get_runtime()
    chosen = request.form.getlist("target")
    action = request.form.get("action", "")
    with runtime.transaction() as session:
        service = service_for(session)
        source = service.get(entity, record_id)
        row = conversion_map(service, entity)
        model = service.model
        targets = [model.entities[t] for t in row.targets if t in model.entities]
        if request.method == "GET" or not chosen:
            if request.method == "POST":
                flash("Choose at least one element to create.", "warning")
            return render_template(
                "web/convert.html",
                phase="choose",
                entity=model.entity(entity),
                source=source,
                targets=targets,
                row=row,
                chosen=chosen or list(row.targets),
                form=request.form,
            )
    options = _options_from_form(chosen)
    source_values = _source_values_from_form(entity)
    dry_run = action != "convert"
    try:
        with runtime.transaction() as session:
            service = service_for(session)
            unresolved = _resolve_references(service, entity, options, source_values)
            result = convert(
                service,
                entity,
                record_id,
                options,
                dry_run=dry_run or bool(unresolved),  # nothing is written while one stands
                source_values=source_values,
            )
            for key, errors in unresolved.items():
                result.errors.setdefault(key, {}).update(errors)
            if not dry_run and result.ok:
                landing = next(
                    (t for t in LANDING_ORDER if t in result.records), next(iter(result.records))
                )
                flash(f"{source.title} converted.", "success")
                return redirect(
                    url_for("web.card", entity=landing, record_id=result.records[landing].id)
                )
            page = _review(service, entity, source, row, chosen, options, source_values, result)
            return page, (200 if dry_run else 422)
    except (BadRequest, Conflict) as exc:
        flash(exc.detail, "danger")
        return redirect(url_for("web.card", entity=entity, record_id=record_id))


def _options_from_form(chosen: list[str]) -> dict[str, dict[str, Any]]:
    """Per target: the pipeline, a record to link instead, and the fields the user filled."""
    runtime = get_runtime()
    options: dict[str, dict[str, Any]] = {}
    with runtime.transaction() as session:
        model = runtime.model(session)
        for target in chosen:
            if target not in model.entities:
                options[target] = {}
                continue
            entity = model.entities[target]
            opts: dict[str, Any] = {}
            if request.form.get(f"pipeline__{target}"):
                opts["pipeline"] = request.form[f"pipeline__{target}"]
            existing = request.form.get(f"use__{target}", "new")
            if existing.isdigit():
                opts["use_existing"] = int(existing)
            asked = [k for k in request.form.getlist(f"asked__{target}") if k in entity.fields]
            typed = field_inputs.parse_form(
                entity, _Prefixed(request.form, f"t__{target}__"), asked
            )
            opts.update({k: v for k, v in typed.items() if v not in (None, [], "")})
            options[target] = opts
    return options


def _resolve_references(
    service: Any, entity: str, options: dict[str, dict[str, Any]], source_values: dict[str, Any]
) -> dict[str, dict[str, list[str]]]:
    """Names typed into the wizard's reference inputs without picking a suggestion, turned
    into record ids (in ``options`` / ``source_values``) or errors by entity type and field."""
    model = service.model
    asked = [(t, f"t__{t}__", opts) for t, opts in options.items() if t in model.entities]
    asked.append((entity, SOURCE_PREFIX, source_values))
    unresolved: dict[str, dict[str, list[str]]] = {}
    for key, prefix, values in asked:
        ent = model.entities[key]
        names = "asked__source" if prefix == SOURCE_PREFIX else f"asked__{key}"
        keys = [k for k in request.form.getlist(names) if k in ent.fields]
        form = _Prefixed(request.form, prefix)
        errors = field_inputs.resolve_references(service, ent, form, values, keys)
        if errors:
            unresolved[key] = errors
    return unresolved


def _source_values_from_form(entity: str) -> dict[str, Any]:
    """The fields of the source itself the wizard asked for (``s__source``), filled ones only."""
    runtime = get_runtime()
    with runtime.transaction() as session:
        ent = runtime.model(session).entity(entity)
        asked = [k for k in request.form.getlist("asked__source") if k in ent.fields]
        typed = field_inputs.parse_form(ent, _Prefixed(request.form, SOURCE_PREFIX), asked)
    return {k: v for k, v in typed.items() if v not in (None, [], "")}


class _Prefixed:
    """A form seen through a name prefix (``t__company__tin`` read as ``tin``)."""

    def __init__(self, form: Any, prefix: str) -> None:
        self.form, self.prefix = form, prefix

    def get(self, key: str, default: Any = None) -> Any:
        return self.form.get(self.prefix + key, default)

    def getlist(self, key: str) -> list[Any]:
        return self.form.getlist(self.prefix + key)


def _review(service, entity, source, row, chosen, options, source_values, result):  # type: ignore[no-untyped-def]
    model = service.model
    steps = []
    for target in chosen:
        ent = model.entities[target]
        errors = result.errors.get(target, {})
        asked = set(request.form.getlist(f"asked__{target}")) | {
            k for k in errors if k in ent.fields
        }
        writable = set(service.writable_keys(ent.key))
        fields = [ent.fields[k] for k in ent.fields if k in asked and k in writable]
        values = {
            f.key: options.get(target, {}).get(f.key, field_inputs.form_value(f, None))
            for f in fields
        }
        for f in fields:
            if f.type.name == "money" and not isinstance(values[f.key], dict):
                values[f.key] = ""
        steps.append(
            {
                "entity": ent,
                "fields": fields,
                "shown": values,
                "errors": errors,
                "other": {k: v for k, v in errors.items() if k not in ent.fields},
                "texts": field_inputs.typed_reference_texts(
                    ent, _Prefixed(request.form, f"t__{target}__"), [f.key for f in fields]
                ),
                "duplicates": result.duplicates.get(target, []),
                "use": options.get(target, {}).get("use_existing"),
                "pipeline": options.get(target, {}).get("pipeline"),
                "writable": writable,
                # mapped from source fields hidden from the user: not carried
                "not_carried": [ent.fields[k].label for k in result.not_carried.get(target, [])],
            }
        )
    return render_template(
        "web/convert.html",
        phase="review",
        source_step=_source_step(service, model.entity(entity), source, source_values, result),
        entity=model.entity(entity),
        source=source,
        row=row,
        chosen=chosen,
        steps=steps,
        model=model,
        ready=result.ok,
        **field_inputs.TEMPLATE_HELPERS,
    )


def _source_step(service, ent, source, source_values, result) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What the source itself lacks for its success stage: inputs for the fields the user may
    fill (kept as typed across checks and refusals), messages for the rest."""
    errors = result.errors.get(ent.key, {})
    writable = set(service.writable_keys(ent.key, source))
    asked = set(request.form.getlist("asked__source")) | set(errors)
    fields = [ent.fields[k] for k in ent.fields if k in asked and k in writable]
    values = {
        f.key: source_values[f.key]
        if f.key in source_values
        else field_inputs.form_value(f, source.values.get(f.key))
        for f in fields
    }
    pipeline = ent.pipelines.get(source.pipeline)
    success = pipeline.success_stage() if pipeline is not None else None
    return {
        "fields": fields,
        "shown": values,
        "errors": errors,
        "other": {k: v for k, v in errors.items() if k not in {f.key for f in fields}},
        # a field hidden from the user is not named, even when the stage needs it
        "labels": {
            k: f.label
            for k, f in ent.fields.items()
            if k not in service.access.hidden_fields(ent.key)
        },
        "writable": writable,
        "texts": field_inputs.typed_reference_texts(
            ent, _Prefixed(request.form, SOURCE_PREFIX), [f.key for f in fields]
        ),
        "stage": success.label if success is not None else "",
    }
