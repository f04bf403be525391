"""Slowing down repeated failed logins for one user name.

After ``FREE_FAILURES`` failures, each further try must wait twice as long as the one before
(1 s, 2 s, 4 s ... up to ``MAX_WAIT``). A success clears the count. Counted per user name so
an attacker cannot spread guesses for one account over many addresses.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from trellis.access.models import LoginThrottle
from trellis.clock import utcnow
from trellis.errors import TrellisError

FREE_FAILURES = 5
MAX_WAIT = timedelta(minutes=15)


class TooManyAttempts(TrellisError):
    """Logins for this user are paused; ``retry_after`` is in seconds."""

    status = 429
    title = "Too many failed logins"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed logins. Try again in {retry_after} s.")
        self.retry_after = retry_after


def check_allowed(session: Session, username: str) -> None:
    """Raise :class:`TooManyAttempts` while logins for ``username`` are paused."""
    row = session.get(LoginThrottle, username.lower())
    if row is not None and row.blocked_until is not None:
        wait = (row.blocked_until - utcnow()).total_seconds()
        if wait > 0:
            raise TooManyAttempts(int(wait) + 1)


def record_failure(session: Session, username: str) -> None:
    """Count a failed login; past the free ones, pause further tries."""
    key = username.lower()[:64]
    row = session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(username=key, failures=0)
        session.add(row)
    row.failures += 1
    if row.failures >= FREE_FAILURES:
        wait = min(timedelta(seconds=2 ** (row.failures - FREE_FAILURES)), MAX_WAIT)
        row.blocked_until = utcnow() + wait
    session.flush()


def record_success(session: Session, username: str) -> None:
    """Forget the failures of ``username``."""
    row = session.get(LoginThrottle, username.lower())
    if row is not None:
        session.delete(row)
