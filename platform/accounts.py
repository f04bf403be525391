"""Users and roles: the tables, password hashing and the built-in roles.

Permissions per role come with the API's permission policy; the built-in roles ``admin``
(everything, including the metamodel) and ``user`` exist from the first migration on.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from trellis.access.passwords import password_problems
from trellis.clock import utcnow
from trellis.db import Base
from trellis.errors import Conflict, NotFound, ValidationFailed
from trellis.patterns import fixed

BUILTIN_ROLES = {"admin": "Administrator", "user": "User"}
USERNAME_PATTERN = fixed(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")  # RE2: "$" is the very end

user_roles = Table(
    "auth_user_role",
    Base.metadata,
    Column("user_id", ForeignKey("auth_user.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("auth_role.id", ondelete="CASCADE"), primary_key=True),
)


class Role(Base):
    """A named set of permissions. Built-in roles cannot be removed."""

    __tablename__ = "auth_role"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    builtin: Mapped[bool] = mapped_column(default=False)


def new_session_stamp() -> str:
    """A fresh random stamp: every browser session carries its user's stamp, so changing the
    stamp signs out every session (and every copy of a session cookie)."""
    return secrets.token_hex(16)


class User(Base):
    """A person who logs in. Only a hash of the password is kept."""

    __tablename__ = "auth_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    session_stamp: Mapped[str] = mapped_column(
        String(32), default=new_session_stamp, server_default=""
    )

    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="selectin")

    def set_password(self, password: str) -> None:
        """Hash and keep ``password``."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """True when ``password`` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @property
    def role_keys(self) -> frozenset[str]:
        return frozenset(role.key for role in self.roles)


@dataclass(frozen=True)
class Actor:
    """Who is acting: passed to every service call, recorded in audit and history."""

    user_id: int | None
    username: str
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(user.id, user.username, user.role_keys)


SYSTEM = Actor(None, "system", frozenset({"admin"}))


def ensure_builtin_roles(session: Session) -> None:
    """Create the built-in roles that are missing (idempotent)."""
    existing = set(session.scalars(select(Role.key)))
    for key, label in BUILTIN_ROLES.items():
        if key not in existing:
            session.add(Role(key=key, label=label, builtin=True))
    session.flush()


def create_user(
    session: Session,
    username: str,
    password: str,
    roles: list[str] | tuple[str, ...] = ("user",),
    display_name: str = "",
    email: str = "",
) -> User:
    """Create a user; reports every problem with the input at once."""
    errors: dict[str, list[str]] = {}
    if not USERNAME_PATTERN.match(username or ""):
        errors["username"] = [
            "Use 2-64 letters, digits, dots, dashes, underscores or @, starting with a letter "
            "or digit."
        ]
    problems = password_problems(password, username)
    if problems:
        errors["password"] = problems
    for name, value, limit in (("display_name", display_name, 100), ("email", email, 200)):
        if not isinstance(value or "", str) or len(value or "") > limit:
            errors[name] = [f"At most {limit} characters."]
    found = {r.key: r for r in session.scalars(select(Role).where(Role.key.in_(roles)))}
    unknown = [r for r in roles if r not in found]
    if unknown:
        errors["roles"] = [f"Unknown role: {', '.join(unknown)}"]
    if errors:
        raise ValidationFailed(errors)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"A user named {username!r} already exists.")
    user = User(username=username, display_name=display_name or username, email=email)
    user.set_password(password)
    user.roles = [found[r] for r in roles]
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> User:
    """The user called ``username``, or :class:`NotFound`."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user named {username!r}.")
    return user


def user_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Display names (or usernames) of users by id, for history and change lists."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(User.id, User.username, User.display_name).where(User.id.in_(wanted))
    )
    return {row.id: row.display_name or row.username for row in rows}
