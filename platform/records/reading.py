"""Reading records: one record, lists with filters, sort, search and paging, money totals,
titles, history and stage history; always through the caller's access (scope, hidden
fields)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Dialect

from trellis.clock import as_utc
from trellis.errors import BadRequest, NotFound, PermissionDenied
from trellis.metamodel.compiled import CompiledEntity
from trellis.records.audit import AuditEvent, StageVisit, write_held_rows
from trellis.records.direct import DirectSelect
from trellis.records.paging import after_segments, decode_cursor, encode_cursor
from trellis.records.prepared import (
    COUNT_LIMIT,
    PAGE_LIMIT,
    PAGE_OFFSET,
    READ_OWNER,
    PageQuery,
    prepared_page,
)
from trellis.records.query import (
    Filter,
    checked_filters,
    condition,
    order_clauses,
    page_bounds,
    search_clause,
    sort_keys,
    title_text_clause,
)
from trellis.records.record import Page, Record, RecordParts
from trellis.records.user_values import users_by_id

#: the label of the capped count a page's statement brings (a double underscore: never a
#: field's key, so never a column of a record table)
PAGE_TOTAL = "page__total"


class Reading(RecordParts):
    """The reads of the record service (a part of RecordService)."""

    def get(self, entity: str, record_id: int) -> Record:
        """One record the caller may read, or NotFound."""
        ent = self._entity(entity)
        return self._visible(ent, self._fetch_for(ent, record_id, "read"))

    def list(
        self,
        entity: str,
        *,
        filters: Iterable[Filter] = (),
        sort: Sequence[str] = (),
        page: int = 1,
        per_page: int = 50,
        q: str | None = None,
        title_text: str | None = None,
        after: str | None = None,
        exact_total: bool = False,
    ) -> Page:
        """A filtered, sorted page of the records the caller may read, and their count.
        Filters, sort and search on a field hidden from the caller are refused as unknown.
        ``title_text`` keeps the records a person may mean by typing it for their title (see
        ``title_text_clause``): reference inputs suggest and resolve records with it.

        ``after`` (a cursor from a page's ``next_cursor``) continues after that page by
        keyset instead of ``page``. The total is counted up to :data:`COUNT_CAP` records
        (``total_is_lower_bound`` says when there are more) unless ``exact_total`` (see
        ``RecordService._total``)."""
        ent = self._entity(entity)
        page, per_page = page_bounds(page, per_page)
        hidden = self._may_read(ent)
        checked = checked_filters(ent, self.model, filters, hidden)
        keys = sort_keys(ent, sort, hidden)
        has_title_text = bool(title_text and title_text.strip())
        values = decode_cursor(keys, after) if after else None
        prepared = None
        if not (q or has_title_text or exact_total):
            query = PageQuery(
                ent,
                self.model,
                checked,
                keys,
                lambda owner: self.access.scope_clause("read", ent.key, ent.table, owner),
                self.access.scope_kind("read", ent.key),
                partial(self._capped_count, ent),
            )
            prepared = prepared_page(query, values)

        def conditions() -> list[Any]:
            found = self._conditions(ent, checked, q, hidden)
            if has_title_text:
                found.append(title_text_clause(ent, title_text, hidden))  # type: ignore[arg-type]
            return found

        rows: list[Any] = []
        if values is not None:
            page, offset = 1, None
            if prepared is not None:
                connection = self.session.connection()
                segments: list[Any] = list(prepared.statements.direct(connection.dialect))
            else:
                where = conditions()
                order = order_clauses(keys)
                segments = [
                    select(ent.table).where(*where, segment).order_by(*order)
                    for segment in after_segments(keys, values)
                ]
                if not exact_total:  # the capped count comes with the first segment
                    count = self._capped_count(ent, where, self._count_cap(0, per_page) + 1)
                    segments[0] = segments[0].add_columns(count)
            for statement in segments:
                wanted = per_page + 1 - len(rows)
                if prepared is not None:
                    params = {
                        **prepared.params,
                        PAGE_LIMIT: wanted,
                        COUNT_LIMIT: self._count_cap(0, per_page) + 1,
                        READ_OWNER: self.actor.user_id,
                    }
                    rows += statement.rows(connection, params)
                else:
                    rows += self.session.execute(statement.limit(wanted)).mappings()
                if len(rows) > per_page:
                    break
        elif prepared is not None:
            offset = (page - 1) * per_page
            params = {
                **prepared.params,
                PAGE_LIMIT: per_page + 1,
                PAGE_OFFSET: offset,
                COUNT_LIMIT: self._count_cap(offset, per_page) + 1,
                READ_OWNER: self.actor.user_id,
            }
            connection = self.session.connection()
            (statement,) = prepared.statements.direct(connection.dialect)
            rows = statement.rows(connection, params)
        else:
            where = conditions()
            offset = (page - 1) * per_page
            query = select(ent.table).where(*where).order_by(*order_clauses(keys))
            if not exact_total:  # the capped count comes with the page
                query = query.add_columns(
                    self._capped_count(ent, where, self._count_cap(offset, per_page) + 1)
                )
            rows = list(self.session.execute(query.limit(per_page + 1).offset(offset)).mappings())
        more = len(rows) > per_page
        counted = rows[0][PAGE_TOTAL] if rows and PAGE_TOTAL in rows[0] else None
        rows = rows[:per_page]
        total, lower_bound = self._total(
            ent, conditions, offset, len(rows), more, exact_total, counted
        )
        items = self._hydrate(ent, rows)
        if not self.access.unrestricted:
            items = [self._visible(ent, r) for r in items]
        cursor = encode_cursor(keys, rows[-1]) if more else None
        return Page(items, total, page, per_page, lower_bound, cursor)

    def money_totals(
        self, entity: str, field: str, *, filters: Iterable[Filter] = (), q: str | None = None
    ) -> dict[str, Any]:
        """The sum of a money field per currency over the records the caller may read that
        match ``filters`` and the search ``q`` (amounts in different currencies are never
        added together)."""
        ent = self._entity(entity)
        conditions = self._read_conditions(ent, filters, q)
        f = ent.fields.get(field)
        if f is None or f.key in self.access.hidden_everywhere(ent.key) or f.type.name != "money":
            raise BadRequest(f"{field!r} is not a money field of {ent.label_plural}.")
        # only the amounts the caller sees count: not those of records where it is hidden
        visible = self.access.visible_clause(ent.key, f.key, ent.table)
        if visible is not None:
            conditions.append(visible)
        amount, currency = ent.table.c[f"{f.key}_amount"], ent.table.c[f"{f.key}_currency"]
        rows = self.session.execute(
            select(currency, func.sum(amount))
            .where(*conditions, amount.is_not(None))
            .group_by(currency)
            .order_by(currency)
        )
        return {code: total for code, total in rows}

    def writable_keys(self, entity: str, record: Record | None = None) -> list[str]:
        """The fields of ``entity`` the caller may write on ``record`` (default: a new record
        of their own), in form order: neither hidden from them nor read-only for them, nor
        references to an entity type they may not read (there is no record they could pick)."""
        ent = self._entity(entity)
        owner = record.owner_id if record is not None else self.actor.user_id
        closed = self.access.hidden_on(ent.key, owner) | self.access.read_only_fields(ent.key)
        return [
            key
            for key, f in ent.fields.items()
            if key not in closed
            and not (
                f.type.name == "reference" and not self.access.can("read", f.settings["target"])
            )
        ]

    def _read_conditions(
        self, ent: CompiledEntity, filters: Iterable[Filter], q: str | None
    ) -> list[Any]:
        """The WHERE of a read over many records: the caller's filters and search, and the
        policy's scope. Filters and search on hidden fields are refused as unknown."""
        hidden = self._may_read(ent)
        return self._conditions(ent, checked_filters(ent, self.model, filters, hidden), q, hidden)

    def _may_read(self, ent: CompiledEntity) -> frozenset[str]:
        """The fields hidden from the caller on some record of ``ent`` (see
        ``Access.hidden_fields``); PermissionDenied when they may read none of its records."""
        if not self.access.can("read", ent.key):
            raise PermissionDenied(f"You may not read {ent.label_plural}.")
        return self.access.hidden_fields(ent.key)

    def _conditions(
        self,
        ent: CompiledEntity,
        checked: Sequence[tuple[Filter, Any]],
        q: str | None,
        hidden: frozenset[str],
    ) -> list[Any]:
        conditions = [condition(ent, self.model, item, value) for item, value in checked]
        scope = self.access.scope_clause("read", ent.key, ent.table)
        if scope is not None:
            conditions.append(scope)
        if q:
            conditions.append(search_clause(ent, q, hidden))
        return conditions

    def titles(self, entity: str, ids: Iterable[int]) -> dict[int, str]:
        """Titles of records by id (for references); ids the caller may not read, or that do
        not exist, are left out."""
        ent = self.model.entities.get(entity) or self.model.archived_entities.get(entity)
        wanted = sorted(set(ids))
        if ent is None or not wanted or not self.access.can("read", ent.key):
            return {}
        query = select(ent.table).where(ent.table.c.id.in_(wanted))
        scope = self.access.scope_clause("read", ent.key, ent.table)
        if scope is not None:
            query = query.where(scope)
        rows = self.session.execute(query)
        return {r.id: r.title for r in self._hydrate(ent, rows.mappings().all())}

    def history(self, entity: str, record_id: int) -> list[dict[str, Any]]:
        """The audit log of a record the caller may read, one item per changed field, oldest
        first; fields hidden from the caller are left out."""
        ent = self._entity(entity)
        current = self._fetch_for(ent, record_id, "read")
        hidden = self.access.hidden_on(ent.key, current.owner_id)
        write_held_rows(self.session)
        events = self.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity == entity, AuditEvent.record_id == record_id)
            .order_by(AuditEvent.id)
        ).all()
        if not events:
            raise NotFound(f"No history for {entity} #{record_id}.")
        return [
            {
                "at": as_utc(event.at).isoformat(),
                "by": event.by,
                "via": event.via,
                "action": event.action,
                "field": name,
                "old": old,
                "new": new,
            }
            for event in events
            for name, (old, new) in (event.changes or {}).items()
            if name not in hidden
        ]

    def changes_since(self, entity: str, record_id: int, version: int) -> list[dict[str, Any]]:
        """What changed after ``version`` (the version a stale editor had read), field by field:
        each audit event of a record makes one version, so the events after the first
        ``version`` ones are the newer changes."""
        ent = self._entity(entity)
        current = self._fetch_for(ent, record_id, "read")
        hidden = self.access.hidden_on(ent.key, current.owner_id)
        write_held_rows(self.session)
        events = self.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity == ent.key, AuditEvent.record_id == record_id)
            .order_by(AuditEvent.id)
            .offset(max(version, 0))
        ).all()
        return [
            {"at": as_utc(e.at).isoformat(), "by": e.by, "field": name, "old": old, "new": new}
            for e in events
            for name, (old, new) in (e.changes or {}).items()
            if name not in hidden
        ]

    def stage_history(self, entity: str, record_id: int) -> list[StageVisit]:
        """The stages a record has been in, with who moved it in and out, oldest first."""
        self._fetch_for(self._entity(entity), record_id, "read")
        write_held_rows(self.session)
        return list(
            self.session.scalars(
                select(StageVisit)
                .where(StageVisit.entity == entity, StageVisit.record_id == record_id)
                .order_by(StageVisit.id)
                # visits left since they were loaded are updated in Core (``_leave_stage``)
                .execution_options(populate_existing=True)
            )
        )

    def _entity(self, key: str) -> CompiledEntity:
        ent = self.model.entity(key)
        if not self.access.can("read", ent.key) and not self.access.can("create", ent.key):
            raise NotFound(f"No entity type {key!r}.")
        return ent

    def _fetch_for(
        self,
        ent: CompiledEntity,
        record_id: int,
        action: str,
        row: Mapping[str, Any] | None = None,
    ) -> Record:
        """The record if the caller may read it (else NotFound) and do ``action`` (else
        PermissionDenied); from ``row`` when it was read already (by :meth:`_fetch_row`)."""
        record = self._fetch(ent, record_id) if row is None else self._hydrate(ent, [row])[0]
        if not self.access.allows("read", ent.key, record.owner_id):
            raise NotFound(f"No {ent.label} with id {record_id}.")
        if action != "read" and not self.access.allows(action, ent.key, record.owner_id):
            raise PermissionDenied(f"You may not {action} this {ent.label}.")
        return record

    def _visible(self, ent: CompiledEntity, record: Record) -> Record:
        hidden = self.access.hidden_on(ent.key, record.owner_id)
        if hidden:
            record.values = {k: v for k, v in record.values.items() if k not in hidden}
        return record

    def _fetch(self, ent: CompiledEntity, record_id: int) -> Record:
        return self._hydrate(ent, [self._fetch_row(ent, record_id)])[0]

    def _fetch_row(
        self, ent: CompiledEntity, record_id: int, statement: Any = None
    ) -> Mapping[str, Any]:
        """The row of the record (else NotFound), by ``statement`` when given: a SELECT of
        the row by ``id`` as :attr:`CompiledEntity.select_by_id`, with more columns along."""
        if isinstance(record_id, bool) or not isinstance(record_id, int) or record_id >= 2**63:
            raise NotFound(f"No {ent.label} with id {record_id!r}.")
        # Core on the session's connection: no ORM object is read, nothing to flush first
        connection = self.session.connection()
        row: Mapping[str, Any] | None
        if statement is None:  # on the driver's cursor, compiled once (see records.direct)
            rows = _by_id(ent, connection.dialect).rows(connection, {"id": record_id})
            row = rows[0] if rows else None
        else:
            row = connection.execute(statement, {"id": record_id}).mappings().first()
        if row is None:
            raise NotFound(f"No {ent.label} with id {record_id}.")
        return row

    def _hydrate(self, ent: CompiledEntity, rows: Sequence[Mapping[str, Any]]) -> list[Record]:
        # without native decimals (SQLite) SQLAlchemy fits each number to its column's
        # places as it reads it (the field's places): the readers take them as they are
        native = self.session.get_bind().dialect.supports_native_decimal
        values_of = ent.values_reader if native else ent.scaled_values_reader
        sides = self._side_values(ent, [r["id"] for r in rows]) if ent.side_tables else {}
        key = ent.key
        records = []
        for row in rows:
            record_id = row["id"]
            values = values_of(row)
            for k, side in sides.items():  # (a side table's field in its place)
                values[k] = side.get(record_id, ())
            created, updated = row["created_at"], row["updated_at"]
            records.append(
                Record(
                    key,
                    record_id,
                    row["version"],
                    values,
                    as_utc(created),
                    as_utc(updated),
                    row["created_by"],
                    row["updated_by"],
                    row["owner_id"],
                    row["pipeline"],
                    row["stage"],
                )
            )
        self._set_titles(ent, records)
        return records

    def _side_values(
        self, ent: CompiledEntity, ids: list[int]
    ) -> dict[str, dict[int, tuple[str, ...]]]:
        found: dict[str, dict[int, tuple[str, ...]]] = {}
        for key, side in ent.side_tables.items():
            if key not in ent.fields:
                continue
            f = ent.fields[key]
            options = self.model.option_lists[f.settings["list"]].options
            chosen: dict[int, list[str]] = {}
            if ids:
                for record_id, value in self.session.execute(
                    select(side.c.record_id, side.c.value).where(side.c.record_id.in_(ids))
                ):
                    chosen.setdefault(record_id, []).append(value)
            order = {k: o.position for k, o in options.items()}
            found[key] = {
                rid: tuple(sorted(vals, key=lambda v: (order.get(v, 1 << 30), v)))
                for rid, vals in chosen.items()
            }
        return found

    def _set_titles(self, ent: CompiledEntity, records: Sequence[Record]) -> None:
        """Give each of ``records`` its title; the users a title names are read in one go."""
        users = self._title_users(ent, records)
        hidden: dict[int | None, frozenset[str]] = {}  # by owner: the same for all their records
        parts = _title_parts(ent)
        single = _single_title_field(ent, parts)
        for record in records:
            owner = record.owner_id
            if owner not in hidden:
                hidden[owner] = self.access.hidden_on(ent.key, owner)
            if single is not None and single[0] not in hidden[owner]:
                # the title is that one field's text (as _title's template would make it)
                key, f = single
                title = " ".join(
                    format(f.type.display(f, record.values.get(key), self.model), "").split()
                )
                record.title = title or f"{ent.label} #{record.id}"
            else:
                record.title = self._title(ent, record, users, hidden[owner], parts)

    def _title_users(self, ent: CompiledEntity, records: Sequence[Record]) -> dict[int, str]:
        """The names of the users the titles of ``records`` show (none read when no user field
        is in the title)."""
        keys = [k for k in ent.title_keys if k in ent.fields and ent.fields[k].type.name == "user"]
        if not keys:
            return {}
        found = users_by_id(self.session, (r.values.get(k) for r in records for k in keys))
        return {user_id: user.name for user_id, user in found.items()}

    def _title(
        self,
        ent: CompiledEntity,
        record: Record,
        users: Mapping[int, str],
        hidden: frozenset[str] | None = None,
        parts: Sequence[tuple[str, Any, bool]] | None = None,
    ) -> str:
        """``parts``: :func:`_title_parts` of ``ent`` when the caller has them."""
        # a title made of a field the caller may not see would show it: fall back instead
        if hidden is None:
            hidden = self.access.hidden_on(ent.key, record.owner_id)
        if ent.title_keys and not hidden.intersection(ent.title_keys):
            values, model, texts = record.values, self.model, {}
            for key, f, is_user in _title_parts(ent) if parts is None else parts:
                # a user by name, any other value as its field shows it
                value = values.get(key)
                if f is None:
                    texts[key] = ""
                elif is_user and value in users:
                    texts[key] = users[value]
                else:
                    texts[key] = f.type.display(f, value, model)
            title = " ".join(ent.title_template.format_map(texts).split())
            if title:
                return title
        return f"{ent.label} #{record.id}"


def _by_id(ent: CompiledEntity, dialect: Dialect) -> DirectSelect:
    """``ent.select_by_id`` compiled for ``dialect``, once per compiled entity type."""
    key = ("select_by_id", dialect)
    found = ent.direct_statements.get(key)
    if found is None:
        found = ent.direct_statements[key] = DirectSelect(ent.select_by_id, dialect)
    return found  # type: ignore[no-any-return]


def _single_title_field(
    ent: CompiledEntity, parts: Sequence[tuple[str, Any, bool]]
) -> tuple[str, Any] | None:
    """The key and field of ``ent``'s title when the title is that one field's text alone
    (a template ``{key}`` of a field that names no user), else None: a page's titles then
    need no template per record."""
    if len(parts) != 1:
        return None
    key, f, is_user = parts[0]
    if f is None or is_user or ent.title_template != "{" + key + "}":
        return None
    return key, f


def _title_parts(ent: CompiledEntity) -> tuple[tuple[str, Any, bool], ...]:
    """Each key of ``ent``'s title, its field (None when it has none) and whether that field
    names a user: looked up once per page, not per record."""
    found = []
    for key in ent.title_keys:
        f = ent.fields.get(key)
        found.append((key, f, f is not None and f.type.name == "user"))
    return tuple(found)
