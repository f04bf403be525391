"""Shared option lists: create, rename, add and retire options.

Records store an option's key, so a renamed label shows everywhere at once, and a retired
option stays readable on records that have it but cannot be chosen again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from trellis.errors import Conflict, NotFound, ValidationFailed
from trellis.metamodel.changes import Errors, MetamodelChanges, label_errors, position_errors
from trellis.metamodel.models import EntityType, Field, Option, OptionList
from trellis.patterns import fixed

OPTION_KEY = fixed(r"^[a-z0-9][a-z0-9_]{0,39}$")  # RE2: "$" is the very end
COLOR = fixed(r"^(#[0-9a-fA-F]{6})?$")  # RE2: "$" is the very end


def option_errors(option: Any) -> Errors:
    """Problems with one option given as a dict (key, label, color)."""
    errors = Errors()
    if not isinstance(option, dict):
        errors.add("options", "Each option is an object with a key and a label.")
        return errors
    if not isinstance(option.get("key"), str) or not OPTION_KEY.match(option["key"]):
        errors.add("key", "Use 1-40 lower-case letters, digits or underscores.")
    for message in label_errors(option.get("label")):
        errors.add("label", message)
    if not color_ok(option.get("color")):
        errors.add("color", "Use a colour such as #1f77b4.")
    if not isinstance(option.get("active", True), bool):
        errors.add("active", "Use true or false.")
    return errors


def color_ok(color: Any) -> bool:
    """A colour is ``#rrggbb``, or empty (``""`` or None) for none."""
    return color is None or (isinstance(color, str) and bool(COLOR.match(color)))


class OptionListOperations(MetamodelChanges):
    """Option lists and their options."""

    def list_row(self, key: str) -> OptionList:
        row = self.session.scalar(select(OptionList).where(OptionList.key == key))
        if row is None:
            raise NotFound(f"No option list {key!r}.")
        return row

    def create_list(
        self, key: str, label: str, options: list[dict[str, Any]] = (), description: str = ""
    ) -> OptionList:  # type: ignore[assignment]
        """Create a list with its first options."""
        errors = Errors()
        if not isinstance(key, str) or not OPTION_KEY.match(key):
            errors.add("key", "Use 1-40 lower-case letters, digits or underscores.")
        for message in label_errors(label):
            errors.add("label", message)
        if not isinstance(description, str | None):
            errors.add("description", "Use text.")
        if not isinstance(options, list | tuple | None):
            errors.add("options", "Expected a list of options.")
            options = ()
        seen: set[str] = set()
        for number, option in enumerate(options or []):
            for name, messages in option_errors(option).items():
                for message in messages:
                    errors.add(f"options.{number}.{name}", message)
            option_key = option.get("key") if isinstance(option, dict) else None
            if not isinstance(option_key, str):
                continue
            if option_key in seen:
                errors.add(f"options.{number}.key", f"Key {option_key!r} is used twice.")
            seen.add(option_key)
        errors.raise_if_any()
        if self.session.scalar(select(OptionList.id).where(OptionList.key == key)):
            raise Conflict(f"An option list with key {key!r} exists already.")
        row = OptionList(key=key, label=label.strip(), description=description or "")
        for position, option in enumerate(options or []):
            row.options.append(
                Option(
                    key=option["key"],
                    label=option["label"].strip(),
                    color=option.get("color") or "",
                    position=position,
                    active=option.get("active", True),
                )
            )
        self.session.add(row)
        self.bump("list.create", key, {"options": [o["key"] for o in options or []]})
        return row

    def update_list(self, key: str, **changes: Any) -> OptionList:
        """Change a list's label or description (its key never changes)."""
        row = self.list_row(key)
        errors = Errors()
        for name in changes:
            if name not in ("label", "description"):
                errors.add(name, "Cannot be changed." if name == "key" else "Unknown property.")
        if "label" in changes:
            for message in label_errors(changes["label"]):
                errors.add("label", message)
        if not isinstance(changes.get("description"), str | None):
            errors.add("description", "Use text.")
        errors.raise_if_any()
        for name, value in changes.items():
            setattr(row, name, value.strip() if name == "label" else value or "")
        self.bump("list.update", key, changes)
        return row

    def add_option(
        self, list_key: str, key: str, label: str, color: str = "", position: int | None = None
    ) -> Option:
        """Add an option (at the end unless ``position`` says otherwise)."""
        row = self.list_row(list_key)
        option_input = {"key": key, "label": label, "color": color}
        errors = option_errors(option_input)
        for message in position_errors(position) if position is not None else []:
            errors.add("position", message)
        errors.raise_if_any()
        if any(o.key == key for o in row.options):
            raise Conflict(f"The list {list_key!r} has an option {key!r} already.")
        option = Option(key=key, label=label.strip(), color=color or "", position=0)
        options = sorted(row.options, key=lambda o: o.position)
        index = len(options) if position is None else max(0, min(position, len(options)))
        options.insert(index, option)
        row.options.append(option)
        for number, item in enumerate(options):
            item.position = number
        self.bump("list.option.add", f"{list_key}.{key}", {"label": label})
        return option

    def update_option(self, list_key: str, key: str, **changes: Any) -> Option:
        """Rename, recolour, move, retire (``active=False``) or bring back an option."""
        row = self.list_row(list_key)
        option = next((o for o in row.options if o.key == key), None)
        if option is None:
            raise NotFound(f"List {list_key!r} has no option {key!r}.")
        errors = Errors()
        for name in changes:
            if name not in ("label", "color", "active", "position"):
                errors.add(name, "Cannot be changed." if name == "key" else "Unknown property.")
        if "label" in changes:
            for message in label_errors(changes["label"]):
                errors.add("label", message)
        if "color" in changes and not color_ok(changes["color"]):
            errors.add("color", "Use a colour such as #1f77b4.")
        if "active" in changes and not isinstance(changes["active"], bool):
            errors.add("active", "Use true or false.")
        for message in position_errors(changes["position"]) if "position" in changes else []:
            errors.add("position", message)
        errors.raise_if_any()
        before = {n: getattr(option, n) for n in changes}
        if "label" in changes:
            option.label = changes["label"].strip()
        if "color" in changes:
            option.color = changes["color"] or ""
        if "active" in changes:
            option.active = changes["active"]
        if "position" in changes:
            options = [o for o in sorted(row.options, key=lambda o: o.position) if o is not option]
            options.insert(max(0, min(changes["position"], len(options))), option)
            for number, item in enumerate(options):
                item.position = number
        self.bump("list.option.update", f"{list_key}.{key}", {"before": before, "after": changes})
        return option

    def delete_list(self, key: str) -> None:
        """Delete a list no field uses (archived fields count: they may be restored)."""
        row = self.list_row(key)
        users = self.fields_using_list(key)
        if users:
            names = ", ".join(self.field_names(users).values())
            raise ValidationFailed({"_list": [f"Used by {names}."]})
        self.session.delete(row)
        self.bump("list.delete", key)

    def field_names(self, keys: list[str]) -> dict[str, str]:
        """``deal.source`` as people read it: ``the field “Source” of Deals``."""
        model = self.model
        names = {}
        for item in keys:
            entity_key, _, field_key = item.partition(".")
            entity = model.entities.get(entity_key) or model.archived_entities.get(entity_key)
            found = entity and (
                entity.fields.get(field_key) or entity.archived_fields.get(field_key)
            )
            names[item] = f"the field “{found.label}” of {entity.label_plural}" if found else item
        return names

    def fields_using_list(self, key: str) -> list[str]:
        """``entity.field`` of every field (archived included) that uses the list."""
        rows = self.session.execute(
            select(EntityType.key, Field.key, Field.settings)
            .join(Field.entity)
            .where(Field.type.in_(("list", "multi_list")))
        ).all()
        return [f"{e}.{f}" for e, f, s in rows if (s or {}).get("list") == key]
