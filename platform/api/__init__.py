"""The REST API under ``/api``: JSON in and out, problems for errors, bearer tokens."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from trellis.api import (  # noqa: F401  (they register routes)
    auth,
    automations,
    conversions,
    flows,
    meta,
    openapi,
    openapi_records,
    packs,
    problems,
    records,
    roles,
    schemas,
)
from trellis.api.blueprint import TrellisApi, api
from trellis.limits import BoundedInteger, BoundedInteger32

__all__ = ["api", "register_api"]


def register_api(app: Flask) -> None:
    """Mount the API; unknown paths and methods under /api are problems too."""
    smorest = TrellisApi(
        app,
        spec_kwargs={
            "title": "Trellis API",
            "version": openapi.API_VERSION,
            "openapi_version": "3.1.0",
            "info": {"description": "Records and configuration of this Trellis installation."},
            "servers": [{"url": "/"}],
            "security": [{"bearer": []}],
        },
    )
    smorest.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    openapi_records.register_schemas(smorest.spec)
    smorest.register_converter(BoundedInteger, lambda _converter: dict(schemas.ID_SCHEMA))
    smorest.register_converter(BoundedInteger32, lambda _converter: dict(schemas.ID32_SCHEMA))
    smorest.register_blueprint(api)
    app.extensions["trellis.api"] = smorest

    def api_http_error(error: HTTPException):  # type: ignore[no-untyped-def]
        if request.path.startswith("/api/") or request.path == "/api":
            return problems.from_http(error)
        return error

    for code in (404, 405):
        app.register_error_handler(code, api_http_error)
