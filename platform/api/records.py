"""``/api/records``: records of any entity type, under the caller's permissions."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, current_app, request, url_for

from trellis.api import schemas
from trellis.api.blueprint import api
from trellis.api.context import unit
from trellis.errors import BadRequest, ValidationFailed
from trellis.limits import MAX_ID32, accepts_upload
from trellis.records.importer import import_csv
from trellis.records.paging import CURSOR_PATTERN, MAX_CURSOR
from trellis.records.query import MAX_PAGE, MAX_PER_PAGE, parse_filters
from trellis.records.representation import records_json, stage_visit_json


def _version_of(data: dict[str, Any]) -> int:
    """The version the client read: ``"version"`` in the body or an ``If-Match`` header."""
    if "version" in data:
        version = data.pop("version")
        if isinstance(version, float) and version.is_integer():
            version = int(version)  # 3.0 is the integer 3 in JSON (and the document's)
        if isinstance(version, int) and not isinstance(version, bool) and version > MAX_ID32:
            # the body's integer is held to its column (a 422 naming it); an If-Match
            # beyond it is merely stale (no record has that version: a 409)
            raise ValidationFailed({"version": [f"A version is at most {MAX_ID32}."]})
    else:
        header = request.headers.get("If-Match", "").strip()
        version = header.removeprefix("W/").strip('"') if header else None
        if isinstance(version, str) and version.isdigit():
            version = int(version)
    if isinstance(version, bool) or not isinstance(version, int):
        raise BadRequest(
            'Send the version you read, as "version" in the body or an If-Match header.',
            {"version": ["Required: the version you read."]},
        )
    return version


def _one(service, entity: str, record) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return records_json(service, service.model.entity(entity), [record])[0]


def _with_etag(body: dict[str, Any], status: int = 200) -> Response:
    """``body`` as JSON with the record's version as its ETag (the response made here, as
    Flask would make it of ``(body, status, headers)``, without unpacking that first)."""
    response = current_app.json.response(body)
    if status != 200:
        response.status_code = status
    response.headers["ETag"] = f'"{body["version"]}"'
    return response


class ListQuerySchema(ma.Schema):
    """The list's own parameters (documented; read by the record service, which answers a
    bad one with a 400). Each entity type's copy adds a filter per field and operator."""

    q = schemas.text(metadata={"description": "Text search"})
    sort = schemas.text(metadata={"description": "Comma-separated field keys, '-' for descending"})
    page = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_PAGE))
    per_page = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_PER_PAGE))
    after = ma.fields.String(
        validate=ma.validate.Length(max=MAX_CURSOR),
        metadata={
            "description": "Continue after a page: the next_cursor the list gave out (opaque; "
            "one it never gave out, or gave out for another sort, is a 400 naming after)",
            "pattern": CURSOR_PATTERN,
        },
    )
    total = ma.fields.String(
        validate=ma.validate.OneOf(["exact"]),
        metadata={
            "description": "Count every match (otherwise counted up to 1,000, "
            "total_is_lower_bound beyond)"
        },
    )


MATCH_HELP = "A unique field: rows whose value is found update that record."


class ImportQuerySchema(ma.Schema):
    dry_run = ma.fields.Boolean(metadata={"description": "Check every row; write nothing."})
    match = ma.fields.String(metadata={"description": MATCH_HELP})


IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The version read, as its ETag ("3"); instead of "version" in the body.',
    "schema": {"type": "string", "pattern": '^(W/)?"?[0-9]+"?$'},
}
ETAG = {"ETag": {"description": "The record's version", "schema": {"type": "string"}}}


def _query_doc(schema: type[ma.Schema]) -> Any:
    """Document query parameters without parsing them with webargs (the record service
    reads them, with the filters, and reports every bad one at once)."""
    return api.doc(parameters=[{"in": "query", "schema": schema}])


@api.get("/records/<entity>")
@api.problems(400, 403, 404)
@api.alt_response(200, schema=schemas.RecordPageSchema, success=True)
@_query_doc(ListQuerySchema)
def list_records(entity: str) -> Any:
    """List {label_plural}

    A page of records. ``total`` is counted up to 1,000 (``total_is_lower_bound`` says
    there are more) unless ``?total=exact``; ``next`` continues by keyset (``?after=``)."""
    args = request.args
    sort = [s for s in args.get("sort", "").split(",") if s.strip()]
    if args.get("total", "exact") != "exact":
        raise BadRequest("Invalid total.", {"total": ["Use total=exact, or leave it out."]})
    with unit() as (runtime, session, actor):
        service = runtime.records(session, actor)
        page = service.list(
            entity,
            filters=parse_filters(args),
            sort=[s.strip() for s in sort],
            page=args.get("page", 1),
            per_page=args.get("per_page", 50),
            q=args.get("q") or None,
            after=args.get("after") or None,
            exact_total="total" in args,
        )
        following = None
        if page.next_cursor:
            kept = {k: args.getlist(k) for k in args if k not in ("after", "page")}
            following = url_for(".list_records", entity=entity, **kept, after=page.next_cursor)
        return {
            "items": records_json(service, service.model.entity(entity), page.items),
            "total": page.total,
            "total_is_lower_bound": page.total_is_lower_bound,
            "page": page.page,
            "per_page": page.per_page,
            "next_cursor": page.next_cursor,
            "next": following,
        }


@api.post("/records/<entity>")
@api.arguments(schemas.RecordCreateSchema)
@api.problems(400, 403, 404, 422)
@api.alt_response(201, schema=schemas.RecordSchema, headers=ETAG, success=True)
def create_record(data: dict[str, Any], entity: str) -> Any:
    """Create a {label}"""
    pipeline, stage = data.pop("pipeline", None), data.pop("stage", None)
    with unit() as (runtime, session, actor):
        service = runtime.records(session, actor)
        record = service.create(entity, data, pipeline=pipeline, stage=stage)
        return _with_etag(_one(service, entity, record), 201)


@api.get("/records/<entity>/<int:record_id>")
@api.problems(404)
@api.alt_response(200, schema=schemas.RecordSchema, headers=ETAG, success=True)
def get_record(entity: str, record_id: int) -> Any:
    """A {label}"""
    with unit() as (runtime, session, actor):
        service = runtime.records(session, actor)
        return _with_etag(_one(service, entity, service.get(entity, record_id)))


@api.patch("/records/<entity>/<int:record_id>")
@api.arguments(schemas.RecordPatchSchema)
@api.problems(400, 403, 404, 409, 422)
@api.alt_response(200, schema=schemas.RecordSchema, headers=ETAG, success=True)
@api.doc(parameters=[IF_MATCH])
def update_record(data: dict[str, Any], entity: str, record_id: int) -> Any:
    """Change a {label}"""
    version = _version_of(data)
    with unit() as (runtime, session, actor):
        service = runtime.records(session, actor)
        if "stage" in data or "pipeline" in data:
            # a stage in the body is a move (the same rules as POST .../stage), with the
            # other values filled in on the way
            stage, pipeline = data.pop("stage", None), data.pop("pipeline", None)
            if not isinstance(stage, str):
                raise BadRequest('Send the new "stage" (a key) to move.', {"stage": ["Required."]})
            record = service.move_stage(
                entity, record_id, stage, pipeline=pipeline, values=data, version=version
            )
        else:
            record = service.update(entity, record_id, data, version=version)
        return _with_etag(_one(service, entity, record))


@api.delete("/records/<entity>/<int:record_id>")
@api.problems(400, 403, 404, 409)
@api.alt_response(204, description="Deleted", success=True)
@api.doc(parameters=[IF_MATCH])
def delete_record(entity: str, record_id: int) -> Any:
    """Delete a {label}"""
    version = None
    if request.headers.get("If-Match"):
        version = _version_of({})
    with unit() as (runtime, session, actor):
        runtime.records(session, actor).delete(entity, record_id, version=version)
    return "", 204


@api.post("/records/<entity>/<int:record_id>/stage")
@api.arguments(schemas.StageMoveSchema)
@api.problems(400, 403, 404, 409, 422)
@api.alt_response(200, schema=schemas.RecordSchema, headers=ETAG, success=True)
def move_stage(data: dict[str, Any], entity: str, record_id: int) -> Any:
    """Move a {label} to a stage"""
    with unit() as (runtime, session, actor):
        service = runtime.records(session, actor)
        record = service.move_stage(
            entity,
            record_id,
            data["stage"],
            pipeline=data.get("pipeline"),
            values=data.get("values") or {},
            version=data.get("version"),
        )
        return _with_etag(_one(service, entity, record))


@api.get("/records/<entity>/<int:record_id>/history")
@api.problems(404)
@api.alt_response(200, schema=schemas.HistorySchema, success=True)
def record_history(entity: str, record_id: int) -> Any:
    """Change history"""
    with unit() as (runtime, session, actor):
        items = runtime.records(session, actor).history(entity, record_id)
        return {"items": items}


@api.get("/records/<entity>/<int:record_id>/stages")
@api.problems(404)
@api.alt_response(200, schema=schemas.StageVisitListSchema, success=True)
def record_stages(entity: str, record_id: int) -> Any:
    """Stages the record has been in: entered, left, by whom, how long"""
    with unit() as (runtime, session, actor):
        visits = runtime.records(session, actor).stage_history(entity, record_id)
        return {"items": [stage_visit_json(v) for v in visits]}


@api.get("/records/<entity>/<int:record_id>/links")
@api.problems(404)
@api.alt_response(200, schema=schemas.LinkListSchema, success=True)
def record_links(entity: str, record_id: int) -> Any:
    """Linked records, both ways"""
    with unit() as (runtime, session, actor):
        return {"items": runtime.records(session, actor).links(entity, record_id)}


CSV_BODY = {
    "required": True,
    "content": {
        # bytes, as the upload's file: generators map the content type to a binary body
        "text/csv": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
}


@api.post("/records/<entity>/import")
@api.problems(400, 403, 404, 422)
@api.alt_response(201, schema=schemas.ImportReportSchema, success=True)
@api.alt_response(200, schema=schemas.ImportReportSchema, description="Dry run", success=True)
@_query_doc(ImportQuerySchema)
@api.doc(requestBody=CSV_BODY)
@accepts_upload  # the largest CSV accepted (bigger files: ``trellis import``)
def import_records(entity: str) -> Any:
    """Import {label_plural} from CSV (all or nothing)

    Create records from a CSV body (``text/csv``) or an uploaded ``file``; all or nothing.
    ``?dry_run=true`` checks every row and writes nothing; ``?match=<unique field>`` updates
    the records whose field has a row's value instead of creating them."""
    content = _csv_body()
    dry_run = request.args.get("dry_run", "false").lower()
    if dry_run not in ("true", "false"):
        raise BadRequest("dry_run is true or false.", {"dry_run": ["Use true or false."]})
    with unit() as (runtime, session, actor):
        report = import_csv(
            runtime.records(session, actor),
            entity,
            content,
            dry_run=dry_run == "true",
            match=request.args.get("match") or None,
        )
    body = report.as_json()
    if not report.ok:
        raise ImportFailed(report.errors, body)
    return body, (200 if report.dry_run else 201)


def _csv_body() -> bytes:
    limit = request.max_content_length or 0
    if (request.content_length or 0) > limit:
        raise BadRequest(f"At most {limit // 1024 // 1024} MB per request.")
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest("Send the CSV as the form field 'file'.", {"file": ["Required."]})
        return upload.read(limit + 1)
    if request.mimetype not in ("text/csv", "text/plain"):
        raise BadRequest("Send a CSV with 'Content-Type: text/csv' (or as a 'file' upload).")
    return request.get_data(cache=False)


class ImportFailed(ValidationFailed):
    """Rows (or the header) that cannot become records: errors by row and field; nothing
    was created."""

    def __init__(self, errors: dict[str, Any], body: dict[str, Any]) -> None:
        rows = body["failed_rows"]
        detail = (
            "The header does not match the fields; nothing was imported."
            if "header" in errors
            else f"{rows} of {body['total']} rows cannot be imported; nothing was imported."
        )
        super().__init__(errors, detail)
        self.extra = {"report": body}
