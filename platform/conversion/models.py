"""Conversion maps and duplicate rules, stored as data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from trellis.clock import utcnow
from trellis.db import Base


class ConversionMap(Base):
    """How records of ``source`` become records of other entity types.

    ``targets`` is ``{"<entity>": {"fields": {"<target field>": <source>}, "pipeline"?,
    "stage"?, "values"?: {"<target field>": {"<source option>": "<target option>"}}}}`` where
    ``<source>`` is a source field key, ``{"value": constant}`` or ``{"expr": "..."}``.
    """

    __tablename__ = "conversion_map"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    source: Mapped[str] = mapped_column(String(40), index=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    targets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DuplicateRule(Base):
    """Records of ``entity`` whose ``fields`` all match (normalised: case, spaces, phone
    punctuation) are duplicate candidates."""

    __tablename__ = "duplicate_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(40), index=True)
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
