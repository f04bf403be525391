"""Typed errors of the platform.

Services raise these; the web layers map each one once to an HTTP problem response
(``application/problem+json``). Bad input is never a bare 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TrellisError(Exception):
    """Base of every error a service raises on purpose."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title


class ValidationFailed(TrellisError):
    """Input broke one or more rules; ``errors`` maps a field (or ``"_record"``) to messages.

    Every problem is collected before this is raised, so a form can show all of them at once.
    Nested mappings are allowed (e.g. per conversion target).
    """

    status = 422
    title = "Validation failed"

    def __init__(self, errors: Mapping[str, Any], detail: str = "") -> None:
        self.errors = dict(errors)
        super().__init__(detail or _summarise(self.errors))


class BadRequest(TrellisError):
    """A malformed request: unknown field, unknown operator, wrong shape."""

    def __init__(self, detail: str, errors: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.errors = dict(errors or {})


class NotFound(TrellisError):
    """The thing does not exist, or the caller may not know that it does."""

    status = 404
    title = "Not found"


class PermissionDenied(TrellisError):
    """The caller is known but may not do this."""

    status = 403
    title = "Forbidden"


class Conflict(TrellisError):
    """A stale write or a state that refuses the change; nothing was written."""

    status = 409
    title = "Conflict"

    def __init__(self, detail: str, current: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.current = dict(current) if current is not None else None


class StaleWrite(Conflict):
    """The UPDATE of record ``record_id`` of ``entity`` at ``version`` found it changed
    since it was read (a newer version): nothing was written."""

    def __init__(self, detail: str, entity: str, record_id: int, version: int) -> None:
        super().__init__(detail)
        self.entity, self.record_id, self.version = entity, record_id, version


#: at most this many field names are named in a summary
SUMMARY_NAMES = 20


def _summarise(errors: Mapping[str, Any]) -> str:
    names = sorted(errors)
    fields = ", ".join(names[:SUMMARY_NAMES])
    if len(names) > SUMMARY_NAMES:
        fields += f" and {len(names) - SUMMARY_NAMES} more"
    return f"Invalid value for: {fields}" if fields else "Validation failed"


class Busy(TrellisError):
    """Another writer holds the database (SQLite) for longer than a request waits: retry."""

    status = 503
    title = "Busy"
    retry_after = 1

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            detail or "The database is busy with another change. Try again in a moment."
        )
