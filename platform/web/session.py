"""The signed-in user of a browser session, as Flask-Login sees it.

The session holds ``<user id>:<session stamp>``; the loader accepts it only while the user's
stamp is the same, so a new stamp (sign-out, new password, new roles, disabled user) ends
every session of that user, copies of the cookie included.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any, NoReturn

from flask import Flask, Request
from flask.sessions import NullSession, SecureCookieSession, SecureCookieSessionInterface
from flask_login import UserMixin
from itsdangerous import URLSafeTimedSerializer

from trellis.accounts import Actor, User
from trellis.runtime import get_runtime


class SessionUser(UserMixin):
    """A snapshot of the user for one request; ``actor`` is what services receive."""

    def __init__(self, user: User) -> None:
        self.id = str(user.id)
        self.session_id = f"{user.id}:{user.session_stamp}"
        self.username = user.username
        self.display_name = user.display_name or user.username
        self.actor = Actor.of(user)
        self.active = user.is_active

    def get_id(self) -> str:
        """What the session keeps: the user's id and their current session stamp."""
        return self.session_id

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.actor.is_admin


def load_session_user(session_id: str) -> SessionUser | None:
    """Flask-Login's user loader: an active user whose session stamp is still the one in the
    session, or None (signs the session out)."""
    user_id, _, stamp = session_id.partition(":")
    if not user_id.isdigit() or not stamp:
        return None
    # the request's one transaction: the view's own transaction() takes it over
    with get_runtime().transaction(keep_open=True) as session:
        user = session.get(User, int(user_id))
        if user is None or not user.is_active:
            return None
        if not hmac.compare_digest(user.session_stamp.encode(), stamp.encode()):
            return None
        return SessionUser(user)


class NoBrowserSession(NullSession):
    """The session of a request under a bearer-token prefix (the API): always empty, never
    saved, and writing to it is a programming error."""

    def _fail(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError(
            "Requests under a bearer-token prefix (the API) have no browser session."
        )

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail  # type: ignore[assignment]


class SignedCookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, with the signing serializer made once per set of
    secret keys (Flask builds a new one, key derivation set-up included, on every request,
    even for an API call that sends no cookie).

    Requests under ``without`` (the API's ``/api``: it authenticates every call by its
    bearer token, never by the cookie) get no browser session at all: the cookie is neither
    read nor written, so their answers carry no ``Set-Cookie`` and no ``Vary: Cookie``."""

    def __init__(self, without: Iterable[str] = ()) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer | None] = {}
        self._without = tuple(p.rstrip("/") for p in without if p.rstrip("/"))
        self._without_below = tuple(f"{p}/" for p in self._without)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        path = request.path
        if path in self._without or path.startswith(self._without_below):
            return NoBrowserSession()  # a null session: Flask never saves it
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        found = self._serializers.get(keys, _UNSET)
        if found is _UNSET:
            found = super().get_signing_serializer(app)
            self._serializers = {keys: found}  # only the current keys are kept
        return found  # type: ignore[return-value]


_UNSET = object()
