"""The ``/api`` blueprint (flask-smorest): routes declare their request schemas and their
responses together, and the OpenAPI document is built from those declarations.

Authentication runs before every call; every error is a problem (``application/problem+json``).
Request bodies are read by :func:`trellis.api.context.json_body` (a 400 when the body is not a
JSON object) and then validated by the route's schema before the view runs (a 422 naming
every wrong property)."""

from __future__ import annotations

import http
import re
import threading
from collections.abc import Callable
from typing import Any

from flask import g, request
from flask_smorest import Api, Blueprint
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from trellis.api import problems
from trellis.api.bodies import problems_by_property
from trellis.api.context import authenticate, json_body, require_administrator
from trellis.api.schemas import ProblemSchema
from trellis.errors import BadRequest, TrellisError, ValidationFailed
from trellis.unstorable import refuse_in_url

#: what each documented problem status means
PROBLEM_STATUSES = {
    400: "Malformed request: not a JSON object, unknown filter field or operator",
    401: "No valid bearer token",
    403: "Not allowed",
    404: "Not found (or not visible to the caller)",
    405: "Method not allowed",
    409: "Stale version or conflicting state; nothing was written",
    422: "Validation failed: errors by property (wrong type, unknown or missing property, "
    "or a rule of the configuration)",
    413: "The body is larger than the server takes (MAX_UPLOAD_LENGTH for uploads)",
    429: "Too many failed logins",
}


class BodyParser(FlaskParser):
    """webargs, reading bodies the platform's way and failing with the platform's errors."""

    def load_json(self, req, schema):  # type: ignore[no-untyped-def]
        return json_body()

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):  # type: ignore[no-untyped-def]
        by_location = error.messages if isinstance(error.messages, dict) else {}
        if set(by_location) <= {"json"}:
            errors: dict[str, list[str]] = {}
            for name, texts in problems_by_property(by_location.get("json") or {}).items():
                # a nested object of the wrong type: name the property, not its "_schema"
                errors.setdefault(name.removesuffix("._schema"), []).extend(texts)
            for name, message in getattr(schema, "immutable", {}).items():
                if name in errors:
                    errors[name] = [message]
            raise ValidationFailed(errors or {"_body": ["Invalid body."]})
        errors = {k: v for messages in by_location.values() for k, v in messages.items()}
        raise BadRequest("Invalid query parameters.", errors)


def documentation_only(decorate: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``decorate`` (one of flask-smorest's documentation decorators), keeping the
    documentation it adds to a view and dropping the function it wraps the view in: that
    wrapper only calls the view (through ``current_app.ensure_sync``, for coroutine views,
    which the API has none of), once per decorator on every request (``get_record`` had four
    of them)."""

    def decorator(view: Any) -> Any:
        view._apidoc = decorate(view)._apidoc  # what flask-smorest reads when it registers
        return view

    return decorator


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = BodyParser()

    def alt_response(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        """flask-smorest's ``alt_response``: the same documentation, no wrapper."""
        return documentation_only(super().alt_response(*args, **kwargs))

    def doc(self, **kwargs: Any) -> Callable[[Any], Any]:  # type: ignore[override]
        """flask-smorest's ``doc``: the same documentation, no wrapper."""
        return documentation_only(super().doc(**kwargs))

    def problems(self, *statuses: int, public: bool = False) -> Callable[[Any], Any]:
        """Document the problem responses of a route: 401 too, unless it is ``public``, and
        400 on every route (any request whose query has a NUL character or a lone surrogate
        is refused before the route runs: ``trellis.unstorable.refuse_in_url``)."""
        codes = sorted({*statuses, 400, *(() if public else (401,))})

        def decorate(view: Any) -> Any:
            for code in codes:
                view = self.alt_response(code, response=http.HTTPStatus(code).name)(view)
            if public:
                view = self.doc(security=[])(view)
            return view

        return decorate

    def configuration_dependent(self, *properties: str) -> Callable[[Any], Any]:
        """Document the properties of a request body whose valid values depend on the live
        configuration (a stage, a role, a field, a user that must exist): a well-typed value
        may still be the server's 422 problem naming that property. Each entry is a property
        path as the problem's ``errors`` names it, ``*`` standing for one list index or map key
        (``actions.*.stage``). The document lists them as ``x-configuration-dependent``; a
        422 naming any other property is the document's fault."""
        return self.doc(**{CONFIGURATION_DEPENDENT: list(properties)})


#: the operation extension listing configuration-dependent body properties
CONFIGURATION_DEPENDENT = "x-configuration-dependent"
#: the parameter extension of a query parameter whose valid values the server gives out
#: (a list's ``after``: a ``next_cursor``); a well-formed value it never gave out is a 400
#: problem whose ``errors`` name only that parameter
ISSUED_BY_SERVER = "x-issued-by-server"


def is_declared(name: str, declared: list[str]) -> bool:
    """Whether the property ``name`` of a problem's ``errors`` is one of the ``declared``
    configuration-dependent paths (``*``: exactly one list index or map key)."""
    patterns = (re.escape(path).replace(r"\*", r"[^.]+") for path in declared)
    return any(re.fullmatch(pattern, name) for pattern in patterns)


def property_names(self: Any, field: Any, **_kwargs: Any) -> dict[str, Any]:
    """apispec attribute function: a field's ``propertyNames`` metadata (what the keys of an
    object of entries look like), which apispec does not pass on by itself."""
    names = field.metadata.get("propertyNames")
    return {"propertyNames": names} if names else {}


class TrellisApi(Api):
    """flask-smorest's ``Api`` with problem+json errors, and nothing registered app-wide:
    the web app and the admin keep their own error pages, and ``/api/openapi.json`` is the
    platform's own (per caller, from the live metamodel).

    A blueprint's routes are documented in :attr:`spec` when the spec is first read, not
    when the blueprint is registered: documenting them (apispec resolving every route's
    schemas, flask-smorest deep-copying every route's documentation) was most of
    ``create_app``, and an app reads its spec only to serve its first OpenAPI document.
    The spec is then the same, built by the same calls in the same order."""

    DEFAULT_ERROR_RESPONSE_NAME = None
    ERROR_SCHEMA = ProblemSchema

    def __init__(self, app: Any = None, **kwargs: Any) -> None:
        #: registered blueprints whose routes are not in the spec yet (name, url parameters)
        self._undocumented: list[tuple[Blueprint, str, list[Any] | None]] = []
        self._documenting = threading.Lock()
        super().__init__(app, **kwargs)

    @property
    def spec(self) -> Any:
        """The API's ``APISpec``, with the routes of every registered blueprint."""
        if self._undocumented:
            self._document_blueprints()
        return self._spec

    @spec.setter
    def spec(self, value: Any) -> None:
        self._spec = value

    def register_blueprint(self, blp: Blueprint, *, parameters: Any = None, **options: Any) -> None:
        """flask-smorest's, leaving the documentation of its routes until :attr:`spec` is read."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))

    def _document_blueprints(self) -> None:
        """What flask-smorest's ``register_blueprint`` does to the spec, for each blueprint
        in the order they were registered. A blueprint leaves the list once it is documented,
        so a thread that finds the list empty finds the spec complete."""
        with self._documenting:
            while self._undocumented:
                blp, name, parameters = self._undocumented[0]
                blp.register_views_in_doc(
                    self, self._app, self._spec, name=name, parameters=parameters
                )
                self._spec.tag({"name": name, "description": blp.description})
                del self._undocumented[0]

    def _init_spec(self, **kwargs: Any) -> None:
        ours = self._app.cli.commands.get("openapi")
        super()._init_spec(**kwargs)  # adds flask-smorest's ``openapi`` command group
        self.ma_plugin.converter.add_attribute_function(property_names)
        if ours is not None:  # ``trellis openapi`` prints the platform's document
            self._app.cli.commands["openapi"] = ours

    def _register_error_handlers(self) -> None:
        pass  # the blueprint maps errors to problems (below)

    def _register_doc_blueprint(self) -> None:
        pass  # trellis.api.openapi serves the document

    def _register_responses(self) -> None:
        self.spec.components.schema("Problem", schema=ProblemSchema)
        for code, description in PROBLEM_STATUSES.items():
            self.spec.components.response(
                http.HTTPStatus(code).name,
                {
                    "description": description,
                    "content": {"application/problem+json": {"schema": "Problem"}},
                },
            )

    def _register_etag_headers(self) -> None:
        pass

    def _register_pagination_header(self) -> None:
        pass


api = ApiBlueprint("api", __name__, url_prefix="/api")

#: (method, endpoint) pairs reachable without a bearer token
PUBLIC = {("POST", "api.issue_token_view")}


#: the configuration's routes, where every change needs an administrator
CONFIGURATION_PREFIX = "/api/meta/"
READING = ("GET", "HEAD", "OPTIONS")


@api.before_request
def before_every_call() -> None:
    """What every call passes before its view, in this order (one hook: each hook costs
    every call its dispatch):

    * a valid bearer token (else 401), unless the route is :data:`PUBLIC`;
    * a change of the configuration by anyone but an administrator is a 403 before its body
      is read: the answer never depends on what was sent (the services check again);
    * no NUL character in the URL (``trellis.unstorable.refuse_in_url``)."""
    method = request.method
    if (method, request.endpoint) not in PUBLIC:
        authenticate()
    if method not in READING and request.path.startswith(CONFIGURATION_PREFIX):
        require_administrator(g.actor, "may change the configuration")
    refuse_in_url()


@api.errorhandler(TrellisError)
def handle_platform_error(error: TrellisError):  # type: ignore[no-untyped-def]
    return problems.from_error(error)


@api.errorhandler(HTTPException)
def handle_http_error(error: HTTPException):  # type: ignore[no-untyped-def]
    return problems.from_http(error)


@api.errorhandler(Exception)
def handle_unexpected(error: Exception):  # type: ignore[no-untyped-def]
    return problems.from_unexpected(error)


#: a JSON object request body (the metamodel routes, until their typed schemas)
JSON_OBJECT = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
