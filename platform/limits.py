"""How much a request may send: one home for the body size limits.

Every request body is held to ``MAX_CONTENT_LENGTH`` (1 MiB by default: JSON bodies and
forms); views marked with :func:`accepts_upload` (CSV imports) to ``MAX_UPLOAD_LENGTH``
(20 MiB). A bigger body is a 413 before anything reads it; waitress refuses bodies past the
upload limit before the app sees them (:func:`server_body_limit`), so an unauthenticated
upload cannot fill the server's memory or disk either.

Ids in paths are at most what their column holds: ``<int:record_id>`` ``2**63 - 1`` (BIGINT),
``<int32:rule_id>`` ``2**31 - 1`` (the platform's INTEGER ids); a bigger one names nothing
(404) instead of overflowing the database driver (500).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Request, current_app
from werkzeug.routing import IntegerConverter

from trellis.metamodel.fieldtypes.input_fields import MAX_BIGINT, MAX_INTEGER

#: room for a multipart envelope around an upload of the largest allowed size
MULTIPART_MARGIN = 64 * 1024
View = TypeVar("View", bound=Callable[..., Any])
#: the largest id a BIGINT holds; a larger one in a path is read as NO_ID
MAX_ID = MAX_BIGINT
#: the largest id of the platform's own tables (INTEGER)
MAX_ID32 = MAX_INTEGER
NO_ID = -1


def accepts_upload(view: View) -> View:
    """Mark a view that takes a file upload: its body may be ``MAX_UPLOAD_LENGTH`` long."""
    view.accepts_upload = True  # type: ignore[attr-defined]
    return view


class PlatformRequest(Request):
    """A request whose body limit depends on the view it goes to."""

    @property
    def max_content_length(self) -> int | None:  # type: ignore[override]
        if self._max_content_length is not None:
            return self._max_content_length
        view = current_app.view_functions.get(self.endpoint or "")
        if getattr(view, "accepts_upload", False):
            return current_app.config["MAX_UPLOAD_LENGTH"]
        return current_app.config["MAX_CONTENT_LENGTH"]

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


class BoundedInteger(IntegerConverter):
    """``<int:...>`` for record ids (BIGINT): a number past what the column holds becomes
    :data:`NO_ID`, which names no row, so every method of the route answers 404 (a converter
    that refused it would make werkzeug answer 405 when the path has routes for other
    methods)."""

    max_id = MAX_ID

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        return number if number <= self.max_id else NO_ID


class BoundedInteger32(BoundedInteger):
    """``<int32:...>`` for ids of the platform's own tables (INTEGER columns)."""

    max_id = MAX_ID32


def configure(app: Flask, settings: dict[str, Any]) -> None:
    """Apply the settings' limits to ``app`` (before any route is added)."""
    app.url_map.converters["int"] = BoundedInteger
    app.url_map.converters["int32"] = BoundedInteger32
    app.request_class = PlatformRequest
    app.config.update(
        MAX_CONTENT_LENGTH=settings["MAX_CONTENT_LENGTH"],
        MAX_UPLOAD_LENGTH=settings["MAX_UPLOAD_LENGTH"],
    )


def server_body_limit(settings: dict[str, Any]) -> int:
    """The largest body the WSGI server reads at all (waitress' ``max_request_body_size``)."""
    return max(settings["MAX_CONTENT_LENGTH"], settings["MAX_UPLOAD_LENGTH"]) + MULTIPART_MARGIN
