"""Per-request plumbing of the API: the bearer token, the caller, the unit of work, JSON."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import g, request
from sqlalchemy.orm import Session

from trellis.accounts import Actor
from trellis.clock import utcnow
from trellis.errors import BadRequest, PermissionDenied, TrellisError
from trellis.records.service import RecordService
from trellis.runtime import Runtime, get_runtime
from trellis.unstorable import DETAIL, PROBLEM, has_unstorable, printable


class Unauthorized(TrellisError):
    """No valid bearer token."""

    status = 401
    title = "Unauthorized"


def authenticate() -> None:
    """Resolve ``Authorization: Bearer <token>`` into ``g.actor`` (401 otherwise)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send 'Authorization: Bearer <token>' (POST /api/auth/token gives one).")
    runtime = get_runtime()
    clear = token.strip()
    now = utcnow()
    bearer = runtime.bearers.get(clear, now)  # kept a few seconds: most requests read nothing
    if bearer is None or bearer.use_due(now):
        # the request's one transaction: the view's unit() takes it over
        with runtime.transaction(keep_open=True) as session:
            bearer = bearer or runtime.bearers.load(session, clear)
            if bearer is None:
                raise Unauthorized("The token is unknown, expired or revoked.")
            if bearer.use_due(now):  # at most once a minute per token: reads stay reads
                runtime.note_token_use(session, bearer.token_id)
                runtime.bearers.noted(bearer)
    state = g._get_current_object()  # one context lookup for both
    state.actor = bearer.actor
    state.token_id = bearer.token_id


@contextmanager
def unit() -> Iterator[tuple[Runtime, Session, Actor]]:
    """The runtime, a session in a transaction, and the authenticated caller."""
    runtime = get_runtime()
    with runtime.transaction() as session:
        yield runtime, session, g.actor


def require_administrator(actor: Actor, only: str) -> None:
    """Refuse (403) a caller who is not an administrator: the API's one administrator check.
    ``only`` says what only administrators do ("read and apply packs")."""
    if not actor.is_admin:
        raise PermissionDenied(f"Only administrators {only}.")


def records_service(runtime: Runtime, session: Session, actor: Actor) -> RecordService:
    return runtime.records(session, actor)


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what was wrong."""
    if not request.is_json:
        raise BadRequest("Send a JSON object with 'Content-Type: application/json'.")
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # the JSON parser gives up on very deep nesting
        raise BadRequest("The body is nested too deeply.") from None
    if not isinstance(data, dict):
        raise BadRequest("The body is not a JSON object.")
    bad = {printable(k): [PROBLEM] for k, v in data.items() if has_unstorable([k, v])}
    if bad:
        raise BadRequest(DETAIL, bad)
    return data
