"""Who a bearer token stands for, looked up in one statement and kept a few seconds in memory,
so that most API requests authenticate without touching the database.

A token, its user and the user's roles are read with one indexed query (:func:`find_bearer`).
:class:`BearerCache` keeps what it found for :data:`CACHE_SECONDS`:

* in this process a change takes effect at once: every connection of a watched engine
  (:func:`watch`) that writes to the tables deciding a token (tokens, users, roles and the
  users' roles) or its holder's rights (the roles' permissions) empties every cache of the
  process when it commits (the rights' cache, ``access.remembered``, too) (before and again right
  after the commit, so a lookup racing with the commit cannot keep the old answer);
* another process sees a revoked token, a disabled user or changed roles within
  :data:`CACHE_SECONDS`, when its entry runs out;
* an expired token stops at its expiry (checked on every use);
* an answer read in a transaction that began before such a commit is not kept either: on
  SQLite its snapshot may predate the change (:func:`note_transaction_began`, set by every
  transaction of a runtime, tells when it began).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from time import monotonic
from typing import Any, Protocol

from sqlalchemy import Engine, bindparam, event, select
from sqlalchemy.orm import Session

from trellis.access.models import ApiToken
from trellis.access.tokens import LAST_USED_PRECISION, TOKEN_PREFIX, _digest
from trellis.accounts import Actor, Role, User, user_roles
from trellis.clock import utcnow

CACHE_SECONDS = 5.0
"""How long a token's holder is kept: other processes see a revocation within this time."""
MAX_ENTRIES = 10_000
"""A cache that grows past this is emptied (a flood of different valid tokens)."""
#: the tables whose changes can end a token or change what its holder may be or do
#: (auth_user_role contains auth_user)
AUTH_TABLES = ("auth_token", "auth_user", "auth_role", "auth_permission", "auth_field_permission")
_CHANGED = "trellis.auth_changed"
_BEGAN = "trellis.auth_epoch"
"""``session.info`` key: the :data:`_EPOCH` when the session's transaction began."""
#: how many times the caches of the process were emptied (:func:`forget_all`)
_EPOCH = [0]


@dataclass
class Bearer:
    """The holder of a valid token, as of :attr:`loaded` (``time.monotonic``)."""

    actor: Actor
    token_id: int
    expires_at: datetime
    last_used_at: datetime | None
    loaded: float

    def use_due(self, now: datetime | None = None) -> bool:
        """Whether the token's ``last_used_at`` is older than its precision (a write is due)
        at ``now`` (default: now)."""
        used = self.last_used_at
        return used is None or used <= (now or utcnow()) - LAST_USED_PRECISION


_LOOKUP = (
    select(
        ApiToken.id,
        ApiToken.expires_at,
        ApiToken.revoked_at,
        ApiToken.last_used_at,
        User.id.label("user_id"),
        User.username,
        User.is_active,
        Role.key.label("role"),
    )
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(user_roles, user_roles.c.user_id == User.id)
    .outerjoin(Role, Role.id == user_roles.c.role_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)


def find_bearer(session: Session, clear: str) -> Bearer | None:
    """The holder of a valid, unexpired, unrevoked token of an active user; None otherwise.
    One indexed query (a row per role of the user); nothing is written."""
    if not clear.startswith(TOKEN_PREFIX) or len(clear) > 200:
        return None
    rows = session.execute(_LOOKUP, {"digest": _digest(clear)}).all()
    if not rows:
        return None
    first = rows[0]
    if first.revoked_at is not None or first.expires_at <= utcnow() or not first.is_active:
        return None
    roles = frozenset(row.role for row in rows if row.role is not None)
    return Bearer(
        Actor(first.user_id, first.username, roles),
        first.id,
        first.expires_at,
        first.last_used_at,
        monotonic(),
    )


class BearerCache:
    """Token holders by the token's digest, for :data:`CACHE_SECONDS` (one per runtime)."""

    def __init__(self, seconds: float = CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._entries: dict[str, Bearer] = {}
        self._generation = 0
        self._lock = threading.Lock()
        forgotten_with_auth_changes(self)

    def get(self, clear: str, now: datetime | None = None) -> Bearer | None:
        """The cached holder of ``clear`` if still fresh and unexpired (at ``now``, default:
        now); None: look it up."""
        if not self._entries:
            return None
        digest = _digest(clear)
        found = self._entries.get(digest)
        if found is None:
            return None
        if monotonic() - found.loaded > self.seconds or found.expires_at <= (now or utcnow()):
            self._entries.pop(digest, None)
            return None
        return found

    def load(self, session: Session, clear: str) -> Bearer | None:
        """Look ``clear`` up in ``session`` and keep a valid holder (unless the tables changed
        in this process meanwhile: the answer may predate the change)."""
        generation = self._generation
        found = find_bearer(session, clear)
        if found is not None:
            with self._lock:
                if generation == self._generation and unchanged_since_began(session):
                    if len(self._entries) >= MAX_ENTRIES:
                        self._entries.clear()
                    self._entries[_digest(clear)] = found
        return found

    def noted(self, bearer: Bearer) -> None:
        """The token's use was noted now: not due again for a while."""
        bearer.last_used_at = utcnow()

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


class _Forgetful(Protocol):
    def clear(self) -> None: ...


_CACHES: weakref.WeakSet[_Forgetful] = weakref.WeakSet()


def forgotten_with_auth_changes(cache: _Forgetful) -> None:
    """Have ``cache`` emptied (its ``clear()``) with the bearer caches: whenever a watched
    engine commits a change to :data:`AUTH_TABLES` (see :func:`watch`)."""
    _CACHES.add(cache)


def forget_all() -> None:
    """Empty every cache of the process (the tables deciding tokens or rights changed)."""
    _EPOCH[0] += 1
    for cache in list(_CACHES):
        cache.clear()


def note_transaction_began(session: Session) -> None:
    """Note in ``session`` that its transaction begins now, before any of its statements:
    what it reads of the tables deciding tokens and rights is kept only if no change to
    them was committed in this process since (:func:`unchanged_since_began`)."""
    session.info[_BEGAN] = _EPOCH[0]


def unchanged_since_began(session: Session) -> bool:
    """Whether no change to :data:`AUTH_TABLES` was committed in this process since
    ``session``'s transaction began (see :func:`note_transaction_began`; True when it was not
    noted). A transaction that began before such a commit may read what was there before
    it (SQLite's snapshot is taken at its first read), though it asks after the commit."""
    began = session.info.get(_BEGAN)
    return began is None or began == _EPOCH[0]


#: verdicts of :func:`writes_auth_tables` by statement text (SQLAlchemy hands out the same
#: compiled text for a cached statement, so a statement's text is looked up, not scanned)
_VERDICTS: dict[str, bool] = {}
#: statements longer than this are scanned every time (few, and not worth keeping)
_VERDICT_MAX_LENGTH = 4000
_VERDICTS_MAX = 4096


def writes_auth_tables(statement: str) -> bool:
    """Whether ``statement`` writes (UPDATE, DELETE, INSERT) one of :data:`AUTH_TABLES`."""
    verdict = _VERDICTS.get(statement)
    if verdict is None:
        verdict = statement[:6].upper() in ("UPDATE", "DELETE", "INSERT") and any(
            table in statement for table in AUTH_TABLES
        )
        if len(statement) <= _VERDICT_MAX_LENGTH:
            if len(_VERDICTS) >= _VERDICTS_MAX:
                _VERDICTS.clear()
            _VERDICTS[statement] = verdict
    return verdict


def wrote_auth_tables(session: Session) -> bool:
    """Whether ``session``'s transaction has written to :data:`AUTH_TABLES` (on a watched
    engine; not committed yet)."""
    return session.connection().info.get(_CHANGED) is True


def watch(engine: Engine) -> None:
    """Empty every cache of the process whenever a connection of ``engine`` commits a change
    to the tables that decide a token (whatever wrote it: the ORM, Core or plain SQL).

    The watch sits in the engine's dialect (its ``do_execute``, ``do_commit``... wrapped),
    not in engine event listeners: with any such listener SQLAlchemy dispatches its events
    around every statement of every connection, which costs more than the watch itself."""
    dialect = engine.dialect
    execute, execute_many = dialect.do_execute, dialect.do_executemany
    execute_no_params = dialect.do_execute_no_params
    begin, commit, rollback = dialect.do_begin, dialect.do_commit, dialect.do_rollback

    def noted(statement: str, context: Any) -> None:
        if context is not None and writes_auth_tables(statement):
            context.root_connection.info[_CHANGED] = True

    verdicts = _VERDICTS

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        execute(cursor, statement, parameters, context)
        if verdicts.get(statement) is not False:  # (most statements: known to write none)
            noted(statement, context)

    def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        execute_many(cursor, statement, parameters, context)
        noted(statement, context)

    def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
        execute_no_params(cursor, statement, context)
        noted(statement, context)

    def do_commit(dbapi_connection: Any) -> None:
        info = _info_of(dbapi_connection)
        if info is not None and info.get(_CHANGED):
            forget_all()
            info[_CHANGED] = "committed"
        commit(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        info = _info_of(dbapi_connection)
        if info is not None and info.get(_CHANGED) is True:  # nothing was committed
            info.pop(_CHANGED)
        rollback(dbapi_connection)

    def do_begin(dbapi_connection: Any) -> None:
        info = _info_of(dbapi_connection)
        # a connection kept for more work after a commit that changed the tables
        if info is not None and info.get(_CHANGED) == "committed":
            info.pop(_CHANGED)
            forget_all()
        begin(dbapi_connection)

    dialect.do_execute = do_execute  # type: ignore[method-assign]
    dialect.do_executemany = do_executemany  # type: ignore[method-assign]
    dialect.do_execute_no_params = do_execute_no_params  # type: ignore[method-assign]
    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]
    dialect.do_begin = do_begin  # type: ignore[method-assign]

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_con: Any, record: Any) -> None:
        if record.info.pop(_CHANGED, None) == "committed":
            forget_all()  # again, now that the commit is visible to every reader


def _info_of(dbapi_connection: Any) -> dict[str, Any] | None:
    """The pool's info of a checked-out connection (None for the ad hoc one SQLAlchemy rolls
    back when it first connects)."""
    try:
        return dbapi_connection.info  # type: ignore[no-any-return]
    except (AttributeError, NotImplementedError):
        return None
