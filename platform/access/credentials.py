"""Signing in, and what ends a user's sessions and tokens.

One place checks a user name and password (for the login form and ``POST /api/auth/token``),
so both are throttled the same way and take as long for an unknown user as for a known one.
Checking (:func:`check_sign_in`) only reads, so it runs in a read-only transaction: the
password hash is never computed while holding SQLite's write lock, and a successful login
with no failures on record writes nothing (a browser login works while an import holds the
lock); :func:`note_sign_in` then writes what the throttle must remember, in a writing
transaction, only when there is something to write.

Every browser session carries its user's ``session_stamp``; a new stamp signs out every
session at once, copies of the session cookie included. The stamp changes on sign-out,
on a new password, on a change of roles and when the user is disabled; the last three also
revoke the user's API tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from trellis.access.passwords import password_problems
from trellis.access.throttle import check_allowed, record_failure, record_success
from trellis.access.tokens import revoke_user_tokens
from trellis.accounts import Role, User, new_session_stamp
from trellis.errors import ValidationFailed


@cache
def _stand_in_hash() -> str:
    """A hash no password matches, checked when there is no user to check against, so that
    an unknown user name costs the same time as a wrong password."""
    return generate_password_hash(new_session_stamp())


@dataclass(frozen=True)
class SignIn:
    """A checked user name and password: the user they sign in (None: wrong), and whether
    the throttle must note the attempt (a failure, or a success that clears failures)."""

    user: User | None
    username: str
    address: str | None
    to_note: bool


def check_sign_in(session: Session, username: str, password: str, address: str | None) -> SignIn:
    """Check a user name and password; reads only. Raises
    :class:`~trellis.access.throttle.TooManyAttempts` while logins for the name from
    ``address`` are paused. A name or password that is not text matches nobody (and is not
    counted)."""
    if not isinstance(username, str) or not isinstance(password, str):
        return SignIn(None, "", address, to_note=False)
    failures = check_allowed(session, username, address)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        check_password_hash(_stand_in_hash(), password)
        matches = False
    else:
        matches = user.check_password(password) and user.is_active
    if not matches:
        return SignIn(None, username, address, to_note=True)
    return SignIn(user, username, address, to_note=failures)


def note_sign_in(session: Session, attempt: SignIn) -> User | None:
    """Write what the throttle keeps of ``attempt`` (failures are counted per user name and
    client address; a success forgets them) and return its user as ``session`` sees it:
    None for a failed attempt, or when the user was disabled or changed their password (a
    new session stamp) since the check."""
    if attempt.user is None:
        if attempt.to_note:
            record_failure(session, attempt.username, attempt.address)
        return None
    if attempt.to_note:
        record_success(session, attempt.username, attempt.address)
    user = session.get(User, attempt.user.id)
    if user is None or not user.is_active or user.session_stamp != attempt.user.session_stamp:
        return None
    return user


def sign_in(session: Session, username: str, password: str, address: str | None) -> User | None:
    """The active user with this name and password, or None: :func:`check_sign_in` then
    :func:`note_sign_in` in one (writing) transaction."""
    return note_sign_in(session, check_sign_in(session, username, password, address))


def end_sessions(user: User) -> None:
    """Sign ``user`` out of every browser session."""
    user.session_stamp = new_session_stamp()


def change_password(session: Session, user: User, password: str, field: str = "password") -> None:
    """Give ``user`` a new password (checked against the policy; problems are reported under
    ``field``); their sessions end and their API tokens stop working."""
    problems = password_problems(password, user.username)
    if problems:
        raise ValidationFailed({field: problems})
    user.set_password(password)
    end_sessions(user)
    revoke_user_tokens(session, user.id)


def change_roles(session: Session, user: User, keys: Sequence[str], field: str = "roles") -> None:
    """Give ``user`` exactly the roles ``keys``; a real change ends their sessions and tokens."""
    found = list(session.scalars(select(Role).where(Role.key.in_(keys))))
    unknown = sorted(set(keys) - {role.key for role in found})
    if unknown:
        raise ValidationFailed({field: [f"Unknown role: {', '.join(unknown)}"]})
    if not found:
        raise ValidationFailed({field: ["Give the user at least one role."]})
    if {role.key for role in found} == user.role_keys:
        return
    user.roles = found
    end_sessions(user)
    revoke_user_tokens(session, user.id)


def set_active(session: Session, user: User, active: bool) -> None:
    """Enable or disable ``user``; disabling ends their sessions and tokens for good."""
    user.is_active = active
    if not active:
        end_sessions(user)
        revoke_user_tokens(session, user.id)
