"""API tokens: issued for a user, stored hashed, with an expiry, revocable."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trellis.access.models import ApiToken
from trellis.accounts import User
from trellis.clock import utcnow

TOKEN_PREFIX = "trl_"
DEFAULT_LIFETIME = timedelta(days=30)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session, user: User, lifetime: timedelta = DEFAULT_LIFETIME
) -> tuple[str, ApiToken]:
    """A new token for ``user``: the clear text (shown once) and its stored row."""
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=_digest(clear),
        prefix=clear[:12],
        expires_at=utcnow() + lifetime,
    )
    session.add(row)
    session.flush()
    return clear, row


LAST_USED_PRECISION = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token, so reads stay reads."""


def user_for_token(session: Session, clear: str) -> tuple[User, ApiToken] | None:
    """The active user behind a valid, unexpired, unrevoked token; None otherwise.

    One indexed lookup; nothing is written (see :func:`note_use`)."""
    if not clear.startswith(TOKEN_PREFIX) or len(clear) > 200:
        return None
    found = session.execute(
        select(User, ApiToken)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == _digest(clear))
    ).first()
    if found is None:
        return None
    user, row = found
    if row.revoked_at is not None or row.expires_at <= utcnow() or not user.is_active:
        return None
    return user, row


def needs_use_noted(row: ApiToken) -> bool:
    """Whether ``row.last_used_at`` is older than its precision (a write is due)."""
    return row.last_used_at is None or row.last_used_at <= utcnow() - LAST_USED_PRECISION


def note_use(session: Session, token_id: int) -> None:
    """Record that a token was used now."""
    note_uses(session, [token_id])


def note_uses(session: Session, token_ids: Iterable[int]) -> None:
    """Record that tokens were used now (one UPDATE; nothing when there are none)."""
    ids = sorted(set(token_ids))
    if ids:
        session.execute(update(ApiToken).where(ApiToken.id.in_(ids)).values(last_used_at=utcnow()))


class PendingUses:
    """Tokens used by reads of this process since its last write: a read never writes, so
    their ``last_used_at`` goes with the process's next writing transaction."""

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._since: datetime | None = None
        self._lock = threading.Lock()

    def add(self, token_id: int) -> None:
        with self._lock:
            self._ids.add(token_id)
            self._since = self._since or utcnow()

    def take(self) -> list[int]:
        with self._lock:
            ids, self._ids, self._since = sorted(self._ids), set(), None
        return ids

    def overdue(self) -> bool:
        """Whether uses have waited longer than ``last_used_at``'s precision for a write
        (a process that only serves reads writes them after a request, once a minute)."""
        since = self._since
        return since is not None and since <= utcnow() - LAST_USED_PRECISION


def revoke_token(session: Session, row: ApiToken, when: datetime | None = None) -> None:
    """Make ``row`` unusable from now on."""
    row.revoked_at = when or utcnow()


def revoke_user_tokens(session: Session, user_id: int, when: datetime | None = None) -> int:
    """Make every token of one user unusable (their password or roles changed); how many."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=when or utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount
