"""``/api/packs``: config packs over HTTP (administrators only).

``GET`` lists the installed packs with their versions and the objects edited here since.
``POST`` takes a pack as a zip (``application/zip``, or a multipart ``file``) and answers
its plan: per object what is created, changed (per property) or archived, the conflicts of
an upgrade, what each change does to stored data, and what would stop the apply.
``?dry_run=true`` stops there; without it the pack is applied in one transaction. Conflicts
are decided with ``take`` (``?take=entity:deal=pack&take=lead=local``, or the form field).

A broken pack is a 422 problem whose ``problems`` list every one by file, line and JSON
path; an apply refused by open conflicts is a 409, by the services a 422, each with the
plan; nothing changed then. A body past ``MAX_UPLOAD_LENGTH`` is a 413, a zip bomb or a path
leaving the pack's folder a 422 (see :mod:`trellis.packs.review`).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g, request

from trellis.api import schemas
from trellis.api.blueprint import api
from trellis.api.context import require_administrator, unit
from trellis.api.representation import iso_times
from trellis.errors import BadRequest, ValidationFailed
from trellis.limits import accepts_upload
from trellis.packs.apply import UNKNOWN_TAKE, PackRefused
from trellis.packs.problems import PackInvalid
from trellis.packs.review import install, installed_packs, parse_takes, plan_data, review

#: a decision about an object's conflicts: OBJECT=pack or OBJECT=local
TAKE = "^[^=]+=(pack|local)$"
ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")
PACK_BODY = {
    "required": True,
    "content": {
        "application/zip": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "take": {"type": "array", "items": {"type": "string", "pattern": TAKE}},
                },
                "required": ["file"],
            },
            # the file part is the pack's zip, as in the raw body
            "encoding": {"file": {"contentType": "application/zip"}},
        },
    },
}
TAKE_HELP = (
    "Decide an object's conflicts: OBJECT=pack or OBJECT=local (OBJECT is kind:key, or the "
    "key alone when only one object with a conflict has it); repeat for more."
)


class PackQuerySchema(ma.Schema):
    dry_run = ma.fields.Boolean(
        metadata={"description": "Answer the plan; apply nothing (default false)."}
    )
    take = ma.fields.List(
        ma.fields.String(metadata={"pattern": TAKE}),
        metadata={"description": TAKE_HELP},
    )


#: what only administrators do here
ONLY = "read and apply packs"


@api.get("/packs")
@api.problems(403)
@api.alt_response(200, schema=schemas.InstalledPackListSchema, success=True)
def list_packs() -> Any:
    """Installed packs

    Each installed pack with its version, when it was applied, and the objects edited here
    since (by property)."""
    require_administrator(g.actor, ONLY)
    with unit() as (_runtime, session, _actor):
        return {"items": iso_times(installed_packs(session))}


@api.post("/packs")
# a take must name an object the plan has a conflict about (the installation's state)
@api.configuration_dependent("take")
@api.problems(400, 403, 409, 413, 422)
@api.alt_response(200, schema=schemas.PackPlanSchema, success=True)
@api.doc(parameters=[{"in": "query", "schema": PackQuerySchema}], requestBody=PACK_BODY)
@accepts_upload
def post_pack() -> Any:
    """Plan or apply a pack (a zip)

    The plan of the pack against this installation; ``?dry_run=true`` changes nothing,
    else the pack is applied in one transaction (an upgrade when it is installed)."""
    require_administrator(g.actor, ONLY)
    dry_run = request.args.get("dry_run", "false").lower()
    if dry_run not in ("true", "false"):
        raise BadRequest("dry_run is true or false.", {"dry_run": ["Use true or false."]})
    raw, form_takes = _zip_body()
    take = parse_takes(request.args.getlist("take") + form_takes)
    runtime = _runtime()
    try:
        if dry_run == "true":
            result = review(runtime, raw, take, g.actor)
            body = plan_data(
                result.content,
                result.plan,
                result.impact,
                result.problems,
                result.installed_version,
            )
            return {**body, "dry_run": True, "applied": False}
        try:
            content, outcome = install(runtime, raw, take, g.actor)
        except PackRefused as refused:
            raise _Refused(refused) from None
    except PackInvalid as invalid:
        raise _Invalid(invalid) from None
    body = plan_data(content, outcome.plan, outcome.impact, [], outcome.previous_version)
    return {**body, "dry_run": False, "applied": True}


def _runtime() -> Any:
    from trellis.runtime import get_runtime

    return get_runtime()


def _zip_body() -> tuple[bytes, list[str]]:
    """The zip's bytes (a raw body or a multipart ``file``) and the form's ``take`` fields."""
    limit = request.max_content_length or 0
    if (request.content_length or 0) > limit:
        from werkzeug.exceptions import RequestEntityTooLarge

        raise RequestEntityTooLarge(f"At most {limit // 1024 // 1024} MB per pack.")
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest(
                "Send the pack's zip as the form field 'file'.", {"file": ["Required."]}
            )
        try:
            return upload.read(limit + 1), request.form.getlist("take")
        finally:  # a large upload is a temporary file: closed at once
            upload.close()
    if request.mimetype not in ZIP_TYPES:
        raise BadRequest("Send the pack as a zip with 'Content-Type: application/zip'.")
    return request.get_data(cache=False), []


class _Invalid(ValidationFailed):
    """A broken pack: every problem by file, line and JSON path; nothing was applied."""

    title = "The pack has problems"

    def __init__(self, invalid: PackInvalid) -> None:
        super().__init__(invalid.errors, invalid.detail)
        self.extra = {"problems": [p.as_data() for p in invalid.problems]}


class _Refused(ValidationFailed):
    """The apply was refused (open conflicts: 409; changes the services refuse: 422), with
    every problem and the plan; nothing changed."""

    title = "The pack was not applied"

    def __init__(self, refused: PackRefused) -> None:
        errors: dict[str, list[str]] = {}
        for p in refused.problems:
            # a decision about no conflict is the request's ``take`` (the object is listed)
            where = "take" if p.message == UNKNOWN_TAKE else f"{p.object} {p.path}".strip()
            errors.setdefault(where, []).append(p.message)
        plan = refused.plan
        conflicts = bool(plan is not None and plan.conflicts)
        super().__init__(errors, _refusal(refused, conflicts))
        self.status = 409 if conflicts else 422
        self.extra: dict[str, Any] = {"problems": [p.as_dict() for p in refused.problems]}
        if plan is not None:
            self.extra["plan"] = [o.as_dict() for o in plan.objects if o.action != "unchanged"]


def _refusal(refused: PackRefused, conflicts: bool) -> str:
    count = len(refused.problems)
    if conflicts:
        return (
            f"{count} conflict{'s' if count != 1 else ''} to decide (take OBJECT=pack|local); "
            "nothing was applied."
        )
    return (
        f"The pack was not applied ({count} problem{'s' if count != 1 else ''}); nothing changed."
    )
