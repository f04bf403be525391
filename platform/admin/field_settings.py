"""The per-type settings of a field as proper form inputs (not a raw JSON box), and reading
them back from a submitted form. The field type's JSON Schema still has the last word."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trellis.metamodel.fieldtypes.reference import ON_DELETE


@dataclass(frozen=True)
class SettingInput:
    """One input: ``kind`` is number, text, currencies, list (option lists), entity or
    on_delete."""

    key: str
    label: str
    kind: str = "text"
    help: str = ""


SETTINGS: dict[str, tuple[SettingInput, ...]] = {
    "text": (
        SettingInput("max_length", "Maximum length", "number", "Characters; 255 when empty."),
        SettingInput(
            "pattern",
            "Pattern",
            "text",
            "Optional: a regular expression the whole value must match, e.g. [A-Z]{2}[0-9]+.",
        ),
        SettingInput("pattern_message", "Message when the pattern does not match"),
    ),
    "long_text": (SettingInput("max_length", "Maximum length", "number"),),
    "integer": (SettingInput("min", "Minimum", "number"), SettingInput("max", "Maximum", "number")),
    "decimal": (
        SettingInput("precision", "Digits in all", "number", "18 when empty."),
        SettingInput("scale", "Decimal places", "number", "2 when empty."),
        SettingInput("min", "Minimum"),
        SettingInput("max", "Maximum"),
    ),
    "money": (
        SettingInput(
            "currencies",
            "Currencies",
            "currencies",
            "Three-letter codes separated by commas (EUR, USD); any currency when empty.",
        ),
        SettingInput(
            "default_currency", "Default currency", "text", "The first currency when empty."
        ),
        SettingInput("scale", "Decimal places", "number", "2 when empty."),
        SettingInput("min", "Minimum amount", "text", "No minimum when empty."),
        SettingInput("max", "Maximum amount", "text", "No maximum when empty."),
    ),
    "list": (
        SettingInput(
            "list", "Option list", "list", "Lists are shared: one list can serve many fields."
        ),
    ),
    "multi_list": (SettingInput("list", "Option list", "list"),),
    "reference": (
        SettingInput("target", "Refers to", "entity"),
        SettingInput("on_delete", "When the referred record is deleted", "on_delete"),
    ),
}
ON_DELETE_LABELS = {
    "restrict": "Refuse the deletion",
    "set_null": "Empty this field",
    "cascade": "Delete this record too",
}
#: settings that cannot change once the field exists (the service refuses it too)
FIXED = ("list", "target")


def inputs_for(type_name: str) -> tuple[SettingInput, ...]:
    return SETTINGS.get(type_name, ())


def settings_from_form(type_name: str, form: Mapping[str, str]) -> dict[str, Any]:
    """The settings object from ``setting_<key>`` inputs; empty inputs are left out.
    A number that is not a number stays text, so the JSON Schema check names it."""
    settings: dict[str, Any] = {}
    for item in inputs_for(type_name):
        raw = (form.get(f"setting_{item.key}") or "").strip()
        if not raw:
            continue
        if item.kind == "number":
            try:
                settings[item.key] = int(raw)
            except ValueError:
                settings[item.key] = raw
        elif item.kind == "currencies":
            settings[item.key] = [c.strip().upper() for c in raw.split(",") if c.strip()]
        elif item.key == "default_currency":
            settings[item.key] = raw.upper()
        else:
            settings[item.key] = raw
    return settings


def setting_errors(errors: Mapping[str, list[str]], type_name: str) -> dict[str, list[str]]:
    """The service names a setting's problem as ``min: The minimum ...``: show it under that
    setting's input (``setting_min``) without the key; the rest stays under ``settings``."""
    known = {item.key for item in inputs_for(type_name)}
    out = {k: list(v) for k, v in errors.items() if k != "settings"}
    rest = []
    for message in errors.get("settings", []):
        key, sep, text = message.partition(": ")
        if sep and key in known:
            out.setdefault(f"setting_{key}", []).append(text[:1].upper() + text[1:])
        else:
            rest.append(message)
    if rest:
        out["settings"] = rest
    return out


def setting_value(settings: Mapping[str, Any], item: SettingInput) -> str:
    value = settings.get(item.key)
    if value is None:
        return ""
    if item.kind == "currencies":
        return ", ".join(value)
    return str(value)


__all__ = [
    "FIXED",
    "ON_DELETE",
    "ON_DELETE_LABELS",
    "inputs_for",
    "setting_errors",
    "setting_value",
    "settings_from_form",
]
