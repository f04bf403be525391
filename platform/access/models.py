"""Tables of the access layer: API tokens, role permissions, field permissions, login
throttling and the links between records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trellis.clock import utcnow
from trellis.db import Base

SCOPES = ("none", "own", "all")
FIELD_ACCESS = ("hidden", "read_only")


class ApiToken(Base):
    """A bearer token for integrators. Only a SHA-256 hash is stored; ``prefix`` identifies it
    in lists without revealing it."""

    __tablename__ = "auth_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class RolePermission(Base):
    """What a role may do with the records of one entity type. Each of read, update and delete
    has a scope: ``none``, ``own`` (records the user owns) or ``all``."""

    __tablename__ = "auth_permission"
    __table_args__ = (UniqueConstraint("role_id", "entity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("auth_role.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(40))
    can_create: Mapped[bool] = mapped_column(default=False)
    read: Mapped[str] = mapped_column(String(4), default="none")
    update: Mapped[str] = mapped_column(String(4), default="none")
    delete: Mapped[str] = mapped_column(String(4), default="none")


class FieldPermission(Base):
    """A field a role sees as ``hidden`` or ``read_only``; fields not listed are editable."""

    __tablename__ = "auth_field_permission"
    __table_args__ = (UniqueConstraint("role_id", "entity", "field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("auth_role.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(40))
    field: Mapped[str] = mapped_column(String(40))
    access: Mapped[str] = mapped_column(String(10))


class LoginThrottle(Base):
    """Failed logins of one user name from one client address; past a few, each try from
    there must wait longer."""

    __tablename__ = "auth_login_throttle"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    last_failure_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class RecordLink(Base):
    """A link between two records that no field holds, e.g. a lead and the deal created from
    it (``kind`` = ``converted``). Read both ways."""

    __tablename__ = "record_link"
    __table_args__ = (
        Index("ix_record_link_from", "from_entity", "from_id"),
        Index("ix_record_link_to", "to_entity", "to_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    from_entity: Mapped[str] = mapped_column(String(40))
    from_id: Mapped[int] = mapped_column(BigInteger)
    to_entity: Mapped[str] = mapped_column(String(40))
    to_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ProbeEvent(Base):
    """A write refused because of a field hidden from the caller (a rule naming it, a unique
    value taken on a record they cannot read): each one tells a little about what they may
    not see. Kept as the audit of such probing, and counted to slow it down."""

    __tablename__ = "auth_probe_event"
    __table_args__ = (Index("ix_auth_probe_event_user", "user_id", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    entity: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    fields: Mapped[str] = mapped_column(String(400))
