"""The REST API under ``/api``: JSON in and out, problems for errors, bearer tokens."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from trellis.api import (  # noqa: F401  (they register routes)
    auth,
    conversions,
    meta,
    openapi,
    problems,
    records,
    roles,
)
from trellis.api.blueprint import api

__all__ = ["api", "register_api"]


def register_api(app: Flask) -> None:
    """Mount the API; unknown paths and methods under /api are problems too."""
    app.register_blueprint(api)

    def api_http_error(error: HTTPException):  # type: ignore[no-untyped-def]
        if request.path.startswith("/api/") or request.path == "/api":
            return problems.from_http(error)
        return error

    for code in (404, 405):
        app.register_error_handler(code, api_http_error)
