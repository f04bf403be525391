"""The outbox: effects that leave the system (webhook calls) are written as rows in the same
transaction as the record change that caused them, and delivered afterwards by the worker.

A rolled-back change leaves no row, so nothing is sent for a write that did not happen; a
committed change always has its row, so nothing is lost. Delivery claims a due row with a
lease (``claimed_until``) in a short transaction of its own, delivers outside any transaction,
and records the outcome only if it still holds the claim. Several workers share the work:
on PostgreSQL the claim skips rows another worker has locked (``FOR UPDATE SKIP LOCKED``); on
SQLite the single writer lock serialises claims. Each claim is checked by an
``UPDATE ... WHERE id = ? AND status = ?`` so one attempt is made by one worker only. A worker
that dies mid-delivery loses nothing: once its lease expires the row is claimed again.

A failed attempt is retried with exponential backoff (``attempts``, ``next_attempt_at``,
``last_error``); after ``max_attempts`` the row is ``failed`` and shows in the admin, where it
can be retried.

Finished rows do not pile up: the worker's ``outbox_cleanup`` job removes delivered rows
``OUTBOX_RETENTION_DAYS`` after delivery and failed ones ``OUTBOX_FAILED_RETENTION_DAYS`` after
their last attempt, :data:`CLEANUP_BATCH` rows per short transaction (a round with nothing to
remove only reads).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    String,
    Text,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from trellis.clock import to_storage, utcnow
from trellis.db import Base

log = logging.getLogger("trellis.outbox")

STATUSES = ("pending", "sending", "delivered", "failed")
#: attempts before an entry is marked failed
MAX_ATTEMPTS = 8
#: the first retry waits this long; each next one twice as long, up to BACKOFF_CAP
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
#: how long a claim holds: a worker that has not reported by then is taken as dead
LEASE = timedelta(minutes=5)
#: entries one worker claims per round
BATCH = 10
#: the longest one delivery may take (a webhook's timeout is shorter): an entry whose lease
#: has less than this left when its turn comes is handed back instead of sent, so it is never
#: sent by this worker while another one, seeing the lease run out, sends it too
DELIVERY_ALLOWANCE = timedelta(seconds=30)
#: the longest error text kept
ERROR_LENGTH = 2000
#: finished entries removed per transaction by the cleanup job
CLEANUP_BATCH = 500
#: how long finished entries are kept when the settings do not say
RETENTION = timedelta(days=7)
FAILED_RETENTION = timedelta(days=90)


class OutboxEntry(Base):
    """One effect to deliver: ``kind`` says how (``webhook``), ``target`` to whom (the
    webhook's key), ``payload`` what (JSON)."""

    __tablename__ = "outbox_entry"
    __table_args__ = (Index("ix_outbox_entry_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: what caused it, in words ("automation 'big_deal' on deal 12")
    source: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=MAX_ATTEMPTS)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)


class DeliveryFailed(Exception):
    """A delivery attempt failed; the message is kept as ``last_error``."""


#: how each kind is delivered: ``deliver(runtime, entry) -> None`` or raises
Deliverer = Callable[[Any, "Claimed"], None]
DELIVERERS: dict[str, Deliverer] = {}


def register_deliverer(kind: str, deliver: Deliverer) -> None:
    """Deliver outbox entries of ``kind`` with ``deliver(runtime, claimed)``."""
    DELIVERERS[kind] = deliver


def enqueue(
    session: Session, kind: str, target: str, payload: dict[str, Any], source: str = ""
) -> OutboxEntry:
    """Add an effect to deliver once the caller's transaction commits (due at once)."""
    entry = OutboxEntry(
        kind=kind,
        target=target,
        payload=payload,
        source=source[:200],
        status="pending",
        attempts=0,
        max_attempts=MAX_ATTEMPTS,
        next_attempt_at=utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class Claimed:
    """An entry this worker holds for one attempt (``attempt`` counts from 1)."""

    id: int
    kind: str
    target: str
    payload: dict[str, Any]
    attempt: int
    token: str


def backoff(attempt: int) -> timedelta:
    """The wait after failed attempt number ``attempt`` (1, 2, ...): 30 s, 1 min, 2 min..."""
    return min(BACKOFF_BASE * (2 ** max(attempt - 1, 0)), BACKOFF_CAP)


def _due(now: datetime) -> Any:
    e = OutboxEntry
    return or_(
        (e.status == "pending") & (e.next_attempt_at <= now),
        (e.status == "sending") & (e.claimed_until < now),
    )


def any_due(session: Session, now: datetime) -> bool:
    """Whether some entry is due (a read: an idle worker takes no write lock)."""
    return session.scalar(select(OutboxEntry.id).where(_due(to_storage(now))).limit(1)) is not None


def claim_due(session: Session, now: datetime, limit: int = BATCH) -> list[Claimed]:
    """Claim up to ``limit`` due entries for one attempt each: pending ones whose time has
    come and ones whose claim's lease ran out (their worker died)."""
    now = to_storage(now)
    e = OutboxEntry
    query = select(e).where(_due(now)).order_by(e.next_attempt_at, e.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for entry in session.scalars(query).all():
        token = uuid.uuid4().hex
        # the row as read: another worker may have claimed it since (SQLite reads before the
        # write lock only in a deferred transaction; the check makes it safe either way)
        won = session.execute(
            update(e)
            .where(e.id == entry.id, e.status == entry.status, e.attempts == entry.attempts)
            .values(
                status="sending",
                claimed_by=token,
                claimed_until=now + LEASE,
                attempts=e.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if won == 1:
            claimed.append(
                Claimed(
                    entry.id,
                    entry.kind,
                    entry.target,
                    dict(entry.payload or {}),
                    entry.attempts + 1,
                    token,
                )
            )
    return claimed


def finish(session: Session, claimed: Claimed, now: datetime, error: str | None) -> bool:
    """Record the outcome of an attempt, if this worker still holds the claim (a worker whose
    lease ran out must not overwrite the outcome of the one that took over)."""
    now = to_storage(now)
    e = OutboxEntry
    held = (e.id == claimed.id) & (e.claimed_by == claimed.token) & (e.status == "sending")
    if error is None:
        values: dict[str, Any] = {
            "status": "delivered",
            "delivered_at": now,
            "last_error": None,
            "claimed_until": None,
        }
    else:
        max_attempts = session.scalar(select(e.max_attempts).where(e.id == claimed.id))
        gave_up = claimed.attempt >= (max_attempts or MAX_ATTEMPTS)
        values = {
            "status": "failed" if gave_up else "pending",
            "last_error": error[:ERROR_LENGTH],
            "next_attempt_at": now + backoff(claimed.attempt),
            "claimed_until": None,
        }
    result = session.execute(
        update(e).where(held).values(**values).execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def release(session: Session, claimed: Claimed) -> bool:
    """Hand back a claimed entry unsent (its attempt does not count), if still held."""
    e = OutboxEntry
    held = (e.id == claimed.id) & (e.claimed_by == claimed.token) & (e.status == "sending")
    result = session.execute(
        update(e)
        .where(held)
        .values(status="pending", attempts=e.attempts - 1, claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def retry(session: Session, entry_id: int, now: datetime | None = None) -> OutboxEntry:
    """Send a failed (or waiting) entry again at once, with a fresh set of attempts."""
    from trellis.errors import BadRequest, NotFound

    entry = session.get(OutboxEntry, entry_id)
    if entry is None:
        raise NotFound(f"No outbox entry {entry_id}.")
    if entry.status in ("delivered", "sending"):
        raise BadRequest(f"Entry {entry_id} is {entry.status}; only waiting or failed ones retry.")
    entry.status = "pending"
    entry.next_attempt_at = to_storage(now or utcnow())
    entry.max_attempts = entry.attempts + MAX_ATTEMPTS
    session.flush()
    return entry


def deliver_due(runtime: Any, now: datetime, limit: int = BATCH) -> int:
    """The worker's outbox job: claim due entries, deliver each outside any transaction,
    record each outcome. Returns how many attempts were made."""
    with runtime.transaction(read_only=True) as session:
        if not any_due(session, now):
            return 0
    with runtime.transaction(read_only=False) as session:
        claimed = claim_due(session, now, limit)
    started = monotonic()
    for position, item in enumerate(claimed):
        held = timedelta(seconds=monotonic() - started)
        if held > LEASE - DELIVERY_ALLOWANCE:  # slow receivers ate the lease: hand back
            with runtime.transaction(read_only=False) as session:
                for rest in claimed[position:]:
                    release(session, rest)
            return position
        deliver = DELIVERERS.get(item.kind)
        error = None
        try:
            if deliver is None:
                raise DeliveryFailed(f"No way to deliver {item.kind!r} entries.")
            deliver(runtime, item)
        except Exception as exc:  # any failure is kept on the row and retried
            error = str(exc) or type(exc).__name__
            log.warning("outbox entry %s attempt %s failed: %s", item.id, item.attempt, error)
        with runtime.transaction(read_only=False) as session:
            finish(session, item, now, error)
    return len(claimed)


def _expired(now: datetime, retention: timedelta, failed_retention: timedelta) -> Any:
    """Finished entries past their keeping time: delivered ones by their delivery (due
    before it, so the due index narrows them), failed ones by their last attempt."""
    e = OutboxEntry
    delivered_before = to_storage(now - retention)
    failed_before = to_storage(now - failed_retention)
    return or_(
        (e.status == "delivered")
        & (e.next_attempt_at < delivered_before)
        & (e.delivered_at < delivered_before),
        # a failed entry's next_attempt_at is its last attempt plus its backoff (kept a
        # little longer rather than removed early)
        (e.status == "failed") & (e.next_attempt_at < failed_before),
    )


def remove_expired(
    session: Session,
    now: datetime,
    retention: timedelta = RETENTION,
    failed_retention: timedelta = FAILED_RETENTION,
    limit: int = CLEANUP_BATCH,
) -> int:
    """Remove up to ``limit`` finished entries past their keeping time (oldest first);
    how many went."""
    e = OutboxEntry
    ids = list(
        session.scalars(
            select(e.id)
            .where(_expired(now, retention, failed_retention))
            .order_by(e.id)
            .limit(limit)
        )
    )
    if not ids:
        return 0
    session.execute(delete(e).where(e.id.in_(ids)).execution_options(synchronize_session=False))
    return len(ids)


def clean_up(runtime: Any, now: datetime) -> int:
    """The worker's ``outbox_cleanup`` job: one batch of expired entries per round, in a
    short write transaction, after a read finds one (an idle round takes no write lock)."""
    settings = getattr(runtime, "settings", {}) or {}
    retention = timedelta(days=settings.get("OUTBOX_RETENTION_DAYS", RETENTION.days))
    failed = timedelta(days=settings.get("OUTBOX_FAILED_RETENTION_DAYS", FAILED_RETENTION.days))
    expired = select(OutboxEntry.id).where(_expired(now, retention, failed)).limit(1)
    with runtime.transaction(read_only=True) as session:
        if session.scalar(expired) is None:
            return 0
    with runtime.transaction(read_only=False) as session:
        return remove_expired(session, now, retention, failed, CLEANUP_BATCH)


def counts(session: Session) -> dict[str, int]:
    """Entries by status."""
    from sqlalchemy import func

    rows = session.execute(
        select(OutboxEntry.status, func.count()).group_by(OutboxEntry.status)
    ).all()
    return {status: 0 for status in STATUSES} | {s: n for s, n in rows}


def _register() -> None:
    import trellis.flows.webhooks  # noqa: F401  (registers the webhook deliverer)
    from trellis.flows.worker import register_job

    register_job("outbox", deliver_due, in_transaction=False)
    register_job("outbox_cleanup", clean_up, in_transaction=False)


_register()
