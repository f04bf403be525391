"""Generated screens for every entity type: list (filters, sort, search, paging, CSV),
create and edit forms, stage moves (stage bar, kanban); the record card is in
:mod:`trellis.web.record_card`.

All reads and writes go through the record service with the signed-in user's rights;
nothing here knows any particular entity type.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import Session

from trellis.accounts import user_names
from trellis.errors import BadRequest, Conflict, NotFound, TrellisError, ValidationFailed
from trellis.metamodel.compiled import CompiledEntity
from trellis.records.import_cells import FORMULA_STARTS
from trellis.records.query import Filter, parse_filters
from trellis.records.service import Record, RecordService
from trellis.records.stage_rules import stage_choices
from trellis.records.titles import title_suggestions
from trellis.records.user_values import USER_TITLES, user_values, users_by_id
from trellis.runtime import get_runtime
from trellis.web import field_inputs
from trellis.web.views import web

#: cards a kanban column shows; the rest are a click away in the filtered list
KANBAN_CARDS = 100
PER_PAGE = 25
#: records read at a time by the CSV export
EXPORT_PAGE = 200
LIST_COLUMNS = 6


def service_for(session: Session) -> RecordService:
    return get_runtime().records(session, current_user.actor)


def reference_titles(
    service: RecordService,
    entity: CompiledEntity,
    records: list[Record],
    changes: Sequence[Mapping[str, Any]] = (),
) -> dict[tuple[str, int], str | None]:
    """Titles of every record the given records (and history ``changes``) refer to, that the
    user may read."""
    wanted: dict[str, set[int]] = {}
    for f in entity.fields.values():
        if f.type.name == "reference":
            values = [r.values.get(f.key) for r in records]
            values += [c[side] for c in changes if c["field"] == f.key for side in ("old", "new")]
            ids = {v for v in values if isinstance(v, int) and not isinstance(v, bool)}
            if ids:
                wanted.setdefault(f.settings["target"], set()).update(ids)
    titles: dict[tuple[str, int], str | None] = {}
    for target, ids in wanted.items():
        found = service.titles(target, ids)
        titles.update({(target, i): found.get(i) for i in ids})
    # user fields show names (a disabled user's too)
    people = user_values(entity, records)
    for f in entity.fields.values():
        if f.type.name == "user":
            people |= {c[s] for c in changes if c["field"] == f.key for s in ("old", "new")}
    for user in users_by_id(service.session, people).values():
        titles[(USER_TITLES, user.id)] = user.name
    return titles


def visible_fields(
    service: RecordService, entity: CompiledEntity, record: Record | None = None
) -> list[Any]:
    """The fields the user sees on ``record`` (without one: on any record they may read;
    a record where such a field is hidden has no value for it)."""
    if record is not None:
        hidden = service.access.hidden_on(entity.key, record.owner_id)
    else:
        hidden = service.access.hidden_everywhere(entity.key)
    return [f for f in entity.fields.values() if f.key not in hidden]


def required_keys(entity: CompiledEntity) -> set[str]:
    keys = {f.key for f in entity.fields.values() if f.required}
    keys |= {
        r.field_key
        for r in entity.rules
        if r.kind == "required" and r.condition is None and r.from_stage is None and r.field_key
    }
    return keys


# -- list ---------------------------------------------------------------------------------


@web.get("/records/<entity>")
@login_required
def record_list(entity: str) -> Any:
    args = request.args
    sort = args.get("sort", "")
    page = args.get("page", "1")
    with get_runtime().transaction() as session:
        service = service_for(session)
        ent = service.model.entity(entity)
        fields = visible_fields(service, ent)
        columns = [f for f in fields if f.type.name not in ("long_text",)][:LIST_COLUMNS]
        filters = _filters(args)
        try:
            result = service.list(
                entity,
                filters=filters,
                sort=[sort] if sort else [],
                page=page,
                per_page=PER_PAGE,
                q=args.get("q") or None,
            )
            problem = None
        except BadRequest as exc:
            result = service.list(entity, per_page=PER_PAGE)
            problem = (
                exc.detail + " " + "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
            )
        titles = reference_titles(service, ent, result.items)
        model = service.model
        pages = max(1, -(-result.total // PER_PAGE))
        if result.next_cursor:  # counted up to a cap: there is at least the next page
            pages = max(pages, result.page + 1)
        filter_titles = _filter_titles(service, fields[:5], args)
        return render_template(
            "web/list.html",
            entity=ent,
            fields=fields,
            columns=columns,
            result=result,
            model=model,
            titles=titles,
            display=field_inputs.display,
            plain=field_inputs.plain,
            args=args,
            sort=sort,
            pages=pages,
            problem=problem,
            filter_titles=filter_titles,
            can_create=service.access.can("create", entity),
            choices=field_inputs.choices,
        ), (400 if problem else 200)


def _filter_titles(service: RecordService, fields: list[Any], args: Any) -> dict[str, str]:
    """The title a reference filter's search box shows for the record it filters by."""
    shown = {}
    for f in fields:
        raw = args.get(f.key, "")
        if f.type.name != "reference" or not raw.isdigit():
            continue
        target = f.settings["target"]
        title = service.titles(target, [int(raw)]).get(int(raw))
        shown[f.key] = title or field_inputs.hidden_reference(service.model, target)
    return shown


def _filters(args: Any) -> list[Any]:
    """Filters from the query string; inputs of the filter form left empty are no filter."""
    return [f for f in parse_filters(args) if f.value not in ("", None)]


@web.get("/records/<entity>/export.csv")
@login_required
def record_export(entity: str) -> Any:
    """The filtered list as CSV, every page, only the fields the user may see."""
    args = request.args
    sort = args.get("sort", "")
    with get_runtime().transaction() as session:
        service = service_for(session)
        ent = service.model.entity(entity)
        fields = visible_fields(service, ent)
        out = io.StringIO()
        # every cell quoted: a spreadsheet never splits one at a ``;`` or a tab
        writer = csv.writer(out, quoting=csv.QUOTE_ALL)
        header = [
            "id",
            "title",
            *[f.label for f in fields],
            *(["stage"] if ent.has_pipelines else []),
        ]
        writer.writerow([_safe_cell(c) for c in header])
        after = None
        while True:  # page after page by keyset: each costs what the first one does
            result = service.list(
                entity,
                filters=_filters(args),
                sort=[sort] if sort else [],
                per_page=EXPORT_PAGE,
                q=args.get("q") or None,
                after=after,
            )
            # user fields by username: the import reads them back
            people = users_by_id(session, user_values(ent, result.items))
            for record in result.items:
                row = [record.id, record.title]
                for f in fields:
                    value = record.values.get(f.key)
                    if f.type.name == "user" and value in people:
                        row.append(people[value].username)
                        continue
                    row.append(
                        "" if f.type.is_empty(value) else f.type.display(f, value, service.model)
                    )
                if ent.has_pipelines:
                    row.append(record.stage)
                writer.writerow([_safe_cell(c) for c in row])
            after = result.next_cursor
            if after is None:
                break
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{entity}.csv"'},
    )


def _form_version(text: str) -> int:
    """The version number an edit form was loaded at (a 400 if the form was tampered with)."""
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise BadRequest("The form's version is not a whole number; reload the page.")
    return int(text)


def _safe_cell(value: Any) -> Any:
    # a cell starting with = + - @ (or a tab or carriage return before one) would be run as a
    # formula by spreadsheet programs
    text = str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else value


@web.get("/records/<entity>/lookup")
@login_required
def record_lookup(entity: str) -> Any:
    """Search-as-you-type for reference inputs: ``[{id, title, label}]`` the user may read;
    ``label`` is what the suggestion shows: the title, with a detail where titles repeat."""
    with get_runtime().transaction() as session:
        service = service_for(session)
        found = title_suggestions(service, entity, request.args.get("q") or "", 20)
        labels = suggestion_labels(service, service.model.entity(entity), found)
        return jsonify([{"id": r.id, "title": r.title, "label": labels[r.id]} for r in found])


def suggestion_labels(
    service: RecordService, entity: CompiledEntity, records: list[Record]
) -> dict[int, str]:
    """Record titles for people: records with the same title get the first field that tells
    them apart (``Ann Tamm · ann@example.com``), then a number, never their ids."""
    same: dict[str, list[Record]] = {}
    for record in records:
        same.setdefault(record.title, []).append(record)
    details = [
        f
        for f in visible_fields(service, entity)
        if f.key not in entity.title_keys and f.type.name not in ("long_text", "reference")
    ]
    labels = {}
    for title, group in same.items():
        if len(group) == 1:
            labels[group[0].id] = title
            continue
        for f in details:
            texts = [
                ""
                if f.type.is_empty(r.values.get(f.key))
                else f.type.display(f, r.values.get(f.key), service.model)
                for r in group
            ]
            if len(set(texts)) > 1:
                break
        else:
            texts = [""] * len(group)
        for record, text in zip(group, texts, strict=True):
            labels[record.id] = f"{title} · {text}" if text else title
        seen: dict[str, int] = {}
        for record in group:
            label = labels[record.id]
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1 or [labels[r.id] for r in group].count(label) > 1:
                labels[record.id] = f"{label} ({seen[label]})"
    return labels


# -- forms --------------------------------------------------------------------------------


@web.route("/records/<entity>/new", methods=["GET", "POST"])
@login_required
def record_new(entity: str) -> Any:
    errors: dict[str, list[str]] = {}
    typed: dict[str, Any] = {}
    with get_runtime().transaction() as session:
        service = service_for(session)
        ent = service.model.entity(entity)
        keys = service.writable_keys(ent.key)
        if request.method == "POST":
            typed = field_inputs.parse_form(ent, request.form, keys)
            unresolved = field_inputs.resolve_references(service, ent, request.form, typed, keys)
            pipeline = request.form.get("pipeline") or None
            try:
                with session.begin_nested():
                    record = service.create(entity, typed, pipeline=pipeline)
                    _refuse_if(unresolved)
            except ValidationFailed as exc:
                errors = {**exc.errors, **unresolved}
            else:
                flash(f"{ent.label} {record.title!r} created.", "success")
                return redirect(url_for("web.card", entity=entity, record_id=record.id))
        return _form(service, ent, None, typed, errors, keys), (422 if errors else 200)


def _refuse_if(unresolved: dict[str, list[str]]) -> None:
    """Undo a write (inside its savepoint) when a typed reference named no single record:
    the service's own problems are reported together with that one."""
    if unresolved:
        raise ValidationFailed(unresolved)


@web.route("/records/<entity>/<int:record_id>/edit", methods=["GET", "POST"])
@login_required
def record_edit(entity: str, record_id: int) -> Any:
    errors: dict[str, list[str]] = {}
    typed: dict[str, Any] | None = None
    conflict: list[dict[str, Any]] | None = None
    with get_runtime().transaction() as session:
        service = service_for(session)
        ent = service.model.entity(entity)
        record = service.get(entity, record_id)
        keys = service.writable_keys(ent.key, record)
        if request.method == "POST":
            typed = field_inputs.parse_form(ent, request.form, keys)
            unresolved = field_inputs.resolve_references(service, ent, request.form, typed, keys)
            version = _form_version(request.form.get("version", ""))
            try:
                with session.begin_nested():
                    saved = service.update(entity, record_id, typed, version=version)
                    _refuse_if(unresolved)
            except ValidationFailed as exc:
                errors = {**exc.errors, **unresolved}
            except Conflict:
                # someone saved first: show what they changed, keep what this user typed
                conflict = service.changes_since(entity, record_id, version)
            else:
                flash("Saved.", "success")
                return redirect(url_for("web.card", entity=entity, record_id=saved.id))
        return _form(service, ent, record, typed, errors, keys, conflict), (
            409 if conflict else 422 if errors else 200
        )


def _form(
    service: RecordService,
    ent: CompiledEntity,
    record: Record | None,
    typed: dict[str, Any] | None,
    errors: dict[str, list[str]],
    keys: list[str],
    conflict: list[dict[str, Any]] | None = None,
) -> str:
    fields = visible_fields(service, ent, record)
    values: dict[str, Any] = {}
    for f in fields:
        if typed is not None and f.key in typed:
            values[f.key] = _typed_value(f, typed[f.key])
        elif record is not None:
            values[f.key] = field_inputs.form_value(f, record.values.get(f.key))
        else:
            values[f.key] = field_inputs.form_value(f, None)
    titles = reference_titles(service, ent, [record] if record else [], conflict or [])
    ref_titles = {
        f.key: titles.get((f.settings["target"], record.values.get(f.key)))
        for f in fields
        if f.type.name == "reference" and record
    }
    if typed is not None:  # a form that comes back shows each search box as it was sent
        texts = field_inputs.typed_reference_texts(ent, request.form, keys)
        ref_titles.update(
            {k: texts.get(k, "") for k in keys if ent.fields[k].type.name == "reference"}
        )
    return render_template(
        "web/form.html",
        entity=ent,
        record=record,
        fields=fields,
        values=values,
        errors=errors,
        writable=set(keys),
        required=required_keys(ent),
        model=service.model,
        conflict=conflict,
        titles=titles,
        display_change=field_inputs.display_change,
        user_names=user_names(service.session, [c["by"] for c in conflict or []]),
        **field_inputs.TEMPLATE_HELPERS,
        ref_titles=ref_titles,
        version=(record.version if record else None),
    )


def _typed_value(field: Any, value: Any) -> Any:
    """What the user typed, shown again as typed."""
    if value is None:
        return ""
    if field.type.name == "money":
        return value
    if field.type.name == "multi_list":
        return tuple(value)
    if field.type.name == "datetime":
        return str(value)[:16]
    return value


# -- stage moves (stage bar, kanban) --------------------------------------------------------


def _wants_json() -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


@web.post("/records/<entity>/<int:record_id>/stage")
@login_required
def record_stage(entity: str, record_id: int) -> Any:
    """Move to a stage. If the stage needs fields the record lacks, ask for exactly those
    (as a dialog for fetch requests, as a page otherwise) and move once they are valid."""
    stage = request.form.get("stage", "")
    pipeline = request.form.get("pipeline") or None
    runtime = get_runtime()
    try:
        with runtime.transaction() as session:
            service = service_for(session)
            ent = service.model.entity(entity)
            asked = [k for k in request.form.getlist("asked") if k in ent.fields]
            values = field_inputs.parse_form(ent, request.form, asked)
            unresolved = field_inputs.resolve_references(service, ent, request.form, values, asked)
            try:
                with session.begin_nested():
                    record = service.move_stage(
                        entity, record_id, stage, pipeline=pipeline, values=values
                    )
                    _refuse_if(unresolved)
            except ValidationFailed as exc:
                raise ValidationFailed({**exc.errors, **unresolved}) from None
    except ValidationFailed as exc:
        with runtime.transaction() as session:
            service = service_for(session)
            ent = service.model.entity(entity)
            record = service.get(entity, record_id)
            writable = set(service.writable_keys(ent.key, record))
            missing = [ent.fields[k] for k in exc.errors if k in ent.fields and k in writable]
            other = {k: v for k, v in exc.errors.items() if k not in {f.key for f in missing}}
            typed = field_inputs.parse_form(ent, request.form, [f.key for f in missing])
            values_shown = {
                f.key: _typed_value(f, typed.get(f.key))
                or field_inputs.form_value(f, record.values.get(f.key))
                for f in missing
            }
            fragment = render_template(
                "web/_stage_fields.html",
                entity=ent,
                fields=missing,
                values=values_shown,
                errors=exc.errors if request.form.getlist("asked") else {},
                other=other,
                model=service.model,
                required={f.key for f in missing},
                **field_inputs.TEMPLATE_HELPERS,
                writable=writable,
                ref_titles=field_inputs.typed_reference_texts(
                    ent, request.form, [f.key for f in missing]
                ),
            )
            stage_label = _stage_label(ent, pipeline or record.pipeline, stage)
            if not missing and "stage" in exc.errors and not _wants_json():
                # nothing to fill in (the move itself is refused): say why on the card
                flash(" ".join(m for messages in exc.errors.values() for m in messages), "danger")
                return redirect(url_for("web.card", entity=entity, record_id=record_id))
            if _wants_json():
                return jsonify(
                    ok=False,
                    fields=[f.key for f in missing],
                    errors=exc.errors,
                    html=fragment,
                    stage=stage_label,
                ), 422
            return render_template(
                "web/stage.html",
                entity=ent,
                record=record,
                stage=stage,
                pipeline=pipeline,
                stage_label=stage_label,
                fragment=fragment,
            ), 422
    except TrellisError as exc:
        if _wants_json():
            return jsonify(ok=False, errors={"_record": [exc.detail]}, html=""), exc.status
        flash(exc.detail, "danger")
        return redirect(url_for("web.card", entity=entity, record_id=record_id))
    if _wants_json():
        return jsonify(
            ok=True, stage=record.stage, pipeline=record.pipeline, version=record.version
        )
    return redirect(url_for("web.card", entity=entity, record_id=record_id))


def _stage_label(ent: CompiledEntity, pipeline: str | None, stage: str) -> str:
    if pipeline and pipeline in ent.pipelines and stage in ent.pipelines[pipeline].stages:
        return ent.pipelines[pipeline].stages[stage].label
    return stage


@web.get("/records/<entity>/kanban")
@login_required
def kanban(entity: str) -> Any:
    with get_runtime().transaction() as session:
        service = service_for(session)
        ent = service.model.entity(entity)
        if not ent.has_pipelines:
            raise NotFound(f"{ent.label_plural} have no stages.")
        pipeline = ent.pipelines.get(request.args.get("pipeline", "")) or ent.default_pipeline()
        # the list's filters and search narrow every column (the pipeline and stage are ours)
        narrowed = request.args.copy()
        for name in ("pipeline", "stage"):
            narrowed.poplist(name)
        extra = _filters(narrowed)
        q = request.args.get("q") or None
        money = next((f for f in visible_fields(service, ent) if f.type.name == "money"), None)
        stages = sorted(pipeline.stages.values(), key=lambda s: s.position)

        def column(stage: Any, extra: list[Filter], q: str | None) -> dict[str, Any]:
            in_stage = [Filter("pipeline", "eq", pipeline.key), Filter("stage", "eq", stage.key)]
            page = service.list(
                entity, filters=in_stage + extra, sort=["-updated_at"], per_page=KANBAN_CARDS, q=q
            )
            sums = (
                service.money_totals(entity, money.key, filters=in_stage + extra, q=q)
                if money
                else {}
            )
            more = {**narrowed.to_dict(flat=False), "pipeline": pipeline.key, "stage": stage.key}
            choices = stage_choices(ent, pipeline.key, stage.key, service.actor)
            return {
                "stage": stage,
                # where this column's cards may be moved (the others are no drop targets)
                "moves_to": [k for k, why in choices.items() if why is None and k != stage.key],
                "records": page.items,
                "count": page.total,
                "count_text": f"{page.total:,}+" if page.total_is_lower_bound else page.total,
                "sums": sums,
                "in_list": url_for("web.record_list", entity=entity, **more),
            }

        problem = None
        try:
            columns = [column(stage, extra, q) for stage in stages]
        except BadRequest as exc:  # a bad filter in the address: say so, show all
            problem, q = exc.detail, None
            columns = [column(stage, [], None) for stage in stages]
        shown = {f.key: f for f in visible_fields(service, ent)}
        card_fields = [shown[k] for k in ent.card_fields if k in shown]
        cards = [r for c in columns for r in c["records"]]
        titles = reference_titles(service, ent, cards) if card_fields else {}
        return render_template(
            "web/kanban.html",
            entity=ent,
            pipeline=pipeline,
            columns=columns,
            money=money,
            q=q or "",
            narrowed=narrowed,
            problem=problem,
            card_fields=card_fields,
            model=service.model,
            titles=titles,
            display=field_inputs.display,
        ), (400 if problem else 200)
