"""Errors as ``application/problem+json`` (RFC 9457), mapped once for the whole API."""

from __future__ import annotations

import itertools
import logging
from typing import Any

from flask import Response, json
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from trellis.errors import BadRequest, Conflict, TrellisError, ValidationFailed

PROBLEM_TYPE = "https://trellis.dev/problems/"
#: at most this many entries of any one mapping or list in a problem are listed; the count
#: of the rest is ``not_listed`` (a body with 400 000 unknown keys once answered 15 MB)
MAX_LISTED = 100
log = logging.getLogger(__name__)


def problem(
    status: int,
    title: str,
    detail: str = "",
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem response with ``errors`` by field (always present, possibly empty)."""
    left_out = [0]
    body = {
        "type": PROBLEM_TYPE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail or title,
        "errors": _bounded(errors or {}, left_out),
        **{k: v if k == "current" else _bounded(v, left_out) for k, v in extra.items()},
    }
    if left_out[0]:
        body["not_listed"] = left_out[0]
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_error(error: TrellisError) -> Response:
    """The problem response for a typed platform error."""
    errors = getattr(error, "errors", None)
    headers = {}
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    extra = {}
    if isinstance(error, Conflict) and error.current is not None:
        extra["current"] = error.current
    if isinstance(error, ValidationFailed | BadRequest):
        more = getattr(error, "extra", None) or {}
        return problem(error.status, error.title, error.detail, errors, headers, **more)
    return problem(error.status, error.title, error.detail, None, headers, **extra)


def from_http(error: HTTPException) -> Response:
    """A problem response for 404, 405, 415 and other HTTP errors inside /api."""
    response = problem(error.code or 500, error.name, error.description or error.name)
    if error.code == 405 and error.valid_methods:  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    return response


def from_unexpected(error: Exception) -> Response:
    """A bug: logged with its traceback; the caller gets no internals. A number beyond what
    its column holds is checked where it is read (filters: a 400, bodies: a 422, both naming
    it; ``MAX_INTEGER`` and ``MAX_BIGINT``); should one still reach the database, the
    driver's "out of range" is the caller's input all the same: a 400."""
    if isinstance(error, DataError) and "out of range" in str(error.orig).lower():
        return problem(400, "Bad request", "A number is out of range.")
    log.exception("Unhandled error in the API", exc_info=error)
    return problem(500, "Internal server error", "Something went wrong on our side.")


def _bounded(value: Any, left_out: list[int]) -> Any:
    """``value`` with at most :data:`MAX_LISTED` entries per mapping or list (at any depth);
    ``left_out[0]`` counts the entries dropped."""
    if isinstance(value, dict):
        kept = dict(itertools.islice(value.items(), MAX_LISTED))
        left_out[0] += len(value) - len(kept)
        return {k: _bounded(v, left_out) for k, v in kept.items()}
    if isinstance(value, list | tuple):
        left_out[0] += max(len(value) - MAX_LISTED, 0)
        return [_bounded(v, left_out) for v in value[:MAX_LISTED]]
    return value
