"""The rights of a set of roles, kept a few seconds in memory, so that a request by a user who
is not an administrator reads no permission tables.

What roles grant (:class:`trellis.access.policy.RoleRights`) depends only on their keys and
the tables ``auth_role``, ``auth_permission`` and ``auth_field_permission``, so users holding
the same roles share one entry. :class:`AccessCache` keeps it exactly as the bearer cache
keeps a token's holder (``access.bearers``):

* in this process a change takes effect at once: a commit of a watched engine that writes
  one of those tables empties every cache of the process (before and right after the
  commit), and an answer loaded while such a commit happened, or in a transaction that
  began before it (on SQLite it reads a snapshot older than the commit), is not kept;
* another process sees a grant change within :data:`CACHE_SECONDS`, when its entry runs out;
* a transaction that has written those tables (or has changes not yet flushed) reads the
  rights itself and keeps nothing: it sees its own changes, and an answer that may be rolled
  back is never kept. A read-only transaction (``db.READ_ONLY_SESSION``) has none to see.

A user's :class:`~trellis.access.policy.Access` is kept with the rights of their roles (an
administrator's too, by :func:`~trellis.access.policy.full_access`): a request that finds
them builds nothing.

Every :func:`trellis.access.policy.load_access` in a runtime's transaction goes through the
runtime's cache (``policy.RIGHTS_CACHE``).
"""

from __future__ import annotations

import threading
from time import monotonic

from sqlalchemy.orm import Session

from trellis.access.bearers import (
    CACHE_SECONDS,
    forgotten_with_auth_changes,
    unchanged_since_began,
    wrote_auth_tables,
)
from trellis.access.policy import Access, RoleRights, full_access, role_rights
from trellis.accounts import Actor
from trellis.db import READ_ONLY_SESSION

MAX_ENTRIES = 1_000
"""A cache that grows past this many role sets is emptied."""
MAX_USERS = 1_000
"""An entry that holds the Access of more users than this forgets them (not the rights)."""


class _Entry:
    """What a set of roles grants, since when, and the Access of each user holding them."""

    __slots__ = ("accesses", "loaded", "rights")

    def __init__(self, rights: RoleRights, loaded: float) -> None:
        self.rights = rights
        self.loaded = loaded
        self.accesses: dict[Actor, Access] = {}

    def access(self, actor: Actor) -> Access:
        found = self.accesses.get(actor)
        if found is None:
            if len(self.accesses) >= MAX_USERS:
                self.accesses = {}
            found = self.accesses[actor] = self.rights.access(actor)
        return found


class AccessCache:
    """Merged rights by set of role keys, for :data:`CACHE_SECONDS` (one per runtime)."""

    def __init__(self, seconds: float = CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._entries: dict[frozenset[str], _Entry] = {}
        self._generation = 0
        self._lock = threading.Lock()
        forgotten_with_auth_changes(self)

    def access(self, session: Session, actor: Actor) -> Access:
        """``actor``'s rights: from memory if fresh, else read in ``session`` and kept (unless
        the tables changed in this process meanwhile: the answer may predate the change)."""
        if actor.is_admin:
            return full_access(actor)
        if not session.info.get(READ_ONLY_SESSION) and (
            session.new or session.dirty or session.deleted or wrote_auth_tables(session)
        ):
            # this transaction may have changed what roles grant (a pack creating roles and
            # their grants, then checking a flow's approvers): its own view, never kept
            return role_rights(session, actor.roles).access(actor)
        found = self._entries.get(actor.roles)
        if found is not None and monotonic() - found.loaded <= self.seconds:
            return found.access(actor)
        generation = self._generation
        entry = _Entry(role_rights(session, actor.roles), monotonic())
        with self._lock:
            if generation == self._generation and unchanged_since_began(session):
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[actor.roles] = entry
        return entry.access(actor)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
