"""The plan of applying a pack: a pure three-way merge of documents (no database).

Inputs are three configurations, each ``kind -> object key -> document`` (the canonical
documents of :mod:`trellis.packs.content`):

- ``base``: what the installed version of the pack said (``None`` for a first install),
- ``pack``: what the new pack says,
- ``live``: what the installation has now (:func:`trellis.packs.snapshot.snapshot`).

Per object the plan says what applying does: ``create`` (the pack has it, the installation
does not), ``change`` (with every property that moves, from the live value to the new one),
``archive`` (the installed version had it, the new pack dropped it: archived, never deleted) or
``unchanged``. The merge is three-way, property by property:

- only the pack changed a property (live equals base): the pack's value applies;
- only the installation changed it (pack equals base): the live value is kept;
- both changed it to the same value: nothing to do;
- both changed it differently: a **conflict**, listed until it is decided per object with
  ``take`` (``"pack"`` or ``"local"``); the plan is not applicable while any is open.

Nested lists of objects with a ``key`` (an entity's fields, a list's options, a pipeline's
stages) merge item by item and property by property, as do nested objects: a field added
locally is kept, a field the pack adds is added, a field the pack dropped goes (apply
archives it), unless the installation edited it (a conflict). Order follows the pack, with
items only the installation has staying after the item they follow locally.

With no base (a first install) every property the pack and the installation both have and
disagree about is a conflict: nothing local is overwritten without a decision.

Paths name properties the way the validation report does: ``label``,
``fields.amount.label`` (items of keyed lists by their key), ``grants.deal.read``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Take = Literal["pack", "local"]
Action = Literal["create", "change", "archive", "unchanged"]


class _Missing:
    """A property or an object that is not there (distinct from ``None``)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Change:
    """One property that applying moves: ``before`` (live; MISSING when new) -> ``after``
    (MISSING when the property or item goes)."""

    path: str
    before: Any
    after: Any

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "before": _plain(self.before), "after": _plain(self.after)}


@dataclass(frozen=True)
class Conflict:
    """A property both the pack and the installation changed differently since the base."""

    path: str
    base: Any
    pack: Any
    local: Any
    #: the decision, if taken (then the property is no longer open)
    taken: Take | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "base": _plain(self.base),
            "pack": _plain(self.pack),
            "local": _plain(self.local),
            "taken": self.taken,
        }


@dataclass(frozen=True)
class ObjectPlan:
    kind: str
    key: str
    action: Action
    #: the document the object has after applying (None for an archive)
    document: dict[str, Any] | None
    #: what the installation has now (None when it does not have the object)
    live: dict[str, Any] | None
    changes: tuple[Change, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    #: properties the installation changed since the base and keeps
    kept: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The object's name for ``take`` and reports: ``kind:key``."""
        return f"{self.kind}:{self.key}"

    @property
    def open_conflicts(self) -> tuple[Conflict, ...]:
        return tuple(c for c in self.conflicts if c.taken is None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "action": self.action,
            "changes": [c.as_dict() for c in self.changes],
            "conflicts": [c.as_dict() for c in self.conflicts],
            "kept": list(self.kept),
        }


@dataclass(frozen=True)
class Plan:
    objects: tuple[ObjectPlan, ...]
    #: ``take`` names that matched no object with a conflict (a typo must not pass silently)
    unknown_takes: tuple[str, ...] = field(default=())

    @property
    def conflicts(self) -> list[tuple[ObjectPlan, Conflict]]:
        """The open conflicts (not decided by ``take``)."""
        return [(o, c) for o in self.objects for c in o.open_conflicts]

    @property
    def applicable(self) -> bool:
        return not self.conflicts and not self.unknown_takes

    def by_action(self, action: Action) -> list[ObjectPlan]:
        return [o for o in self.objects if o.action == action]

    def get(self, kind: str, key: str) -> ObjectPlan | None:
        for o in self.objects:
            if o.kind == kind and o.key == key:
                return o
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "objects": [o.as_dict() for o in self.objects if o.action != "unchanged"],
            "unchanged": len(self.by_action("unchanged")),
            "conflicts": len(self.conflicts),
            "unknown_takes": list(self.unknown_takes),
        }


Documents = Mapping[str, Mapping[str, Mapping[str, Any]]]


def make_plan(
    base: Documents | None,
    pack: Documents,
    live: Documents,
    take: Mapping[str, Take] | None = None,
    kinds: tuple[str, ...] | None = None,
) -> Plan:
    """The plan of applying ``pack`` over ``live``, merged three-way against ``base``.

    ``take`` maps an object's name (``kind:key``, or a bare key when only one object with a
    conflict has it) to ``"pack"`` or ``"local"``: how its conflicts are decided. ``kinds``
    orders the kinds in the plan (default: as the documents list them).
    """
    take = dict(take or {})
    order = list(kinds or ())
    for source in (pack, base or {}, live):
        order += [k for k in source if k not in order]
    objects: list[ObjectPlan] = []
    for kind in order:
        base_objects = (base or {}).get(kind, {})
        pack_objects = pack.get(kind, {})
        live_objects = live.get(kind, {})
        keys = list(pack_objects) + [k for k in base_objects if k not in pack_objects]
        for key in keys:
            objects.append(
                _plan_object(
                    kind,
                    key,
                    base_objects.get(key, MISSING) if base is not None else MISSING,
                    pack_objects.get(key, MISSING),
                    live_objects.get(key, MISSING),
                    None,
                )
            )
    used: set[str] = set()
    if take:
        decided: list[ObjectPlan] = []
        for obj in objects:
            decision, name = _decision(obj, objects, take)
            if decision is not None and obj.conflicts:
                used.add(name)
                base_doc = (base or {}).get(obj.kind, {}).get(obj.key, MISSING)
                obj = _plan_object(
                    obj.kind,
                    obj.key,
                    base_doc if base is not None else MISSING,
                    pack.get(obj.kind, {}).get(obj.key, MISSING),
                    live.get(obj.kind, {}).get(obj.key, MISSING),
                    decision,
                )
            decided.append(obj)
        objects = decided
    return Plan(tuple(objects), tuple(sorted(set(take) - used)))


def _decision(
    obj: ObjectPlan, objects: list[ObjectPlan], take: Mapping[str, Take]
) -> tuple[Take | None, str]:
    if obj.name in take:
        return take[obj.name], obj.name
    if obj.key in take:
        same = [o for o in objects if o.key == obj.key and o.conflicts]
        if len(same) == 1:
            return take[obj.key], obj.key
    return None, ""


def _plan_object(
    kind: str, key: str, base: Any, pack: Any, live: Any, take: Take | None
) -> ObjectPlan:
    live_doc = None if live is MISSING else dict(live)
    if pack is MISSING:
        # the installed version had it, the new pack dropped it
        if live is MISSING or live.get("archived") is True:
            return ObjectPlan(kind, key, "unchanged", live_doc, live_doc)
        if base is not MISSING and live != base:
            conflict = Conflict("", base, MISSING, live, take)
            if take != "pack":
                return ObjectPlan(kind, key, "unchanged", live_doc, live_doc, (), (conflict,))
            return ObjectPlan(kind, key, "archive", None, live_doc, (), (conflict,))
        return ObjectPlan(kind, key, "archive", None, live_doc)
    if live is MISSING:
        if base is not MISSING:
            # the installation removed what the installed version had
            if pack == base:
                return ObjectPlan(kind, key, "unchanged", None, None)
            conflict = Conflict("", base, pack, MISSING, take)
            if take != "pack":
                return ObjectPlan(kind, key, "unchanged", None, None, (), (conflict,))
            return ObjectPlan(kind, key, "create", dict(pack), None, (), (conflict,))
        return ObjectPlan(kind, key, "create", dict(pack), None, _created(pack))
    merger = _Merger(take)
    result = merger.merge(base, pack, live, "")
    changes = tuple(diff(live, result))
    action: Action = "change" if changes else "unchanged"
    return ObjectPlan(
        kind,
        key,
        action,
        result,
        live_doc,
        changes,
        tuple(merger.conflicts),
        tuple(merger.kept),
    )


def _created(document: Mapping[str, Any]) -> tuple[Change, ...]:
    return tuple(Change(k, MISSING, v) for k, v in document.items())


# -- the merge ---------------------------------------------------------------------------


def is_keyed_list(value: Any) -> bool:
    """A list of objects that each have a text ``key`` (fields, options, stages), unique."""
    if not isinstance(value, list) or not value:
        return False
    if not all(isinstance(item, Mapping) and isinstance(item.get("key"), str) for item in value):
        return False
    return len({item["key"] for item in value}) == len(value)


def _keyed(a: Any, b: Any, c: Any) -> bool:
    present = [v for v in (a, b, c) if v is not MISSING]
    lists = [v for v in present if isinstance(v, list)]
    return (
        len(lists) == len(present)
        and any(is_keyed_list(v) for v in lists)
        and all(is_keyed_list(v) or v == [] for v in lists)
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Merger:
    def __init__(self, take: Take | None) -> None:
        self.take = take
        self.conflicts: list[Conflict] = []
        self.kept: list[str] = []

    def merge(self, base: Any, pack: Any, local: Any, path: str) -> Any:
        if pack == local:
            return local
        if base is not MISSING and pack == base:
            self.kept.append(path)
            return local
        if base is not MISSING and local == base:
            return pack
        if base is MISSING and pack is MISSING:  # only the installation has it
            self.kept.append(path)
            return local
        if base is MISSING and local is MISSING:  # only the pack has it
            return pack
        if pack is not MISSING and local is not MISSING:
            if (
                isinstance(pack, Mapping)
                and isinstance(local, Mapping)
                and (base is MISSING or isinstance(base, Mapping))
            ):
                return self._merge_objects(base, pack, local, path)
            if _keyed(base, pack, local):
                return self._merge_keyed(base or [], pack, local, path)
        self.conflicts.append(Conflict(path, base, pack, local, self.take))
        if self.take == "pack":
            return pack
        return local

    def _merge_objects(
        self, base: Any, pack: Mapping[str, Any], local: Mapping[str, Any], path: str
    ) -> Any:
        base = base if base is not MISSING else {}
        out: dict[str, Any] = {}
        for key in _union(list(pack), list(local), list(base)):
            value = self.merge(
                base.get(key, MISSING),
                pack.get(key, MISSING),
                local.get(key, MISSING),
                _join(path, key),
            )
            if value is not MISSING:
                out[key] = value
        return out

    def _merge_keyed(
        self, base: list[Any], pack: list[Any], local: list[Any], path: str
    ) -> list[Any]:
        b = {i["key"]: i for i in base}
        p = {i["key"]: i for i in pack}
        lo = {i["key"]: i for i in local}
        merged: dict[str, Any] = {}
        for key in _union(list(p), list(lo), list(b)):
            value = self.merge(
                b.get(key, MISSING), p.get(key, MISSING), lo.get(key, MISSING), _join(path, key)
            )
            if value is not MISSING:
                merged[key] = value
        order = _merge_order([i["key"] for i in base], list(p), list(lo), set(merged))
        return [merged[k] for k in order]


def _union(*orders: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for order in orders:
        for key in order:
            seen.setdefault(key, None)
    return list(seen)


def _merge_order(base: list[str], pack: list[str], local: list[str], keep: set[str]) -> list[str]:
    """The order of a merged keyed list: the installation's, with the pack's new items after
    the item they follow in the pack; the pack's order instead when only the pack reordered
    what it shares with the base."""
    pack_shared = [k for k in pack if k in base]
    local_shared = [k for k in local if k in base]
    base_for_pack = [k for k in base if k in pack]
    base_for_local = [k for k in base if k in local]
    if pack_shared != base_for_pack and local_shared == base_for_local:
        primary, secondary = pack, local
    else:
        primary, secondary = local, pack
    order = [k for k in primary if k in keep]
    for index, key in enumerate(secondary):
        if key in order or key not in keep:
            continue
        before = [k for k in secondary[:index] if k in order]
        at = order.index(before[-1]) + 1 if before else 0
        order.insert(at, key)
    for key in sorted(keep - set(order)):
        order.append(key)
    return order


# -- the difference ----------------------------------------------------------------------


def diff(before: Any, after: Any, path: str = "") -> list[Change]:
    """The properties that differ, per property (and per item of keyed lists)."""
    if before == after:
        return []
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        out: list[Change] = []
        for key in _union(list(before), list(after)):
            out += diff(before.get(key, MISSING), after.get(key, MISSING), _join(path, key))
        return out
    if isinstance(before, list) and isinstance(after, list) and _keyed(before, after, MISSING):
        b = {i["key"]: i for i in before}
        a = {i["key"]: i for i in after}
        out = []
        for key in _union(list(b), list(a)):
            out += diff(b.get(key, MISSING), a.get(key, MISSING), _join(path, key))
        if not out or [k for k in b if k in a] != [k for k in a if k in b]:  # reordered
            out.append(Change(_join(path, "order"), list(b), list(a)))
        return out
    return [Change(path, before, after)]


def _plain(value: Any) -> Any:
    return None if value is MISSING else value


def edited_locally(base: Documents, live: Documents) -> dict[str, list[str]]:
    """The objects of an installed pack that the installation changed since it was
    installed: ``kind:key`` -> the properties changed (``[""]`` when removed)."""
    out: dict[str, list[str]] = {}
    for kind, objects in base.items():
        for key, document in objects.items():
            now = live.get(kind, {}).get(key, MISSING)
            if now is MISSING:
                out[f"{kind}:{key}"] = [""]
                continue
            changes = diff(document, now)
            if changes:
                out[f"{kind}:{key}"] = [c.path for c in changes]
    return out
