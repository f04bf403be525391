"""``/api/auth/token``: obtain and revoke bearer tokens."""

from __future__ import annotations

from typing import Any

from flask import g, request

from trellis.access.credentials import check_sign_in, note_sign_in
from trellis.access.models import ApiToken
from trellis.access.tokens import issue_token, revoke_token
from trellis.api.blueprint import api
from trellis.api.context import Unauthorized
from trellis.api.meta_schemas import TokenRequest
from trellis.api.schemas import TokenSchema
from trellis.clock import as_utc
from trellis.runtime import get_runtime


@api.post("/auth/token")
@api.arguments(TokenRequest)
@api.problems(400, 401, 422, 429, public=True)
@api.alt_response(201, schema=TokenSchema, success=True)
def issue_token_view(data: dict[str, Any]) -> Any:
    """Obtain a bearer token

    Exchange a user name and password for a bearer token."""
    username, password = data["username"], data["password"]
    runtime = get_runtime()
    runtime.check_writable()  # a token is a write: no password hash while an import writes
    # the password is checked in a read-only transaction: no write lock while hashing
    with runtime.transaction(read_only=True) as session:
        attempt = check_sign_in(session, username, password, request.remote_addr)
    with runtime.transaction() as session:
        user = note_sign_in(session, attempt)
        if user is not None:
            token, row = issue_token(session, user)
    if user is None:
        raise Unauthorized("Wrong user name or password.")
    return {"token": token, "expires_at": as_utc(row.expires_at).isoformat()}, 201


@api.delete("/auth/token")
@api.problems()
@api.alt_response(204, description="Revoked", success=True)
def revoke_token_view() -> Any:
    """Revoke the token in use"""
    runtime = get_runtime()
    with runtime.transaction() as session:
        row = session.get(ApiToken, g.token_id)
        if row is not None:
            revoke_token(session, row)
    return "", 204
