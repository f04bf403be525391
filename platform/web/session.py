"""The signed-in user of a browser session, as Flask-Login sees it."""

from __future__ import annotations

from flask_login import UserMixin

from trellis.accounts import Actor, User


class SessionUser(UserMixin):
    """A snapshot of the user for one request; ``actor`` is what services receive."""

    def __init__(self, user: User) -> None:
        self.id = str(user.id)
        self.username = user.username
        self.display_name = user.display_name or user.username
        self.actor = Actor.of(user)
        self.active = user.is_active

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.actor.is_admin


def load_session_user(user_id: str) -> SessionUser | None:
    """Flask-Login's user loader: an active user by id, or None (signs the session out)."""
    from trellis.app import get_runtime

    if not user_id.isdigit():
        return None
    with get_runtime().transaction() as session:
        user = session.get(User, int(user_id))
        if user is None or not user.is_active:
            return None
        return SessionUser(user)
