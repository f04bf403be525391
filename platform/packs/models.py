"""Installed packs: what each installed pack version said (the base of the next upgrade's
three-way merge), and which pack every configuration object came from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trellis.clock import utcnow
from trellis.db import Base


class InstalledPack(Base):
    """A pack applied to this installation, at the version last applied.

    ``base`` holds the documents that version said (``kind -> key -> document``, as loaded
    from the pack), not what the installation has now: the next upgrade merges against it.
    """

    __tablename__ = "pack_installed"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    version: Mapped[str] = mapped_column(String(40))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    base: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    objects: Mapped[list[PackObject]] = relationship(
        back_populates="pack", order_by="PackObject.id", cascade="all, delete-orphan"
    )


class PackObject(Base):
    """A configuration object (``kind``, ``key`` as in the pack's files) and the pack it came
    from. An object belongs to one pack."""

    __tablename__ = "pack_object"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pack_id: Mapped[int] = mapped_column(ForeignKey("pack_installed.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(100))
    #: the pack dropped it in a later version (it was archived, not deleted)
    archived: Mapped[bool] = mapped_column(default=False)

    pack: Mapped[InstalledPack] = relationship(back_populates="objects")
