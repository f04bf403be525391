"""Values of ``user`` fields: finding the users they name, for writes and for reading.

A write may name a user by id or username; :func:`resolve_user_values` turns each into the
user's id and reports an unknown user, or a disabled one newly put in a field, under the field.
A disabled user already in a field stays (and reads as before).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.accounts import User
from trellis.metamodel.changes import Errors
from trellis.metamodel.compiled import CompiledEntity
from trellis.metamodel.fieldtypes.input_fields import MAX_INTEGER

#: the key under which the app's title lookups hold user names (no entity key starts so)
USER_TITLES = "@user"


@dataclass(frozen=True)
class UserRef:
    """What a user field shows of a user."""

    id: int
    username: str
    name: str
    active: bool


def users_by_id(session: Session, ids: Iterable[Any]) -> dict[int, UserRef]:
    """The users with these ids (disabled ones included); unknown ids are left out."""
    wanted = sorted({i for i in ids if _is_user_id(i)})
    if not wanted:
        return {}
    rows = session.scalars(select(User).where(User.id.in_(wanted)))
    return {u.id: _ref(u) for u in rows}


def user_values(entity: CompiledEntity, records: Iterable[Any]) -> set[int]:
    """The ids in the user fields of ``records``."""
    keys = [f.key for f in entity.fields.values() if f.type.name == "user"]
    return {r.values[k] for r in records for k in keys if r.values.get(k) is not None}


def all_users(session: Session) -> list[UserRef]:
    """Every user (disabled ones included), by name: a form offers the active ones and the
    one a field holds."""
    rows = session.scalars(select(User))
    return sorted((_ref(u) for u in rows), key=lambda u: (u.name.lower(), u.id))


def resolve_user_values(
    session: Session,
    entity: CompiledEntity,
    values: dict[str, Any],
    old: Mapping[str, Any],
    changed: Iterable[str],
    errors: Errors,
) -> None:
    """Replace each username or id given to a user field in ``values`` by the user's id:
    the ``changed`` ones, and on a new record (``old`` empty) the defaults too."""
    changed = set(changed)
    for key, f in entity.fields.items():
        value = values.get(key)
        if f.type.name != "user" or value is None or key in errors:
            continue
        if key not in changed and key in old:
            continue
        if isinstance(value, str):
            user = session.scalar(select(User).where(User.username == value))
            missing = f"No user {value!r}."
        else:
            # an id beyond the users table's INTEGER ids names no one (on every database)
            user = session.get(User, value) if _is_user_id(value) else None
            missing = f"No user with id {value}."
        if user is None:
            errors.add(key, missing)
            continue
        if not user.is_active and user.id != old.get(key):
            errors.add(
                key, f"{user.display_name or user.username} is disabled; choose someone else."
            )
            continue
        values[key] = user.id


def _is_user_id(value: Any) -> bool:
    """Whether ``value`` can be a user's id (what the users table's INTEGER id holds)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_INTEGER


def _ref(user: User) -> UserRef:
    return UserRef(user.id, user.username, user.display_name or user.username, user.is_active)
