"""The one permission policy.

Roles grant, per entity type, create and a scope (``none`` / ``own`` / ``all``) for read,
update and delete, and mark fields hidden or read-only. ``admin`` may do everything. The record
service asks an :class:`Access` on every path, so lists, search, exports, history and links
all see the same rules. A record outside the caller's read scope is reported as not found.

A field is visible on a record only if a role whose read scope covers that record shows it:
with a role that reads every deal but hides the margin and one that reads the user's own deals
and hides nothing, the margin shows on the user's own deals only. Scopes only tell apart the
caller's own records from the others, so each entity type has two hidden sets (``own`` and
``other``) and the decision per record is a comparison of its owner, in Python or in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Table, false, select
from sqlalchemy.orm import Session

from trellis.access.models import SCOPES, FieldPermission, RolePermission
from trellis.accounts import Actor, Role

ACTIONS = ("read", "update", "delete")


@dataclass(frozen=True)
class EntityGrant:
    """What the caller may do with one entity type's records."""

    create: bool = False
    read: str = "none"
    update: str = "none"
    delete: str = "none"

    def scope(self, action: str) -> str:
        return getattr(self, action)

    def merge(self, other: EntityGrant) -> EntityGrant:
        """The more permissive of two grants (a user with several roles gets the union)."""
        best = {a: max(self.scope(a), other.scope(a), key=SCOPES.index) for a in ACTIONS}
        return EntityGrant(self.create or other.create, **best)


EVERYTHING = EntityGrant(True, "all", "all", "all")
NOTHING = EntityGrant()


@dataclass(frozen=True)
class Access:
    """The caller's rights, loaded once per request (or service) by :func:`load_access`."""

    actor: Actor
    unrestricted: bool = False
    grants: dict[str, EntityGrant] = field(default_factory=dict)
    #: fields hidden on the caller's own records, and on the records of others
    hidden_own: dict[str, frozenset[str]] = field(default_factory=dict)
    hidden_other: dict[str, frozenset[str]] = field(default_factory=dict)
    read_only: dict[str, frozenset[str]] = field(default_factory=dict)

    def grant(self, entity: str) -> EntityGrant:
        return EVERYTHING if self.unrestricted else self.grants.get(entity, NOTHING)

    def can(self, action: str, entity: str) -> bool:
        """Whether the caller may do ``action`` (create/read/update/delete) on any record."""
        grant = self.grant(entity)
        return grant.create if action == "create" else grant.scope(action) != "none"

    def allows(self, action: str, entity: str, owner_id: int | None) -> bool:
        """Whether the caller may do ``action`` on a record owned by ``owner_id``."""
        scope = self.grant(entity).scope(action)
        if scope == "all":
            return True
        return scope == "own" and owner_id is not None and owner_id == self.actor.user_id

    def scope_clause(
        self, action: str, entity: str, table: Table, owner: Any = None
    ) -> ColumnElement[bool] | None:
        """A WHERE condition limiting ``table`` to the records within scope (None: all).
        ``owner``: what the caller's own records are compared with instead of their id (a
        bound parameter of a statement prepared once, given the id when it runs)."""
        scope = self.scope_kind(action, entity)
        if scope == "all":
            return None
        if scope == "own":
            return table.c.owner_id == (self.actor.user_id if owner is None else owner)
        return false()

    def scope_kind(self, action: str, entity: str) -> str:
        """What :meth:`scope_clause` keeps: ``all`` records, the caller's ``own`` (owned by
        ``actor.user_id``) or ``none``."""
        scope = self.grant(entity).scope(action)
        if scope == "own" and self.actor.user_id is None:
            return "none"
        return scope

    def _owns(self, owner_id: int | None) -> bool:
        return owner_id is not None and owner_id == self.actor.user_id

    def hidden_on(self, entity: str, owner_id: int | None) -> frozenset[str]:
        """The fields hidden on a record owned by ``owner_id``: those that no role whose read
        scope covers the record shows."""
        if self.unrestricted:
            return frozenset()
        found = self.hidden_own if self._owns(owner_id) else self.hidden_other
        return found.get(entity, frozenset())

    def hidden_fields(self, entity: str) -> frozenset[str]:
        """The fields hidden on at least one record the caller may read. Filters, sorting,
        search, duplicate checks and rules must not use them: they would tell the value of a
        record where it is hidden."""
        if self.unrestricted:
            return frozenset()
        own = self.hidden_own.get(entity, frozenset())
        if self.grant(entity).read == "all":
            return own | self.hidden_other.get(entity, frozenset())
        return own

    def hidden_everywhere(self, entity: str) -> frozenset[str]:
        """The fields hidden on every record of ``entity`` (left out of the metamodel)."""
        return self.hidden_fields(entity) & self.hidden_on(entity, self.actor.user_id)

    def visible_clause(self, entity: str, key: str, table: Table) -> ColumnElement[bool] | None:
        """A WHERE condition limiting ``table`` to the records where field ``key`` shows (None:
        on every record the caller may read)."""
        if key not in self.hidden_fields(entity):
            return None
        if key in self.hidden_on(entity, self.actor.user_id) or self.actor.user_id is None:
            return false()
        return table.c.owner_id == self.actor.user_id

    def read_only_fields(self, entity: str) -> frozenset[str]:
        return frozenset() if self.unrestricted else self.read_only.get(entity, frozenset())

    def readable_entities(self, entities: Any) -> list[str]:
        """The keys among ``entities`` whose records the caller may read."""
        return [key for key in entities if self.can("read", key)]


@lru_cache(maxsize=1024)
def full_access(actor: Actor) -> Access:
    """Access for administrators and the system itself (one per actor: nothing in it
    changes, and every request of an administrator asks for it)."""
    return Access(actor, unrestricted=True)


RIGHTS_CACHE = "trellis.rights"
"""``session.info`` key: the rights cache (:class:`trellis.access.remembered.AccessCache`) of
the runtime whose transaction the session is; :func:`load_access` goes through it."""


def load_access(session: Session, actor: Actor) -> Access:
    """The merged rights of ``actor``'s roles: three statements for a user who is not an
    administrator, unless the session's runtime keeps them (:data:`RIGHTS_CACHE`, set on
    every session of ``Runtime.transaction``: every caller, pages, API, flows and the record
    service alike, then shares the one cache, emptied at once by a change in this process)."""
    if actor.is_admin:
        return full_access(actor)
    cache = session.info.get(RIGHTS_CACHE)
    if cache is not None:
        return cache.access(session, actor)  # type: ignore[no-any-return]
    return role_rights(session, actor.roles).access(actor)


@dataclass(frozen=True)
class RoleRights:
    """What a set of roles grants, merged: the same for every user holding those roles."""

    grants: dict[str, EntityGrant] = field(default_factory=dict)
    hidden_own: dict[str, frozenset[str]] = field(default_factory=dict)
    hidden_other: dict[str, frozenset[str]] = field(default_factory=dict)
    read_only: dict[str, frozenset[str]] = field(default_factory=dict)

    def access(self, actor: Actor) -> Access:
        """These rights for ``actor`` (who holds exactly these roles and is no administrator)."""
        return Access(actor, False, self.grants, self.hidden_own, self.hidden_other, self.read_only)


def role_rights(session: Session, roles: frozenset[str]) -> RoleRights:
    """The merged rights of the roles keyed ``roles`` (not ``admin``): three statements."""
    role_ids = list(session.scalars(select(Role.id).where(Role.key.in_(roles))))
    if not role_ids:
        return RoleRights()
    rows: dict[str, list[RolePermission]] = {}
    for row in session.scalars(select(RolePermission).where(RolePermission.role_id.in_(role_ids))):
        rows.setdefault(row.entity, []).append(row)
    per_role: dict[tuple[int, str], dict[str, str]] = {}
    for fp in session.scalars(select(FieldPermission).where(FieldPermission.role_id.in_(role_ids))):
        per_role.setdefault((fp.role_id, fp.entity), {})[fp.field] = fp.access
    grants: dict[str, EntityGrant] = {}
    hidden_own: dict[str, frozenset[str]] = {}
    hidden_other: dict[str, frozenset[str]] = {}
    read_only: dict[str, frozenset[str]] = {}
    for entity, granted in rows.items():
        grant = NOTHING
        for row in granted:
            grant = grant.merge(EntityGrant(row.can_create, row.read, row.update, row.delete))
        grants[entity] = grant
        views = {role_id: per_role.get((role_id, entity), {}) for role_id in role_ids}
        hides = {r: frozenset(k for k, v in vw.items() if v == "hidden") for r, vw in views.items()}
        # a field is hidden on a record unless a role that lets the user read that record
        # shows it: a role reading only the user's own records lifts nothing on the others,
        # and a role granting nothing here must not lift another's limit
        anyone = [r.role_id for r in granted]
        own_readers = [r.role_id for r in granted if r.read != "none"] or anyone
        all_readers = [r.role_id for r in granted if r.read == "all"] or own_readers
        hidden_own[entity] = frozenset.intersection(*(hides[r] for r in own_readers))
        hidden_other[entity] = frozenset.intersection(*(hides[r] for r in all_readers))
        writers = [r.role_id for r in granted if r.can_create or r.update != "none"] or own_readers
        locked = frozenset.intersection(*(frozenset(views[r]) for r in writers))
        read_only[entity] = locked - hidden_own[entity]
    return RoleRights(grants, hidden_own, hidden_other, read_only)
