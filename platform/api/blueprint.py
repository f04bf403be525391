"""The ``/api`` blueprint: authentication before every call, problems for every error."""

from __future__ import annotations

from flask import Blueprint, request
from werkzeug.exceptions import HTTPException

from trellis.api import problems
from trellis.api.context import authenticate, refuse_nul_in_url
from trellis.errors import TrellisError

api = Blueprint("api", __name__, url_prefix="/api")

#: (method, endpoint) pairs reachable without a bearer token
PUBLIC = {("POST", "api.issue_token_view")}


@api.before_request
def require_token() -> None:
    if (request.method, request.endpoint) in PUBLIC:
        return
    authenticate()


@api.before_request
def refuse_nul() -> None:
    refuse_nul_in_url()


@api.errorhandler(TrellisError)
def handle_platform_error(error: TrellisError):  # type: ignore[no-untyped-def]
    return problems.from_error(error)


@api.errorhandler(HTTPException)
def handle_http_error(error: HTTPException):  # type: ignore[no-untyped-def]
    return problems.from_http(error)


@api.errorhandler(Exception)
def handle_unexpected(error: Exception):  # type: ignore[no-untyped-def]
    return problems.from_unexpected(error)
