"""Field operations: add, change, reorder, archive, restore, purge.

Adding a field adds a column (never a table rewrite); archiving hides it and keeps the column
and its data; a purge drops the column for good and is refused while anything uses the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Required, TypedDict, Unpack

import marshmallow as ma
import sqlalchemy as sa

from trellis.errors import Conflict, ValidationFailed
from trellis.metamodel.changes import (
    TYPE_CHANGE_CHECKS,
    Errors,
    MetamodelChanges,
    key_errors,
    label_errors,
    position_errors,
)
from trellis.metamodel.compiler import title_keys
from trellis.metamodel.fieldtypes import UnknownFieldType, registry
from trellis.metamodel.fieldtypes.input_fields import input_messages
from trellis.metamodel.models import ConfigChange, EntityType, Field
from trellis.metamodel.physical import SYSTEM_COLUMNS, FieldLayout, record_table_name
from trellis.words import counted

FIELD_EDITABLE = ("label", "help_text", "required", "default", "unique", "indexed", "position")
TEXTUAL = ("text", "long_text", "email", "phone", "url")
#: type changes that keep the column (or widen it in place): every stored value is checked
#: against the new type first, none is converted, so nothing can be lost
TYPE_CHANGES: dict[str, tuple[str, ...]] = {
    **{name: tuple(t for t in TEXTUAL if t != name) for name in TEXTUAL},
    "integer": ("decimal",),
}
#: how many offending records a refused type change names
EXAMPLES = 3
#: records read at a time when a type change checks the stored values
UNFIT_BATCH = 1000
#: settings that cannot change once records may hold values that depend on them
FIXED_SETTINGS = ("list", "target")


class FieldOptions(TypedDict, total=False):
    """The optional properties of a new field; left out: not required, no settings (the
    type's defaults), no default value, neither unique nor indexed, no help text, placed
    after the last field."""

    required: bool
    settings: dict[str, Any] | None
    default: Any
    unique: bool
    indexed: bool
    help_text: str
    position: int | None


class NewField(FieldOptions):
    """A new field as :meth:`FieldOperations.add_fields` takes it: its key, label and type
    and the optional properties (as :meth:`FieldOperations.add_field` takes them)."""

    key: Required[str]
    label: Required[str]
    type: Required[str]


#: every property a new field may have
NEW_FIELD_PROPERTIES = NewField.__required_keys__ | NewField.__optional_keys__
FLAGS = ("required", "unique", "indexed")


class FieldOperations(MetamodelChanges):
    """Fields of entity types."""

    def add_field(
        self, entity: str, key: str, label: str, type: str, **options: Unpack[FieldOptions]
    ) -> Field:
        """Add a field and its column(s); every problem with the input is reported at once.
        ``options``: the optional properties of :class:`FieldOptions`."""
        row = self.entity_row(entity)
        field = self._new_field(row, {"key": key, "label": label, "type": type, **options})
        row.fields.append(field)
        self.sync_schema(row)
        self.bump("field.add", f"{entity}.{key}", {"type": type, "settings": field.settings})
        return field

    def add_fields(self, entity: str, specs: list[NewField]) -> list[Field]:
        """Add several fields at once (each ``{key, label, type, ...}`` as :meth:`add_field`
        takes them): every problem of every field is reported at once, under
        ``<key>.<property>``; the table changes in one pass. Config packs use it."""
        row = self.entity_row(entity)
        errors = Errors()
        added: list[Field] = []
        taken = {f.key for f in row.fields}
        for number, spec in enumerate(specs):
            name = str(spec.get("key") or number)
            if spec.get("key") in taken:
                errors.add(name, f"{row.key} has a field {spec.get('key')!r} already.")
                continue
            try:
                field = self._new_field(row, spec)
            except ValidationFailed as exc:
                for prop, messages in exc.errors.items():
                    for message in messages:
                        errors.add(f"{name}.{prop}", message)
                continue
            except TypeError as exc:  # an unknown property
                errors.add(name, str(exc))
                continue
            taken.add(field.key)
            if spec.get("position") is None:
                field.position = _next_position(row) + len(added)
            added.append(field)
        errors.raise_if_any()
        row.fields.extend(added)
        self.sync_schema(row)
        for number, field in enumerate(added, start=1):
            detail = {"type": field.type, "settings": field.settings}
            target = f"{entity}.{field.key}"
            if number < len(added):  # one history entry each, one move of the stamp
                self.session.add(
                    ConfigChange(
                        by=self.actor.user_id, action="field.add", target=target, detail=detail
                    )
                )
            else:
                self.bump("field.add", target, detail)
        return added

    def _new_field(self, row: EntityType, spec: NewField) -> Field:
        """A new field of ``row``, checked (not added yet). A property :class:`NewField` does
        not know is a ``TypeError``, as an unknown keyword argument is."""
        unknown = sorted(set(spec) - NEW_FIELD_PROPERTIES)
        if unknown:
            raise TypeError(f"Unknown field properties: {', '.join(map(str, unknown))}.")
        key, label, type = spec.get("key"), spec.get("label"), spec.get("type")
        required, unique, indexed = (spec.get(flag, False) for flag in FLAGS)
        settings, default = spec.get("settings"), spec.get("default")
        help_text, position = spec.get("help_text", ""), spec.get("position")
        errors = Errors()
        for message in key_errors(key):
            errors.add("key", message)
        duplicate = any(f.key == key for f in row.fields)
        for message in label_errors(label):
            errors.add("label", message)
        try:
            field_type = registry.get(type)
        except UnknownFieldType as exc:
            errors.add("type", str(exc))
            errors.raise_if_any()
            raise
        raw_settings = settings or {}
        if not isinstance(raw_settings, dict):
            errors.add("settings", "Expected an object.")
            errors.raise_if_any()
        for message in field_type.settings_errors(raw_settings, self.model_if_read):
            errors.add("settings", message)
        full_settings = field_type.normalise_settings(raw_settings)
        for flag, value in (("required", required), ("unique", unique), ("indexed", indexed)):
            if not isinstance(value, bool):
                errors.add(flag, "Use true or false.")
        for message in position_errors(position) if position is not None else []:
            errors.add("position", message)
        if not isinstance(help_text, str | None):
            errors.add("help_text", "Use text.")
        if unique and not field_type.can_be_unique:
            errors.add("unique", f"A {type} field cannot be unique.")
        if "key" not in errors and "settings" not in errors and not duplicate:
            for message in self._collision_errors(row, key, field_type, full_settings):
                errors.add("key", message)
        if "settings" not in errors and default is not None:
            for message in self._default_errors(key, field_type, full_settings, default):
                errors.add("default", message)
        errors.raise_if_any()
        if duplicate:  # a taken key is a conflict, as for entity types, lists and pipelines
            raise Conflict(f"{row.key} has a field {key!r} already (maybe archived).")
        field = Field(
            key=key,
            label=label.strip(),
            type=type,
            required=bool(required),
            settings=full_settings,
            default=default,
            unique=bool(unique),
            indexed=bool(indexed),
            help_text=help_text or "",
            position=position if position is not None else _next_position(row),
        )
        return field

    def update_field(self, entity: str, key: str, /, **changes: Any) -> Field:
        """Change a field's label, help, flags, default, position or (some) settings.

        ``entity`` and ``key`` are positional-only, so ``changes`` naming ``key`` or ``type``
        (from a request body) are reported as unchangeable instead of clashing."""
        row = self.entity_row(entity)
        field = self.field_row(row, key)
        field_type = registry.get(field.type)
        errors = Errors()
        for name in changes:
            if name == "key":
                errors.add(name, "Cannot be changed once the field exists.")
            elif name not in (*FIELD_EDITABLE, "settings", "type"):
                errors.add(name, "Unknown property.")
        if "label" in changes:
            for message in label_errors(changes["label"]):
                errors.add("label", message)
        settings = dict(field.settings or {})
        if changes.get("type", field.type) != field.type:
            type_errors = self._type_change_errors(entity, field, changes["type"])
            if type_errors:
                errors["type"] = type_errors
            else:
                field_type = registry.get(changes["type"])
                known = field_type.settings_schema.get("properties", {})
                settings = {k: v for k, v in settings.items() if k in known}
                if "settings" not in changes:  # the new type's defaults, checked below
                    changes["settings"] = {}
        new = changes.get("settings") or {}
        if not isinstance(new, dict):
            errors.add("settings", "Expected an object.")
        elif "settings" in changes:
            for name in FIXED_SETTINGS:
                if name in settings and new.get(name, settings[name]) != settings[name]:
                    errors.add("settings", f"{name}: cannot be changed once the field exists.")
            for message in field_type.settings_errors({**settings, **new}, self.model_if_read):
                errors.add("settings", message)
            settings = field_type.normalise_settings({**settings, **new})
        if not isinstance(changes.get("help_text"), str | None):
            errors.add("help_text", "Use text.")
        for flag in ("required", "unique", "indexed"):
            if flag in changes and not isinstance(changes[flag], bool):
                errors.add(flag, "Use true or false.")
        for message in position_errors(changes["position"]) if "position" in changes else []:
            errors.add("position", message)
        if changes.get("unique", field.unique) and not field_type.can_be_unique:
            errors.add("unique", f"A {field_type.name} field cannot be unique.")
        default = changes.get("default", field.default)
        if default is not None and "settings" not in errors:
            for message in self._default_errors(key, field_type, settings, default):
                errors.add("default", message)
        errors.raise_if_any()
        if field_type.name != field.type:
            unfit = self._unfit_values(row, field, field_type, settings)
            if unfit:
                raise ValidationFailed({"type": unfit})
        before = {n: getattr(field, n) for n in changes}
        for name, value in changes.items():
            if name == "settings":
                field.settings = settings
            elif name in ("required", "unique", "indexed"):
                setattr(field, name, bool(value))
            elif name == "label":
                field.label = value.strip()
            elif name == "type":
                field.type = field_type.name
            elif name == "help_text":
                field.help_text = value or ""
            else:
                setattr(field, name, value)
        self.sync_schema(row)
        self.bump(
            "field.update", f"{entity}.{key}", _jsonable({"before": before, "after": changes})
        )
        return field

    def reorder_fields(self, entity: str, keys: list[str]) -> None:
        """Put the fields named in ``keys`` first, in that order; the rest keep their order."""
        row = self.entity_row(entity)
        by_key = {f.key: f for f in row.fields}
        unknown = [k for k in keys if k not in by_key]
        if unknown:
            raise ValidationFailed({"keys": [f"Unknown field: {', '.join(unknown)}"]})
        rest = [f for f in sorted(row.fields, key=lambda f: f.position) if f.key not in keys]
        for position, field in enumerate([by_key[k] for k in keys] + rest):
            field.position = position
        self.bump("field.reorder", entity, {"keys": keys})

    def archive_field(self, entity: str, key: str) -> Field:
        """Hide a field everywhere; its column and data stay until a purge."""
        row = self.entity_row(entity)
        field = self.field_row(row, key)
        if field.archived:
            return field
        blockers = self.usages(entity, key)
        if key in title_keys(row.title_template):
            blockers.append("The record title uses it (see Settings).")
        if blockers:
            raise ValidationFailed({key: blockers}, f"The field “{field.label}” is still in use.")
        field.archived = True
        self.sync_schema(row)  # its list index goes (the column and data stay)
        self.bump("field.archive", f"{entity}.{key}")
        return field

    def restore_field(self, entity: str, key: str) -> Field:
        """Bring an archived field back, with its data."""
        row = self.entity_row(entity)
        field = self.field_row(row, key)
        if field.type in ("list", "multi_list") and field.settings.get("list") not in (
            self.model.option_lists
        ):
            raise ValidationFailed({"settings": ["Its option list no longer exists."]})
        field.archived = False
        self.sync_schema(row)  # its list index comes back
        self.bump("field.restore", f"{entity}.{key}")
        return field

    def purge_field(self, entity: str, key: str) -> None:
        """Delete an archived field and its data for good."""
        row = self.entity_row(entity)
        field = self.field_row(row, key)
        if not field.archived:
            raise ValidationFailed({key: ["Archive the field before purging it."]})
        blockers = self.usages(entity, key)
        if blockers:
            raise ValidationFailed({key: blockers}, f"The field “{field.label}” is still in use.")
        field_type = registry.get(field.type)
        table = record_table_name(entity)
        layout = FieldLayout(field.key, field_type, field.settings)
        drop = {f"{table}.{c.name}" for c in field_type.columns(layout)}
        side = field_type.side_table(layout, table)
        if side is not None:
            drop.add(side.name)
        row.fields.remove(field)
        self.session.delete(field)
        self.sync_schema(row, drop=frozenset(drop))
        self.bump("field.purge", f"{entity}.{key}")

    # -- checks ----------------------------------------------------------------------------

    def _type_change_errors(self, entity: str, field: Field, new: Any) -> list[str]:
        """Why ``field`` cannot become a ``new`` field (before looking at the data)."""
        allowed = TYPE_CHANGES.get(field.type, ())
        if new not in allowed:
            if not allowed:
                return [f"A {field.type} field keeps its type; add a new field instead."]
            return [f"A {field.type} field can become {', '.join(allowed)}, not {new!r}."]
        users = [u for check in TYPE_CHANGE_CHECKS for u in check(self.session, entity, field.key)]
        return [f"{u} Change that first." for u in users]

    def _unfit_values(
        self, entity: EntityType, field: Field, new_type: Any, settings: dict[str, Any]
    ) -> list[str]:
        """Records whose stored value the field would no longer accept as ``new_type``: a
        count and the first few values, quoted as stored (read in batches of
        :data:`UNFIT_BATCH` by id, so a big table is no problem, also in a read that has no
        transaction to hold a server-side cursor: a pack's review on PostgreSQL); the
        administrator finds those records by searching for them."""
        old_type = registry.get(field.type)
        old = FieldLayout(field.key, old_type, field.settings or {})
        new = FieldLayout(field.key, new_type, settings)
        columns = [sa.column(c.name) for c in old_type.columns(old)]
        table = sa.table(record_table_name(entity.key), sa.column("id"), *columns)
        query = sa.select(table.c.id, *columns).where(columns[0].is_not(None)).order_by(table.c.id)
        parser = new_type.input_field(new, self.model)
        count, examples = 0, []
        for row in self._in_batches(query.limit(UNFIT_BATCH), table.c.id):
            value = old_type.from_row(old, row)
            try:
                problems = new_type.value_errors(new, parser.deserialize(value), None, self.model)
            except ma.ValidationError as exc:
                problems = input_messages(exc)
            if problems:
                count += 1
                if len(examples) < EXAMPLES:
                    shown = old_type.display(old, value, self.model).replace("\n", " ")
                    shown = shown if len(shown) <= 40 else shown[:39] + "…"
                    examples.append(f"“{shown}” ({problems[0]})")
        if not count:
            return []
        more = f" and {count - len(examples)} more" if count > len(examples) else ""
        return [
            f"{counted(count, 'record holds a value', 'records hold values')} "
            f"{'an' if new_type.label[:1] in 'AEIO' else 'a'} {new_type.label} field does not "
            "accept: "
            f"{', '.join(examples)}{more}. Correct them first."
        ]

    def _in_batches(self, first: sa.Select[Any], key: Any) -> Iterator[Any]:
        """The rows of ``first`` (ordered by the unique ``key``, limited to a batch), then of
        the batches after it by ``key`` (keyset), until one comes back short."""
        batch = first
        while True:
            rows = self.session.execute(batch).mappings().all()
            yield from rows
            if len(rows) < UNFIT_BATCH:
                return
            batch = first.where(key > rows[-1][key.name])

    def _collision_errors(
        self, entity: EntityType, key: str, field_type: Any, settings: dict[str, Any]
    ) -> list[str]:
        """Physical names must not clash with system columns or another field's columns."""
        taken = {c.name for c in SYSTEM_COLUMNS}
        for other in entity.fields:
            other_type = registry.get(other.type)
            taken.update(
                c.name
                for c in other_type.columns(FieldLayout(other.key, other_type, other.settings))
            )
        mine = [c.name for c in field_type.columns(FieldLayout(key, field_type, settings))]
        clashes = [name for name in mine if name in taken]
        return [f"Its column {name!r} clashes with an existing column." for name in clashes]

    def _default_errors(
        self, key: str, field_type: Any, settings: dict[str, Any], default: Any
    ) -> list[str]:
        layout = FieldLayout(key, field_type, settings)
        try:
            value = field_type.input_field(layout, self.model).deserialize(default)
        except ma.ValidationError as exc:
            return input_messages(exc)
        return field_type.value_errors(layout, value, None, self.model)


def _next_position(entity: EntityType) -> int:
    return max((f.position for f in entity.fields), default=-1) + 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
