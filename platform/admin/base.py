"""What every admin view shares: access for administrators only, running a change in a
transaction and turning a service error into messages on the form."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import abort, flash, redirect, request, url_for
from flask_admin import BaseView
from flask_login import current_user
from sqlalchemy.orm import Session

from trellis.accounts import Actor
from trellis.errors import TrellisError, ValidationFailed
from trellis.runtime import Runtime, get_runtime

T = TypeVar("T")


def admin_only() -> bool:
    return bool(current_user.is_authenticated and current_user.is_admin)


def refuse() -> Any:
    """Anonymous users go to the login page; signed-in non-administrators get a 403."""
    if not current_user.is_authenticated:
        return redirect(url_for("web.login", next=request.full_path))
    abort(403)


class AdminOnly:
    """Mixin for Flask-Admin views: only administrators see or reach them."""

    def is_accessible(self) -> bool:
        return admin_only()

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        return refuse()


class AdminView(AdminOnly, BaseView):
    """A Flask-Admin view whose forms are saved through the platform's services."""

    @property
    def runtime(self) -> Runtime:
        return get_runtime()

    @property
    def actor(self) -> Actor:
        return current_user.actor

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.runtime.transaction() as session:
            yield session

    def change(
        self, action: Callable[[Session], T], success: str = ""
    ) -> tuple[T | None, dict[str, Any]]:
        """Run ``action`` in its own transaction; on a platform error nothing is kept and its
        messages come back by field (``_form`` for the form as a whole)."""
        try:
            with self.runtime.transaction() as session:
                result = action(session)
        except TrellisError as exc:
            errors = dict(getattr(exc, "errors", None) or {})
            if not errors:
                errors = {"_form": [exc.detail]}
            elif not isinstance(exc, ValidationFailed) and "_form" not in errors:
                errors["_form"] = [exc.detail]
            # ``_entity``, ``_list``, ``_schema``...: about the whole form, said in words
            whole = [m for k in list(errors) if k.startswith("_") for m in errors.pop(k)]
            if whole:
                errors["_form"] = list(dict.fromkeys(whole))
            return None, errors
        if success:
            flash(success, "success")
        return result, {}


def form_text(name: str, default: str = "") -> str:
    return (request.form.get(name) or default).strip()


def form_int(name: str) -> int | str | None:
    """An integer from the form; the raw text if it is not one (so the service says why)."""
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        return raw


def form_bool(name: str) -> bool:
    return request.form.get(name) in ("on", "true", "1", "yes")
