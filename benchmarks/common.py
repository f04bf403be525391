"""Shared set-up for the benchmarks: a fresh database (SQLite file or a new PostgreSQL
database), the 10-field entity type, and the same table as a hand-written static model."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import marshmallow as ma
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Integer,
    Numeric,
    String,
    Text,
    create_engine,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trellis.clock import utcnow
from trellis.runtime import Runtime

FIELDS = {
    "name": ("text", {"required": True}),
    "code": ("text", {"indexed": True}),
    "notes": ("long_text", {}),
    "quantity": ("integer", {"settings": {"min": 0}}),
    "rate": ("decimal", {"settings": {"precision": 12, "scale": 2}}),
    "amount": ("money", {"settings": {"currencies": ["EUR", "USD"]}, "indexed": True}),
    "active": ("boolean", {}),
    "due": ("date", {}),
    "email": ("email", {}),
    "status": ("list", {"settings": {"list": "status"}, "indexed": True}),
}
STATUSES = ["open", "won", "lost"]


def row_values(i: int) -> dict:
    """The input of record ``i`` (the same for both sides)."""
    return {
        "name": f"Record {i}",
        "code": f"C{i:07d}",
        "notes": "Some notes about the record",
        "quantity": i % 100,
        "rate": f"{i % 1000}.25",
        "amount": {"amount": f"{(i * 37) % 100000}.50", "currency": "EUR"},
        "active": i % 2 == 0,
        "due": "2026-11-24",
        "email": f"user{i}@example.com",
        "status": STATUSES[i % 3],
    }


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    """A fresh database URL: a temp SQLite file, or a new database on the PostgreSQL server."""
    if not url or url.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def platform_runtime(url: str) -> Runtime:
    """A runtime with the benchmark entity type ``item`` (10 custom fields, two rules)."""
    runtime = Runtime.from_settings(
        {"DATABASE_URL": url, "SECRET_KEY": "bench", "INSTANCE_PATH": tempfile.gettempdir()}
    )
    runtime.initialise()
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        meta.create_list("status", "Status", [{"key": k, "label": k.title()} for k in STATUSES])
        meta.create_entity("item", "Item")
        for key, (type_name, options) in FIELDS.items():
            meta.add_field("item", key, key.title(), type_name, **options)
        meta.add_rule("item", "required", field="email", when="quantity > 50")
        meta.add_rule(
            "item",
            "validation",
            expression="rate is None or rate >= 0",
            message="No negative rates.",
        )
    return runtime


class Base(DeclarativeBase):
    pass


class StaticItem(Base):
    """The same table, written by hand."""

    __tablename__ = "static_item"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    owner_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    name: Mapped[str] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(Text, index=True)
    notes: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[int | None] = mapped_column(BigInteger)
    rate: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    amount_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), index=True)
    amount_currency: Mapped[str | None] = mapped_column(String(3))
    active: Mapped[bool | None] = mapped_column(Boolean)
    due: Mapped[date | None] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(40), index=True)


class StaticAudit(Base):
    __tablename__ = "static_audit"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    record_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(DateTime)
    changes: Mapped[dict] = mapped_column(JSON)


class MoneySchema(ma.Schema):
    amount = ma.fields.Decimal(required=True)
    currency = ma.fields.String(validate=ma.validate.OneOf(["EUR", "USD"]))


class StaticItemSchema(ma.Schema):
    """The hand-written validation of the same input."""

    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=255))
    code = ma.fields.String(validate=ma.validate.Length(max=255))
    notes = ma.fields.String()
    quantity = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0))
    rate = ma.fields.Decimal(places=None)
    amount = ma.fields.Nested(MoneySchema)
    active = ma.fields.Boolean()
    due = ma.fields.Date()
    email = ma.fields.Email()
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))


def insert_static(session: Any, schema: StaticItemSchema, raw: dict) -> None:
    """The hand-written create: validate with the schema, apply the two rules by hand,
    insert the static row and its audit row."""
    data = schema.load(raw)
    if data.get("quantity", 0) > 50 and not data.get("email"):
        raise ValueError("email required")
    if data.get("rate") is not None and data["rate"] < Decimal(0):
        raise ValueError("negative rate")
    money = data.pop("amount")
    now = utcnow()
    item = StaticItem(
        **data,
        amount_amount=money["amount"],
        amount_currency=money["currency"],
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    changes = {k: [None, str(v)] for k, v in raw.items()}
    session.add(StaticAudit(record_id=item.id, action="create", at=now, changes=changes))


def print_rates(what: str, database_url: str | None, n: int, unit: str, timings: dict) -> None:
    """Both rates and the ratio (metamodel time / hand-written time)."""
    backend = "PostgreSQL" if database_url and not database_url.startswith("sqlite") else "SQLite"
    print(what.format(backend=backend))
    for side, seconds in timings.items():
        print(f"  {side:13s} {n / seconds:10.0f} {unit}/s  ({seconds:.1f} s)")
    ratio = timings["metamodel"] / timings["hand-written"]
    print(f"  ratio (metamodel / hand-written time): {ratio:.2f}")
