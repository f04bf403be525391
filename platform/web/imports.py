"""Importing a CSV file from a list page: check it (every problem by row and field) or import
it, all or nothing. Nothing is kept unless every row is valid, so the user corrects the file
and tries again; nothing they uploaded is half-applied."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required

from trellis.errors import BadRequest, PermissionDenied
from trellis.limits import accepts_upload
from trellis.records.importer import import_csv
from trellis.runtime import get_runtime
from trellis.web.records import service_for
from trellis.web.views import web


@web.route("/records/<entity>/import", methods=["GET", "POST"])
@accepts_upload  # MAX_UPLOAD_LENGTH (bigger files: ``trellis import``)
@login_required
def record_import(entity: str) -> Any:
    report, problem = None, None
    upload = request.files.get("file")
    with get_runtime().transaction() as session:
        service = service_for(session)
        ent = service.model.entity(entity)
        if not service.access.can("create", ent.key):
            raise PermissionDenied(f"You may not create {ent.label_plural}.")
        columns = [ent.fields[k] for k in service.writable_keys(ent.key)]
        if request.method == "POST":
            limit = request.max_content_length or 0
            content = upload.read(limit + 1) if upload else b""
            dry_run = request.form.get("action") != "import"
            try:
                if not content:
                    raise BadRequest("Choose a CSV file.")
                if len(content) > limit:
                    raise BadRequest(
                        f"The file is larger than {limit // 1024 // 1024} MB; use `trellis import`."
                    )
                match = request.form.get("match") or None
                report = import_csv(service, entity, content, dry_run=dry_run, match=match)
            except BadRequest as exc:
                problem = exc.detail
            else:
                if report.ok and not dry_run:
                    updated = f", {len(report.updated)} updated" if report.updated else ""
                    flash(f"{len(report.created)} {ent.label_plural} imported{updated}.", "success")
                    return redirect(url_for("web.record_list", entity=entity))
        status = 400 if problem else 422 if report and not report.ok else 200
        return render_template(
            "web/import.html",
            entity=ent,
            columns=columns,
            unique=[f for f in columns if f.unique],
            match=request.form.get("match", ""),
            report=report,
            problem=problem,
            file_name=upload.filename if upload else "",
        ), status
