"""Records that refer to others: what a delete does to the records referring to it (each
reference field's ``on_delete`` rule, refused when it reaches records the caller may not
change) and the links of a record both ways."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, or_, select

from trellis.access.models import RecordLink
from trellis.clock import utcnow
from trellis.errors import Conflict
from trellis.metamodel.compiled import CompiledEntity
from trellis.records.record import KNOWN_RECORDS, Record, RecordParts, note_record_write

#: why a delete is refused when its effects reach records the caller may not change
UNTOUCHABLE = (
    "Cannot delete: other records depend on it that you may not change. "
    "Ask someone who may change them."
)


class Referrers(RecordParts):
    """Deletes and links (a part of RecordService)."""

    def _delete(self, ent: CompiledEntity, current: Record) -> None:
        # cascades and set-null follow the configuration; a delete whose effects reach
        # records the caller may not change is refused without describing them
        record_id = current.id
        self.session.info.pop(KNOWN_RECORDS, None)
        note_record_write(self.session)
        self._handle_referrers(ent, record_id)
        now = utcnow()
        for side in ent.side_tables.values():
            self.session.execute(delete(side).where(side.c.record_id == record_id))
        self.session.execute(delete(ent.table).where(ent.table.c.id == record_id))
        changes = {
            k: (v, None) for k, v in current.values.items() if not ent.fields[k].type.is_empty(v)
        }
        if current.pipeline:
            self._leave_stage(ent.key, record_id, now)
        self._audit(ent, record_id, "delete", changes, now)
        self._emit("deleted", ent, record_id, changes)

    def links(self, entity: str, record_id: int) -> list[dict[str, Any]]:
        """What a record is linked to, both ways: the records its reference fields point at
        (``reference``), the records whose reference fields point at it (``referenced_by``),
        and stored links such as conversions (``converted_into`` / ``converted_from``).
        Only records and fields the caller may read are listed."""
        ent = self._entity(entity)
        current = self._fetch_for(ent, record_id, "read")
        found: list[tuple[str, str, int, str | None]] = []
        hidden_here = self.access.hidden_on(ent.key, current.owner_id)
        for key, f in ent.fields.items():
            value = current.values.get(key)
            if f.type.name == "reference" and value and key not in hidden_here:
                found.append(("reference", f.settings["target"], value, key))
        for other in self.model.entities.values():
            for f in other.fields.values():
                if f.type.name != "reference" or f.settings.get("target") != ent.key:
                    continue
                column = other.table.c[f"{f.key}_id"]
                query = select(other.table.c.id).where(column == record_id)
                # a referrer whose field is hidden from the caller does not show it
                visible = self.access.visible_clause(other.key, f.key, other.table)
                if visible is not None:
                    query = query.where(visible)
                ids = self.session.scalars(query)
                found.extend(("referenced_by", other.key, i, f.key) for i in ids)
        stored = self.session.scalars(
            select(RecordLink)
            .where(
                or_(
                    and_(RecordLink.from_entity == ent.key, RecordLink.from_id == record_id),
                    and_(RecordLink.to_entity == ent.key, RecordLink.to_id == record_id),
                )
            )
            .order_by(RecordLink.id)
        )
        for link in stored:
            if link.from_entity == ent.key and link.from_id == record_id:
                found.append((f"{link.kind}_into", link.to_entity, link.to_id, None))
            else:
                found.append((f"{link.kind}_from", link.from_entity, link.from_id, None))
        titles: dict[str, dict[int, str]] = {}
        for _kind, target, target_id, _field in found:
            titles.setdefault(target, {})[target_id] = ""
        for target, ids in titles.items():
            titles[target] = self.titles(target, ids)
        return [
            {
                "kind": kind,
                "entity": target,
                "id": target_id,
                "title": titles[target][target_id],
                "field": field,
            }
            for kind, target, target_id, field in found
            if target_id in titles.get(target, {})
        ]

    def _handle_referrers(self, ent: CompiledEntity, record_id: int) -> None:
        blockers: list[str] = []
        for other in self.model.entities.values():
            for f in other.fields.values():
                if f.type.name != "reference" or f.settings.get("target") != ent.key:
                    continue
                column = other.table.c[f"{f.key}_id"]
                rows = self.session.execute(
                    select(other.table.c.id, other.table.c.owner_id).where(column == record_id)
                ).all()
                if not rows:
                    continue
                ids = [row.id for row in rows]
                rule = f.settings.get("on_delete", "set_null")
                if rule == "restrict":
                    if not all(
                        self.access.allows("read", other.key, o)
                        and f.key not in self.access.hidden_on(other.key, o)
                        for _i, o in rows
                    ):
                        raise Conflict(UNTOUCHABLE)
                    blockers.append(f"{len(ids)} {other.label_plural} refer to it by {f.label}.")
                    continue
                if not all(self._may_clear(other, f.key, rule, o) for _i, o in rows):
                    raise Conflict(UNTOUCHABLE)
                if rule == "cascade":
                    for other_id in ids:
                        if other.key != ent.key or other_id != record_id:
                            self._delete(other, self._fetch(other, other_id))
                else:
                    for other_id in ids:
                        referrer = self._fetch(other, other_id)
                        self._store(
                            other,
                            referrer,
                            {**referrer.values, f.key: None},
                            "update",
                            referrer.pipeline,
                            referrer.stage,
                        )
        if blockers:
            raise Conflict("Cannot delete: " + " ".join(blockers))

    def _may_clear(self, other: CompiledEntity, key: str, rule: str, owner_id: int | None) -> bool:
        """Whether the caller may make a delete's change to a referrer owned by ``owner_id``:
        delete it (cascade), or empty its field ``key`` (set null)."""
        if rule == "cascade":
            return self.access.allows("delete", other.key, owner_id)
        closed = self.access.hidden_on(other.key, owner_id) | self.access.read_only_fields(
            other.key
        )
        return self.access.allows("update", other.key, owner_id) and key not in closed
