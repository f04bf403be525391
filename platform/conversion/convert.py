"""The conversion: one source record into any combination of targets, all or nothing.

Everything happens inside a savepoint: targets are created in dependency order (a company
before the contact and the deal that refer to it), each one validated by the record service
exactly as any other write; new records are linked to each other through their reference
fields; the source moves to its success stage; links are recorded both ways. If any target
is invalid, or for a dry run, the savepoint is rolled back and nothing is left behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from trellis.access.models import RecordLink
from trellis.conversion.configuration import MapSpec, RuleSpec, conversion_setup
from trellis.conversion.duplicates import find_candidates
from trellis.db import sent_together
from trellis.errors import BadRequest, Conflict, NotFound, PermissionDenied, ValidationFailed
from trellis.expressions import ExpressionError, compile_expression
from trellis.metamodel.changes import Errors
from trellis.metamodel.compiled import CompiledEntity, CompiledField, CompiledModel
from trellis.records.audit import hold_history_rows
from trellis.records.events import RecordEvent
from trellis.records.record import KNOWN_RECORDS, record_writes
from trellis.records.service import Record, RecordService

#: ``session.info`` key: the conversion running in the transaction (:class:`Converting`)
CONVERTING = "trellis.converting"
LINK_KIND = "converted"
TARGET_OPTIONS = ("use_existing", "pipeline", "stage")
TARGET_OPTION_TYPES = {
    "use_existing": "Use a record id.",
    "pipeline": "Use a pipeline key.",
    "stage": "Use a stage key.",
}


_LINKS = RecordLink.__table__
#: the links of a conversion (Core: one executemany, no objects, no RETURNING)
_LINK_INSERT = insert(_LINKS).inline()
#: ``CompiledModel.memo`` key: the source's SELECT by entity type (:func:`_source_select`)
_SOURCE_SELECTS = "conversion_sources"
#: the column of the source's SELECT that holds a conversion link from it (if any)
_CONVERTED = "_converted"  # (no field key starts with "_")


def _source_select(model: CompiledModel, entity: CompiledEntity) -> Any:
    """The source's row by ``id`` with, along, the id of a conversion link from it (or
    NULL): one statement, built once per compiled model."""
    built = model.memo.setdefault(_SOURCE_SELECTS, {})
    found = built.get(entity.key)
    if found is None:
        t = entity.table
        link = (
            select(_LINKS.c.id)
            .where(
                _LINKS.c.kind == LINK_KIND,
                _LINKS.c.from_entity == entity.key,
                _LINKS.c.from_id == t.c.id,
            )
            .limit(1)
            .scalar_subquery()
        )
        found = built[entity.key] = entity.select_by_id.add_columns(link.label(_CONVERTED))
    return found


@dataclass(frozen=True)
class Converting:
    """The conversion of record ``record_id`` of ``entity`` is running, with ``model``."""

    entity: str
    record_id: int
    model: CompiledModel


@dataclass
class Conversion:
    """What a conversion did (or, for a dry run or on errors, would have done)."""

    source: Record
    dry_run: bool
    records: dict[str, Record] = field(default_factory=dict)
    linked: dict[str, int] = field(default_factory=dict)
    errors: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    duplicates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: titles of the records made in this conversion, by (entity, id): a dry run rolls them
    #: back, so a preview cannot read them from the database any more
    new_titles: dict[tuple[str, int], str] = field(default_factory=dict)
    #: target fields the map would fill from source fields hidden from the caller: left
    #: empty, by target
    not_carried: dict[str, list[str]] = field(default_factory=dict)
    #: no record was changed or deleted during the conversion but by the source's own move:
    #: ``new_titles`` are the titles as stored
    titles_current: bool = False

    def readable_new_titles(self, service: RecordService) -> dict[str, dict[int, str]]:
        """The titles of the records made that the caller of ``service`` may read, by entity
        type, when they are current (else none: they are read again)."""
        if not self.titles_current or self.dry_run or not self.ok:
            return {}
        found: dict[str, dict[int, str]] = {}
        for target, record in self.records.items():
            key = (target, record.id)
            if key in self.new_titles and service.access.allows("read", target, record.owner_id):
                found.setdefault(target, {})[record.id] = self.new_titles[key]
        return found

    @property
    def ok(self) -> bool:
        return not self.errors


def conversion_map(service: RecordService, entity: str, key: str | None = None) -> MapSpec:
    """The map to convert ``entity`` records with (the only one, or the one named)."""
    if not isinstance(key, str | None):
        raise BadRequest("Name the map by its key.", {"map": ["Use a key."]})
    rows = conversion_setup(service.session, service.model).maps.get(entity, ())
    if key is not None:
        rows = tuple(m for m in rows if m.key == key)
    if not rows:
        raise NotFound(
            f"There is no conversion map for {entity!r}" + (f" named {key!r}." if key else ".")
        )
    if len(rows) > 1:
        raise BadRequest('Several conversion maps apply; name one with "map".')
    return rows[0]


def convert(
    service: RecordService,
    entity: str,
    record_id: int,
    targets: Any,
    *,
    dry_run: bool = False,
    map_key: str | None = None,
    source_values: Any = None,
) -> Conversion:
    """Convert record ``record_id`` of ``entity`` into ``targets``.

    ``targets`` maps a target entity type to its options: field values the user typed (they
    win over the map), ``pipeline``/``stage`` for the new record, or ``use_existing`` (the id
    of a record to link instead of creating one, e.g. a duplicate candidate).
    ``source_values`` fills fields of the source itself on its way to the success stage
    (a lead's Source, required from "Qualified" on). What the source lacks for that stage is
    reported with the targets' problems, in ``errors`` and ``missing`` under the source's
    entity type, even when a target is invalid too, so one dry run names everything.
    """
    model = service.model
    source_entity = model.entity(entity)
    # the source as the caller sees it: a field hidden from them is neither shown nor carried
    # (read with whether a conversion link from it exists, in the same statement)
    read = service._fetch_row(source_entity, record_id, _source_select(model, source_entity))
    stored = service._fetch_for(source_entity, record_id, "update", row=read)
    source = service._visible(source_entity, replace(stored))
    row = conversion_map(service, entity, map_key)
    _check_request(row, targets)
    _check_not_converted(source_entity, source, read[_CONVERTED] is not None)
    success = _success_stage(source_entity, source)
    # the map reads the source as it will be: with the values it gets on its way
    mapped = (
        source if success is None else _with_values(service, source_entity, source, source_values)
    )
    result = Conversion(source=source, dry_run=dry_run)
    session = service.session
    savepoint = session.begin_nested()
    writes = record_writes(session)
    # the audit rows and stage visits of the targets and the move are inserted together
    # (a statement per table), once all is well
    held = hold_history_rows(session)
    session.info[CONVERTING] = Converting(entity, record_id, model)
    # the targets it creates or links are known to exist: references to them are not read back
    known = session.info.setdefault(KNOWN_RECORDS, {})
    try:
        # the duplicate rules of every target, read with the compiled model
        rules = conversion_setup(session, model).rules
        for target in _in_dependency_order(model, list(targets)):
            options = targets[target] or {}
            _convert_one(service, row, source_entity, mapped, target, options, rules, result)
        result.duplicates = {t: found for t, found in result.duplicates.items() if found}
        if success is not None:
            # the source as read above, unless a record was changed since in the session
            # (an automation of a target's, say): then it is read again, as before
            current = stored if record_writes(session) == writes else None
            _move_source(service, current, entity, record_id, success, source_values, result)
        if result.ok:
            # the audit rows, stage visits and links: one round trip on PostgreSQL
            with sent_together(session.connection()):
                if held is not None:
                    held.write()
                _insert_links(session, service, entity, record_id, result)
            changes = {t: (None, r.id) for t, r in result.records.items()}
            service.events.emit(
                session, RecordEvent("converted", entity, record_id, service.actor, changes)
            )
    except BaseException:
        savepoint.rollback()
        raise
    finally:
        if held is not None:
            held.close()  # written above when all went well; else rolled back below
        session.info.pop(CONVERTING, None)
        if session.info.get(KNOWN_RECORDS) is known:
            del session.info[KNOWN_RECORDS]
    result.new_titles = {
        (t, r.id): r.title for t, r in result.records.items() if t not in result.linked
    }
    result.titles_current = record_writes(session) == writes + (success is not None)
    if result.ok and not dry_run:
        savepoint.commit()
    else:
        savepoint.rollback()
    return result


def _insert_links(
    session: Any, service: RecordService, entity: str, record_id: int, result: Conversion
) -> None:
    """Link the source to every target made or linked (one INSERT for all)."""
    links = [
        {
            "kind": LINK_KIND,
            "from_entity": entity,
            "from_id": record_id,
            "to_entity": target,
            "to_id": record.id,
            "created_by": service.actor.user_id,
        }
        for target, record in result.records.items()
    ]
    if links:
        session.connection().execute(_LINK_INSERT, links)


def _with_values(
    service: RecordService, entity: CompiledEntity, source: Record, values: Any
) -> Record:
    """``source`` with the ``values`` it is given on its way to the success stage (a lead's
    Source picked in the wizard), as the record service stores them. A value that does not
    load, or a field hidden from the caller, is left as it was: the move reports it."""
    if not isinstance(values, dict) or not values:
        return source
    loaded = service._load(entity, values, Errors(), source.owner_id)
    return replace(source, values={**source.values, **loaded})


def _move_source(
    service: RecordService,
    current: Record | None,
    entity: str,
    record_id: int,
    success: str,
    values: Any,
    result: Conversion,
) -> None:
    """Move the source (``current`` when it is known as stored, else read again) to its
    success stage with ``values``; what it lacks for that stage goes into ``result``. Tried
    even when a target failed (the savepoint is rolled back then anyway), so the wizard can
    ask for the source's fields in the same step."""
    if values is not None and not isinstance(values, dict):
        result.errors[entity] = {"_record": ["Expected an object of field values."]}
        return
    try:
        # no savepoint of its own: what a refused move wrote (an automation refusing after
        # the update, say) goes with the conversion's savepoint, rolled back on any error
        if current is not None:
            moved = service.move_stage_of(current, success, values=values or {})
        else:
            moved = service.move_stage(entity, record_id, success, values=values or {})
    except ValidationFailed as exc:
        # a field hidden from the caller is not named: its problem is the record's
        hidden = service.access.hidden_fields(entity)
        errors: dict[str, list[str]] = {}
        for key, messages in exc.errors.items():
            errors.setdefault("_record" if key in hidden else key, []).extend(messages)
        result.errors[entity] = errors
        missing = [k for k in _required_keys(exc.errors) if k not in hidden]
        if missing:
            result.missing[entity] = missing
        return
    if result.ok:
        result.source = moved


def _required_keys(errors: dict[str, Any]) -> list[str]:
    """The fields whose messages say they are required (not merely invalid)."""
    return [
        key
        for key, messages in errors.items()
        if any(str(m).startswith("Required") for m in messages)
    ]


def _check_request(row: MapSpec, targets: Any) -> None:
    if not isinstance(targets, dict) or not targets:
        raise BadRequest(
            "Choose at least one target.", {"targets": ["Choose at least one target."]}
        )
    errors: dict[str, list[str]] = {}
    for target, options in targets.items():
        if target not in (row.targets or {}):
            known = ", ".join(row.targets or {})
            errors[target] = [
                f"The map {row.key!r} does not convert into {target!r} (it can: {known})."
            ]
        elif options is not None and not isinstance(options, dict):
            errors[target] = ["Expected an object of field values and options."]
        elif options:
            wrong = [
                name
                for name, kind in (("use_existing", int), ("pipeline", str), ("stage", str))
                if not isinstance(options.get(name), kind | None)
                or isinstance(options.get(name), bool)
            ]
            if wrong:
                errors[target] = [f"{name}: {TARGET_OPTION_TYPES[name]}" for name in wrong]
    if errors:
        raise BadRequest("Invalid targets.", errors)


def _check_not_converted(entity: CompiledEntity, source: Record, linked: bool) -> None:
    """``linked``: a conversion link from ``source`` exists."""
    stage = entity.pipelines[source.pipeline].stages.get(source.stage) if source.pipeline else None
    if linked or (stage is not None and stage.kind == "success"):
        raise Conflict(f"{source.title!r} has been converted already.")
    if stage is not None and stage.kind == "failure":
        raise Conflict(f"{source.title!r} is closed as {stage.label!r}; reopen it to convert it.")


def _success_stage(entity: CompiledEntity, source: Record) -> str | None:
    if not entity.has_pipelines:
        return None
    stage = entity.pipelines[source.pipeline].success_stage() if source.pipeline else None
    if stage is None:
        raise BadRequest(f"The pipeline of {source.title!r} has no success stage to end in.")
    return stage.key


def _in_dependency_order(model: CompiledModel, targets: list[str]) -> list[str]:
    """Targets that others refer to come first (company, then contact, then deal); worked
    out once per compiled model and list of targets (the map's, so few)."""
    built = model.memo.setdefault("conversion_orders", {})
    key = tuple(targets)
    found = built.get(key)
    if found is None:
        found = built[key] = tuple(_dependency_order(model, targets))
    return list(found)


def _dependency_order(model: CompiledModel, targets: list[str]) -> list[str]:

    def refers(a: str, b: str) -> bool:
        return any(
            f.type.name == "reference" and f.settings.get("target") == b
            for f in model.entities[a].fields.values()
        )

    ordered: list[str] = []
    pending = list(targets)
    while pending:
        ready = [t for t in pending if not any(refers(t, o) for o in pending if o != t)]
        chosen = ready[0] if ready else pending[0]  # a cycle: take the first as it comes
        ordered.append(chosen)
        pending.remove(chosen)
    return ordered


def _convert_one(
    service: RecordService,
    row: MapSpec,
    source_entity: CompiledEntity,
    source: Record,
    target: str,
    options: dict[str, Any],
    rules: Mapping[str, Sequence[RuleSpec]],
    result: Conversion,
) -> None:
    model = service.model
    target_entity = model.entities[target]
    spec = row.targets[target]
    values: dict[str, Any] = {}
    hidden = service.access.hidden_on(source_entity.key, source.owner_id)
    for target_key, origin in (spec.get("fields") or {}).items():
        target_field = target_entity.fields.get(target_key)
        if target_field is None:
            continue  # archived since the map was saved (archiving a mapped field is refused)
        if hidden & _origin_fields(origin, source_entity):
            result.not_carried.setdefault(target, []).append(target_key)
            continue
        table = (spec.get("values") or {}).get(target_key)
        value = _mapped_value(model, source_entity, source, origin, target_field, table)
        if value is not None:
            values[target_key] = value
    for f in target_entity.fields.values():
        other = f.settings.get("target") if f.type.name == "reference" else None
        if other in result.records and f.key not in options:
            values[f.key] = result.records[other].id
    values.update({k: v for k, v in options.items() if k not in TARGET_OPTIONS})
    # found even when one of them is linked, so the choice can be changed again
    result.duplicates[target] = find_candidates(
        service, target, values, rules=rules.get(target, ())
    )
    existing = options.get("use_existing")
    if existing is not None:
        try:
            result.records[target] = service.get(target, existing)
            result.linked[target] = existing
            _know(service, result.records[target])
        except NotFound:
            result.errors[target] = {
                "use_existing": [f"No {target_entity.label} with id {existing!r}."]
            }
        return
    try:
        result.records[target] = service.create(
            target,
            values,
            pipeline=options.get("pipeline") or spec.get("pipeline"),
            stage=options.get("stage") or spec.get("stage"),
        )
        _know(service, result.records[target])
    except ValidationFailed as exc:
        result.errors[target] = dict(exc.errors)
        result.missing[target] = _required_keys(exc.errors)
    except PermissionDenied as exc:
        result.errors[target] = {"_record": [exc.detail]}


def _know(service: RecordService, record: Record) -> None:
    """Note ``record`` as existing (with its owner) for the reference checks that follow."""
    known = service.session.info.get(KNOWN_RECORDS)
    if known is not None:
        known[(record.entity, record.id)] = record.owner_id


def _origin_fields(origin: Any, source_entity: CompiledEntity) -> frozenset[str]:
    """The source fields a map entry reads: a field key, or the names of an expression."""
    if isinstance(origin, str):
        return frozenset({origin})
    if isinstance(origin, dict) and "expr" in origin:
        try:
            names = compile_expression(origin["expr"], list(source_entity.fields)).names_used
        except ExpressionError:
            return frozenset()
        return frozenset(names)
    return frozenset()


def _mapped_value(
    model: Any,
    source_entity: CompiledEntity,
    source: Record,
    origin: Any,
    target: CompiledField,
    table: dict[str, str] | None,
) -> Any:
    """The value for ``target`` in the form the record service takes as input."""
    if isinstance(origin, dict) and "value" in origin:
        return origin["value"]
    if isinstance(origin, dict) and "expr" in origin:
        plain = {
            k: f.type.to_plain(f, source.values.get(k)) for k, f in source_entity.fields.items()
        }
        try:
            result = compile_expression(origin["expr"], list(source_entity.fields)).evaluate(plain)
        except ExpressionError:
            return None
        return _as_input(result)
    field = source_entity.fields.get(origin)
    if field is None:
        return None
    value = source.values.get(origin)
    if field.type.is_empty(value):
        return None
    if table and field.type.name == "list":
        return table.get(value, value)
    if table and field.type.name == "multi_list":
        return [table.get(v, v) for v in value]
    if field.type.name != target.type.name:
        if target.type.name in ("text", "long_text"):
            return field.type.display(field, value, model)
        if field.type.name == "money":
            return str(value.amount)
        if field.type.name == "date" and target.type.name == "datetime":
            return value.isoformat() + "T00:00:00+00:00"
    return field.type.to_audit(field, value)


def _as_input(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
