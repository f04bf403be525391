"""Slowing down repeated failed logins for one user name from one client address.

After ``FREE_FAILURES`` failures, each further try must wait twice as long as the one before
(1 s, 2 s, 4 s ... up to ``MAX_WAIT``). A success clears the count, and failures older than
``FORGET_AFTER`` are forgotten. Counted per user name *and* address: guesses from one address
are slowed down, while the same user signing in from anywhere else is not locked out by them
(an attacker must not be able to lock the administrator out of their own system).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from trellis.access.models import LoginThrottle
from trellis.clock import utcnow
from trellis.errors import TrellisError

FREE_FAILURES = 5
MAX_WAIT = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=24)


class TooManyAttempts(TrellisError):
    """Logins for this user are paused; ``retry_after`` is in seconds."""

    status = 429
    title = "Too many failed logins"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed logins. Try again in {retry_after} s.")
        self.retry_after = retry_after


def _key(username: str, address: str | None) -> tuple[str, str]:
    return username.lower()[:64], (address or "")[:64]


def check_allowed(session: Session, username: str, address: str | None) -> bool:
    """Raise :class:`TooManyAttempts` while logins for ``username`` from ``address`` are
    paused; otherwise whether failures are on record (a success must forget them)."""
    row = session.get(LoginThrottle, _key(username, address))
    if row is not None and row.blocked_until is not None:
        wait = (row.blocked_until - utcnow()).total_seconds()
        if wait > 0:
            raise TooManyAttempts(int(wait) + 1)
    return row is not None


def record_failure(session: Session, username: str, address: str | None) -> None:
    """Count a failed login; past the free ones, pause further tries from that address."""
    now = utcnow()
    session.execute(
        delete(LoginThrottle)
        .where(LoginThrottle.last_failure_at < now - FORGET_AFTER)
        .execution_options(synchronize_session=False)
    )
    name, where = _key(username, address)
    row = session.get(LoginThrottle, (name, where))
    if row is None:
        row = LoginThrottle(username=name, address=where, failures=0)
        session.add(row)
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= FREE_FAILURES:
        wait = min(timedelta(seconds=2 ** min(row.failures - FREE_FAILURES, 20)), MAX_WAIT)
        row.blocked_until = now + wait
    session.flush()


def record_success(session: Session, username: str, address: str | None) -> None:
    """Forget the failures of ``username`` from ``address``."""
    row = session.get(LoginThrottle, _key(username, address))
    if row is not None:
        session.delete(row)
