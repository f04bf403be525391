"""Which source field may fill which target field: a pure function, checked when a map is
saved so a conversion never fails on a type mismatch."""

from __future__ import annotations

from typing import Any

from trellis.metamodel.compiled import CompiledField
from trellis.metamodel.fields import TEXTUAL

NUMERIC = ("integer", "decimal")
# source type -> target types it can fill (besides itself)
WIDENING: dict[str, tuple[str, ...]] = {
    "text": ("long_text",),
    "long_text": ("text",),  # allowed only when the text is long enough (checked below)
    "email": ("text", "long_text"),
    "phone": ("text", "long_text"),
    "url": ("text", "long_text"),
    "integer": ("decimal", "text", "long_text"),
    "decimal": ("text", "long_text"),
    "date": ("datetime",),
    "money": ("decimal",),
    "list": ("text", "long_text"),
}


def _max_length(field: CompiledField) -> int | None:
    if field.type.name in ("text", "long_text"):
        return field.settings.get("max_length", field.type.default_max_length)  # type: ignore[attr-defined]
    return None


def compatibility_error(
    source: CompiledField, target: CompiledField, values: dict[str, Any] | None = None
) -> str | None:
    """Why ``source`` cannot fill ``target`` (a sentence), or None when it can."""
    s, t = source.type.name, target.type.name
    if s != t and t not in WIDENING.get(s, ()):
        return f"A {s} field cannot fill a {t} field."
    if s in TEXTUAL and t in ("text", "long_text"):
        src_len, dst_len = _max_length(source) or 254, _max_length(target)
        if s in ("url",):
            src_len = 2000
        if dst_len is not None and src_len > dst_len:
            return (
                f"{source.label} holds up to {src_len} characters, {target.label} only {dst_len}."
            )
    if s == t == "decimal":
        sp, ss = source.settings.get("precision", 18), source.settings.get("scale", 2)
        tp, ts = target.settings.get("precision", 18), target.settings.get("scale", 2)
        if ss > ts or sp - ss > tp - ts:
            return f"{source.label} ({sp},{ss}) does not fit {target.label} ({tp},{ts})."
    if s == t == "money":
        allowed = target.settings.get("currencies")
        if allowed and not set(source.settings.get("currencies") or ["*"]) <= set(allowed):
            return f"{target.label} accepts only {', '.join(allowed)}."
        if source.settings.get("scale", 2) > target.settings.get("scale", 2):
            return f"{source.label} has more decimal places than {target.label}."
    if s == t == "reference" and source.settings["target"] != target.settings["target"]:
        return f"{source.label} and {target.label} refer to different entity types."
    if s == t and s in ("list", "multi_list"):
        same_list = source.settings["list"] == target.settings["list"]
        if not same_list and not values:
            return (
                f"{source.label} and {target.label} use different lists; "
                "give a value table (source option -> target option)."
            )
    return None
