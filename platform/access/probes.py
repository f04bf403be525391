"""Probing hidden fields through refused writes: audited and slowed down like failed logins.

A rule that names a field hidden from the caller, or a unique value taken on a record they
cannot read, still has to refuse a write; each refusal tells a little (is the margin above
this amount?). The record service words such refusals without naming the hidden field and
notes each one as a probe in ``session.info``; :func:`keep_probes` stores them after the
request's transaction, whatever its outcome (a dry run or a refused write rolls back
everything else). Past ``FREE_PROBES`` in ``WINDOW``, each further probe must wait twice as
long as the one before (1 s, 2 s, 4 s ... up to ``MAX_WAIT``), and the refusal is a 429 that
says nothing about the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trellis.access.models import ProbeEvent
from trellis.clock import as_utc, utcnow
from trellis.errors import TrellisError

FREE_PROBES = 5
WINDOW = timedelta(hours=1)
MAX_WAIT = timedelta(minutes=15)
#: where the probes of the current transaction wait to be stored
PENDING = "trellis.probes"


@dataclass(frozen=True)
class Probe:
    user_id: int | None
    entity: str
    record_id: int | None
    fields: tuple[str, ...]


class TooManyProbes(TrellisError):
    """Writes refused because of hidden fields came too often; ``retry_after`` in seconds."""

    status = 429
    title = "Too many refused changes"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many changes were refused because of information you cannot see. "
            f"Try again in {retry_after} s."
        )
        self.retry_after = retry_after


def note_probe(session: Session, probe: Probe) -> None:
    """Count ``probe`` (stored after the transaction); raise :class:`TooManyProbes` once the
    caller has probed too often, before they learn anything from this one."""
    pending: list[Probe] = session.info.setdefault(PENDING, [])
    pending.append(probe)
    since = utcnow() - WINDOW
    stored = session.execute(
        select(func.count(), func.max(ProbeEvent.at)).where(
            ProbeEvent.user_id == probe.user_id, ProbeEvent.at >= since
        )
    ).one()
    count = stored[0] + sum(1 for p in pending if p.user_id == probe.user_id)
    if count <= FREE_PROBES:
        return
    if stored[1] is None or count - stored[0] > 1:
        # several probes in one request (e.g. the rows of one import): no waiting between
        raise TooManyProbes(1)
    wait = min(timedelta(seconds=2 ** (count - FREE_PROBES - 1)), MAX_WAIT)
    left = (as_utc(stored[1]) + wait - as_utc(utcnow())).total_seconds()
    if left > 0:
        raise TooManyProbes(int(left) + 1)


def keep_probes(session: Session, probes: Iterable[Probe]) -> None:
    """Store ``probes`` (in a transaction of their own, after the request's)."""
    now = utcnow()
    session.add_all(
        ProbeEvent(
            user_id=p.user_id,
            at=now,
            entity=p.entity,
            record_id=p.record_id,
            fields=",".join(p.fields)[:400],
        )
        for p in probes
    )
