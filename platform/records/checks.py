"""Checking a write: loading the input values, types, options, references, uniqueness,
pipeline placement, versions, and the required, stage and validation rules. Every problem is
collected in an :class:`Errors`, so a write reports all of them at once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import select

from trellis.access.probes import Probe, note_probe
from trellis.errors import BadRequest, Conflict
from trellis.metamodel.changes import Errors
from trellis.metamodel.compiled import CompiledEntity, CompiledField
from trellis.records.record import KNOWN_RECORDS, Checked, NewRecord, Record, RecordParts
from trellis.records.stage_rules import creation_problem
from trellis.records.unique_batch import NOT_ASKED, StoredHolders
from trellis.records.user_values import resolve_user_values
from trellis.records.validation import RECORD_KEY, rule_problems

#: a unique value taken on a record the caller may not see (not confirmed as such)
TAKEN_UNSEEN = "This value cannot be used; choose another."
#: a rule about a field hidden from the caller is not met (the field and the rule unnamed)
HIDDEN_RULE = "A rule about information you cannot see is not met; ask someone who can see it."
READ_ONLY_KEYS = frozenset(
    {"id", "version", "title", "created_at", "updated_at", "created_by", "updated_by", "owner"}
)


MISSING = object()


@dataclass
class NewBatch:
    """What the new records of one batch share, worked out for the first and then reused
    (see :meth:`Checks._loaded_new`): the values a record starts from (no value or the
    default of each field), kept when none of them can change in place; and for each
    placement asked for (pipeline, stage as given), where it lands, its problems and why
    the caller may not create a record there."""

    start: dict[str, Any] | None = None
    placements: dict[tuple[Any, Any], Placed] = field(default_factory=dict)


class Placed(NamedTuple):
    """Where a new record's placement lands (see :meth:`Checks._placed`)."""

    pipeline: str | None
    stage: str | None
    problems: list[tuple[str, str]]
    #: why the caller may not create a record straight into the stage (None: they may)
    refused: str | None


class LoadedNew(NamedTuple):
    """A new record loaded but not checked yet (see :meth:`Checks._loaded_new`): what
    :meth:`Checks._check` takes besides the values."""

    ready: Checked
    changed: list[str]
    checked: dict[str, Sequence[str] | None]


class Checks(RecordParts):
    """The checks of the record service (a part of RecordService)."""

    def _load(
        self,
        ent: CompiledEntity,
        data: Mapping[str, Any],
        errors: Errors,
        owner_id: int | None,
        checked: dict[str, Sequence[str] | None] | None = None,
        preloaded: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The loaded (and normalised) values of ``data``'s fields, every problem in
        ``errors``. With ``checked`` (a create: no old values), the values are checked as
        they are loaded, each field's loading, normalising and value checks in one call
        (``FieldType.new_value_loader``), and what is left for :meth:`_check` (the problems
        to report in its turn, the checks to run after loading) is put in ``checked`` by
        field (see ``InputLoader.load_new``). ``preloaded``: the values a batch's columns
        loaded without a problem (``InputLoader.load_new_many``), taken when every key of
        ``data`` is a field the caller may write."""
        if type(data) is not dict and not isinstance(data, Mapping):
            raise BadRequest("Expected an object of field values.")
        hidden = self.access.hidden_on(ent.key, owner_id)
        read_only = self.access.read_only_fields(ent.key)
        if not hidden and not read_only and data.keys() <= ent.fields.keys():
            known: Mapping[str, Any] = data  # (every key a field the caller may write)
        else:
            known, preloaded = self._known(ent, data, errors, hidden, read_only), None
        # each field's input read, normalised and (on a create) checked in one call, by the
        # entity type's loader (see ``trellis.metamodel.loading``)
        if preloaded is not None:
            values = preloaded
        elif checked is None:
            values = ent.input_loader.load(known, errors)
        else:
            values = ent.input_loader.load_new(known, self.model, errors, checked)
        for key in ent.value_hooks.side_keys:
            if values.get(key):
                # choices read back in the list's order; keep that order from the start
                options = self.model.option_lists[ent.fields[key].settings["list"]].options
                order = {k: o.position for k, o in options.items()}
                values[key] = tuple(sorted(values[key], key=lambda v: (order.get(v, 1 << 30), v)))
        return values

    @staticmethod
    def _known(
        ent: CompiledEntity,
        data: Mapping[str, Any],
        errors: Errors,
        hidden: frozenset[str],
        read_only: frozenset[str],
    ) -> dict[str, Any]:
        """The values of ``data`` for fields the caller may write; a problem in ``errors``
        for every other key."""
        known = {}
        for key, value in data.items():
            if key in hidden:
                errors.add(key, "Unknown field.")
            elif key in read_only:
                errors.add(key, "Read-only.")
            elif key in ent.fields:
                known[key] = value
            elif key in READ_ONLY_KEYS:
                errors.add(key, "Read-only.")
            elif key in ("pipeline", "stage"):
                errors.add(key, "Move the record to change its stage.")
            else:
                errors.add(key, "Unknown field.")
        return known

    def _checked_new(
        self, ent: CompiledEntity, new: NewRecord, errors: Errors, by_flow: str | None = None
    ) -> Checked:
        """A new record's values (defaults filled in), placement and owner, with every
        problem in ``errors``; ``by_flow`` as for ``move_stage``."""
        loaded = self._loaded_new(ent, new, errors, by_flow)
        self._check_new(ent, loaded, errors)
        return loaded.ready

    def _loaded_new(
        self,
        ent: CompiledEntity,
        new: NewRecord,
        errors: Errors,
        by_flow: str | None = None,
        preloaded: dict[str, Any] | None = None,
        batch: NewBatch | None = None,
    ) -> LoadedNew:
        """The first half of :meth:`_checked_new`: the values loaded (defaults filled in)
        and the placement checked, with their problems in ``errors``; ``create_many`` loads
        every record of a batch before checking any, to look up their unique values in one
        statement per field (see :mod:`trellis.records.unique_batch`); ``preloaded`` as for
        :meth:`_load`; ``batch``: what the batch's records share."""
        owner = new.owner_id if new.owner_id is not None else self.actor.user_id
        checked: dict[str, Sequence[str] | None] = {}
        loaded = self._load(ent, new.data, errors, owner, checked, preloaded)
        if batch is not None and batch.start is not None:
            values = dict(batch.start)
        else:
            values = self._start_values(ent, batch)
        values.update(loaded)
        placed = self._placed(ent, new, by_flow, batch)
        for key, message in placed.problems:
            errors.add(key, message)
        if placed.refused and "pipeline" not in errors and "stage" not in errors:
            errors.add("stage", placed.refused)
        return LoadedNew(
            Checked(values, placed.pipeline, placed.stage, owner), list(loaded), checked
        )

    def _start_values(self, ent: CompiledEntity, batch: NewBatch | None) -> dict[str, Any]:
        """The values a new record starts from: each field's default, or its empty value
        (kept in ``batch`` when none of them can change in place: each can be hashed)."""
        hooks = ent.value_hooks
        if hooks.defaulted:
            values = {
                key: self._default(ent.fields[key]) if key in hooks.defaulted else empty
                for key, empty in hooks.empty.items()
            }
        else:
            values = dict(hooks.empty)
        if batch is not None:
            try:
                hash(tuple(values.values()))
            except TypeError:  # (a list, say: each record gets its own)
                return values
            batch.start = values
            return dict(values)
        return values

    def _placed(
        self, ent: CompiledEntity, new: NewRecord, by_flow: str | None, batch: NewBatch | None
    ) -> Placed:
        """Where ``new`` lands (the first pipeline's first stage unless it says), with the
        placement's problems; worked out once per placement of a ``batch``."""
        asked = (new.pipeline, new.stage)
        if batch is not None:
            try:
                return batch.placements[asked]
            except KeyError:
                pass
            except TypeError:  # (a placement that is no key, a list say: not kept)
                batch = None
        found = Errors()
        pipeline, stage = self._placement(ent, new.pipeline, new.stage, None, None, found)
        refused = None
        if pipeline and stage and not found:
            refused = creation_problem(ent, pipeline, stage, self.actor, by_flow=by_flow)
        placed = Placed(pipeline, stage, [(k, m) for k, ms in found.items() for m in ms], refused)
        if batch is not None:
            batch.placements[asked] = placed
        return placed

    def _check_new(
        self,
        ent: CompiledEntity,
        loaded: LoadedNew,
        errors: Errors,
        holders: StoredHolders | None = None,
    ) -> None:
        """The second half of :meth:`_checked_new`: every other check of the loaded record;
        ``holders``: the batch's unique values looked up already."""
        ready = loaded.ready
        self._check(
            ent,
            ready.values,
            {},
            loaded.changed,
            None,
            ready.pipeline,
            ready.stage,
            errors,
            ready.owner_id,
            loaded.checked,
            holders,
        )

    def _check_unique_in_batch(
        self,
        ent: CompiledEntity,
        new: Checked,
        taken_in_batch: dict[tuple[str, Any], int | None],
        errors: Errors,
    ) -> None:
        """The unique values of a new record against those of the batch's earlier valid
        records (``taken_in_batch``: (field, stored value) -> owner), with the message
        ``create`` gives when the earlier record is already stored; a valid record's values
        are then added."""
        keys = {}
        for f in ent.value_hooks.unique:
            value = new.values.get(f.key)
            if f.key in errors or f.type.is_empty(value):
                continue
            keys[f.key] = (f.key, tuple(f.type.to_row(f, value).items()))
            if keys[f.key] not in taken_in_batch:
                continue
            owner = taken_in_batch[keys[f.key]]
            if self.access.allows("read", ent.key, owner) and f.key not in (
                self.access.hidden_on(ent.key, owner)
            ):
                errors.add(f.key, taken(ent, f))
            else:
                errors.add(f.key, TAKEN_UNSEEN)
                self._probe(ent, None, [f.key])
        if not errors:
            for key in keys.values():
                taken_in_batch[key] = new.owner_id

    def _check(
        self,
        ent: CompiledEntity,
        values: dict[str, Any],
        old: Mapping[str, Any],
        changed: list[str],
        record_id: int | None,
        pipeline: str | None,
        stage: str | None,
        errors: Errors,
        owner_id: int | None,
        checked: Mapping[str, Sequence[str] | None] | None = None,
        holders: StoredHolders | None = None,
    ) -> None:
        """Every problem of ``values`` in ``errors``; ``checked``: on a create, what the
        value checks run as the values were loaded left to do (see :meth:`_load`);
        ``holders``: unique values looked up for a batch (else each is looked up here)."""
        hooks = ent.value_hooks
        if hooks.has_users:
            resolve_user_values(self.session, ent, values, old, changed, errors)
        checkers = hooks.checkers  # (a type that checks nothing beyond its input has none)
        # (on a create, only the values checked with problems or not checked yet, in the
        # order of ``changed``: the others were checked without a problem)
        for key in changed if checked is None else checked:
            if key in errors or key not in checkers:
                continue
            problems = None if checked is None else checked[key]
            if problems is None:
                problems = checkers[key](values[key], old.get(key), self.model)
            for message in problems:
                errors.add(key, message)
        if hooks.has_references:
            self._check_references(ent, values, old, changed, errors)
        if hooks.unique:
            self._check_unique(ent, values, changed, record_id, errors, holders)
        if not ent.rules and not hooks.required:
            return
        plain = dict(values)
        for key, to_plain in hooks.plain:  # (the types whose plain value differs)
            if key in plain:
                plain[key] = to_plain(plain[key])
        # a rule about a field hidden from the caller is enforced, but its message names
        # neither the field nor the condition, and the refusal counts as a probe
        hidden = self.access.hidden_on(ent.key, owner_id)
        probed: set[str] = set()
        for key, message, names in rule_problems(ent, values, plain, pipeline, stage):
            if names & hidden:
                probed |= names & hidden
                key, message = _redacted(key, message, hidden)
            if key == RECORD_KEY and message in errors.get(key, []):
                continue
            if key not in errors or key == RECORD_KEY:
                errors.add(key, message)
        if probed and record_id is not None:
            # (a new record holds only defaults in the fields hidden from its creator: a
            # refusal tells nothing stored)
            self._probe(ent, record_id, probed)

    def _probe(self, ent: CompiledEntity, record_id: int | None, fields: Iterable[str]) -> None:
        """Note a refusal that depends on what the caller may not see (see access.probes)."""
        note_probe(
            self.session, Probe(self.actor.user_id, ent.key, record_id, tuple(sorted(fields)))
        )

    def _check_references(
        self,
        ent: CompiledEntity,
        values: Mapping[str, Any],
        old: Mapping[str, Any],
        changed: list[str],
        errors: Errors,
    ) -> None:
        for key in changed:
            f = ent.fields[key]
            value = values.get(key)
            if f.type.name != "reference" or value is None or key in errors:
                continue
            if value == old.get(key):
                continue
            target = self.model.entities.get(f.settings["target"])
            if target is None:
                errors.add(key, f"The target entity type {f.settings['target']!r} is archived.")
                continue
            # a record the caller may not read is as absent as one that does not exist
            owner = self.session.info.get(KNOWN_RECORDS, {}).get((target.key, value), MISSING)
            if owner is not MISSING:
                if not self.access.allows("read", target.key, owner):
                    errors.add(key, f"No {target.label} with id {value}.")
                continue
            query = select(target.table.c.id).where(target.table.c.id == value)
            scope = self.access.scope_clause("read", target.key, target.table)
            if scope is not None:
                query = query.where(scope)
            if self.session.scalar(query) is None:
                errors.add(key, f"No {target.label} with id {value}.")

    def _check_unique(
        self,
        ent: CompiledEntity,
        values: Mapping[str, Any],
        changed: list[str],
        record_id: int | None,
        errors: Errors,
        holders: StoredHolders | None = None,
    ) -> None:
        """A problem for each changed unique value another record holds (the value as the
        ``eq`` filter finds it): the holder looked up in ``holders`` (a batch's, one
        statement per field) or, for a value not looked up there, here."""
        for key in changed:
            f = ent.fields[key]
            value = values.get(key)
            if not f.unique or key in errors or f.type.is_empty(value):
                continue
            plain = f.type.to_plain(f, value)
            other = NOT_ASKED if holders is None else holders.holder(f, plain)
            if other is NOT_ASKED:
                clause = f.type.filter_clause(f, ent.table, "eq", plain, self.model)
                query = select(ent.table.c.id, ent.table.c.owner_id).where(clause)
                if record_id is not None:
                    query = query.where(ent.table.c.id != record_id)
                other = self.session.execute(query.limit(1)).first()
            if other is None:
                continue
            if self.access.allows("read", ent.key, other.owner_id) and key not in (
                self.access.hidden_on(ent.key, other.owner_id)
            ):
                errors.add(key, taken(ent, f))
            else:
                # the value is taken on a record the caller may not see: refuse without
                # confirming it, and count the refusal as a probe
                errors.add(key, TAKEN_UNSEEN)
                self._probe(ent, record_id, [key])

    def _placement(
        self,
        ent: CompiledEntity,
        pipeline: str | None,
        stage: str | None,
        current_pipeline: str | None,
        current_stage: str | None,
        errors: Errors,
    ) -> tuple[str | None, str | None]:
        for name, value in (("pipeline", pipeline), ("stage", stage)):
            if value is not None and not isinstance(value, str):
                errors.add(name, "Expected a key (text).")
                return current_pipeline, current_stage
        if not ent.has_pipelines:
            if pipeline or stage:
                errors.add("stage", f"{ent.label_plural} have no stages.")
            return None, None
        chosen = ent.pipelines.get(pipeline) if pipeline else ent.default_pipeline()
        if chosen is None:
            errors.add(
                "pipeline", f"Unknown pipeline {pipeline!r} (use: {', '.join(ent.pipelines)})."
            )
            return current_pipeline, current_stage
        if stage is None:
            return chosen.key, chosen.first_stage().key
        if stage not in chosen.stages:
            errors.add("stage", f"Pipeline {chosen.label!r} has no stage {stage!r}.")
            return current_pipeline, current_stage
        return chosen.key, stage

    def _check_version(self, current: Record, version: Any) -> None:
        if isinstance(version, bool) or not isinstance(version, int):
            raise BadRequest("Send the version you read (an integer) to change a record.")
        if version != current.version:
            raise Conflict(
                f"{current.title!r} was changed by someone else (you read version {version}, "
                f"it is now at {current.version}). Nothing was written.",
                current={"version": current.version},
            )

    def _default(self, f: CompiledField) -> Any:
        if f.default is None:
            return f.type.empty_value
        # loaded and normalised as a value given would be (a default of '' is no value)
        return f.type.normalise(f, f.type.input_field(f, self.model).deserialize(f.default))


def taken(ent: CompiledEntity, f: CompiledField) -> str:
    return f"Another {ent.label} has this {f.label} already."


def _redacted(key: str, message: str, hidden: frozenset[str]) -> tuple[str, str]:
    """A rule problem reworded for a caller from whom some of its fields are hidden: no field
    they cannot see is named, no condition is echoed."""
    if key in hidden or key == RECORD_KEY:
        return RECORD_KEY, HIDDEN_RULE
    return key, "Required." if message.startswith("Required") else HIDDEN_RULE
