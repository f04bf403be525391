"""Form inputs per field type: what the form shows for a value, and turning a submitted form
back into the record service's input (the same shape the API takes)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import g
from markupsafe import Markup, escape

from trellis.clock import as_utc
from trellis.metamodel.compiled import CompiledEntity, CompiledField, CompiledModel
from trellis.metamodel.fieldtypes.base import Money
from trellis.records.service import RecordService
from trellis.records.titles import records_titled
from trellis.records.user_values import USER_TITLES, UserRef, all_users
from trellis.runtime import get_runtime

#: name suffix of a reference input's visible search box (the hidden input holds the id)
REFERENCE_TEXT = "__text"

INPUT_TYPES = {
    "text": "text",
    "integer": "number",
    "decimal": "number",
    "date": "date",
    "datetime": "datetime-local",
    "email": "email",
    "phone": "tel",
    "url": "url",
}


def form_value(field: CompiledField, value: Any) -> Any:
    """The value as an input shows it (text for most types, tuples for choices)."""
    if value is None:
        return ""
    name = field.type.name
    if name == "money":
        return {"amount": str(value.amount), "currency": value.currency}
    if name == "datetime":
        return as_utc(value).strftime("%Y-%m-%dT%H:%M")
    if name in ("date",):
        return value.isoformat()
    if name == "multi_list":
        return tuple(value)
    return value


def parse_form(entity: CompiledEntity, form: Any, keys: list[str]) -> dict[str, Any]:
    """Service input from ``form`` for ``keys`` (empty inputs clear the field)."""
    data: dict[str, Any] = {}
    for key in keys:
        field = entity.fields[key]
        name = field.type.name
        if name == "multi_list":
            data[key] = [v for v in form.getlist(key) if v]
        elif name == "boolean":
            raw = form.get(key, "")
            data[key] = None if raw == "" else raw
        elif name == "money":
            amount = (form.get(f"{key}__amount") or "").strip()
            currency = form.get(f"{key}__currency") or None
            data[key] = (
                None
                if not amount
                else {"amount": amount, **({"currency": currency} if currency else {})}
            )
        elif name == "datetime":
            raw = (form.get(key) or "").strip()
            data[key] = (raw + ":00+00:00" if len(raw) == 16 else raw) or None
        else:
            raw = form.get(key)
            data[key] = (
                None
                if raw is None or raw.strip() == ""
                else raw.strip()
                if name != "long_text"
                else raw
            )
    return data


def typed_reference_texts(entity: CompiledEntity, form: Any, keys: list[str]) -> dict[str, str]:
    """The text in the search box of each reference input (``<key>__text``), where there is
    some: shown again as it was if the form comes back."""
    texts = {}
    for key in keys:
        text = (form.get(f"{key}{REFERENCE_TEXT}") or "").strip()
        if entity.fields[key].type.name == "reference" and text:
            texts[key] = text
    return texts


def _names_record(model: CompiledModel, target: str, text: str, title: str | None) -> bool:
    """Whether the search box still shows the picked record, so its hidden id stands: its
    title, a suggestion made of it (``Ann Tamm · ann@example.com``), or, for a record the
    user may not read, the words shown instead."""
    text = " ".join(text.split())
    if title is None:
        return text == hidden_reference(model, target)
    return text == title or text.startswith(title + " ")


def resolve_references(
    service: RecordService, entity: CompiledEntity, form: Any, data: dict[str, Any], keys: list[str]
) -> dict[str, list[str]]:
    """Put the record a typed reference text names into ``data`` where no suggestion was
    picked for it (or the text no longer names the picked one): the one
    readable record of exactly that title (or ``#id``, or a suggestion's ``Title (#id)``).
    None or several is an error under the field, returned; the caller must not write while
    there is one (the field is emptied in ``data`` so the other checks still run)."""
    errors: dict[str, list[str]] = {}
    for key, text in typed_reference_texts(entity, form, keys).items():
        target = entity.fields[key].settings["target"]
        picked = data.get(key)
        if isinstance(picked, str) and picked.isdigit():
            # a picked id stands while the box still names it (without the script, typing
            # over a shown name leaves the old id behind)
            title = service.titles(target, [int(picked)]).get(int(picked))
            if _names_record(service.model, target, text, title):
                continue
        other = service.model.entities.get(target)
        ids = records_titled(service, target, text) if other is not None else []
        if len(ids) == 1:
            data[key] = ids[0]
            continue
        data[key] = None  # nothing is written while this error stands
        label = other.label.lower() if other is not None else target
        plural = other.label_plural.lower() if other is not None else target
        errors[key] = [
            f"Several {plural} match {text!r}: pick one." if ids else f"No {label} named {text!r}."
        ]
    return errors


def currencies(field: CompiledField) -> list[str]:
    return list(field.settings.get("currencies") or [field.settings.get("default_currency", "EUR")])


def step(field: CompiledField) -> str:
    if field.type.name == "decimal":
        scale = field.settings.get("scale", 2)
        return "1" if scale == 0 else "0." + "0" * (scale - 1) + "1"
    return "1"


def choices(model: CompiledModel, field: CompiledField, current: Any) -> list[Any]:
    """Options to offer: active ones, plus retired ones the record already has."""
    options = model.option_lists[field.settings["list"]].options.values()
    had = set(current if isinstance(current, tuple | list) else [current])
    return [o for o in sorted(options, key=lambda o: o.position) if o.active or o.key in had]


def badge(label: str, color: str) -> Markup:
    return Markup(
        '<span class="badge badge-pill" style="background:{0};color:#fff">{1}</span>'
    ).format(color or "#6c757d", label)


def display(
    model: CompiledModel,
    field: CompiledField,
    value: Any,
    titles: Mapping[tuple[str, int], str | None],
) -> Markup:
    """A value for reading: option badges in their colours, references as links."""
    name = field.type.name
    if value is None or value == () or value == "":
        return Markup('<span class="text-muted">—</span>')
    if name in ("list", "multi_list"):
        options = model.option_lists[field.settings["list"]].options
        keys = value if isinstance(value, tuple) else (value,)
        return Markup(" ").join(
            badge(options[k].label if k in options else k, options[k].color if k in options else "")
            for k in keys
        )
    if name == "reference":
        target = field.settings["target"]
        title = titles.get((target, value))
        if title is None:  # a record this user may not read: say so, without its id
            hidden = hidden_reference(model, target)
            return Markup('<span class="text-muted">{0}</span>').format(hidden)
        from flask import url_for

        return Markup('<a href="{0}">{1}</a>').format(
            url_for("web.card", entity=target, record_id=value), title
        )
    if name == "user":
        return escape(titles.get((USER_TITLES, value)) or f"#{value}")
    if name == "boolean":
        return Markup("Yes" if value else "No")
    if name == "money":
        return escape(f"{value.amount:,} {value.currency}".replace(",", " "))
    if name == "datetime" and isinstance(value, datetime):
        return escape(as_utc(value).strftime("%Y-%m-%d %H:%M UTC"))
    if name == "url":
        return Markup('<a href="{0}" rel="noopener noreferrer">{0}</a>').format(value)
    if name == "email":
        return Markup('<a href="mailto:{0}">{0}</a>').format(value)
    if name == "long_text":
        return Markup("<br>").join(escape(line) for line in str(value).splitlines())
    return escape(str(value))


def user_choices(current: Any = None) -> list[UserRef]:
    """The users a user field's select offers: the active ones, and the one it holds (by id
    or username; a disabled user stays in the field). Read once per request, in a read-only
    transaction (which never waits for the view's own)."""
    if "trellis_users" not in g:
        with get_runtime().transaction(read_only=True) as session:
            g.trellis_users = all_users(session)
    held = str(current) if current not in (None, "") else None
    return [u for u in g.trellis_users if u.active or held in (str(u.id), u.username)]


def hidden_reference(model: CompiledModel, target: str) -> str:
    """What a reference to a record the user may not read shows instead of its title."""
    label = model.entities[target].label if target in model.entities else "record"
    return f"A {label.lower()} you cannot open"


def plain(
    model: CompiledModel,
    field: CompiledField,
    value: Any,
    titles: Mapping[tuple[str, int], str | None],
) -> str:
    """A value as plain text (for a tooltip holding what a narrow cell cuts off)."""
    if field.type.is_empty(value) or value == ():
        return ""
    if field.type.name == "reference":
        target = field.settings["target"]
        return titles.get((target, value)) or hidden_reference(model, target)
    if field.type.name == "user":
        return titles.get((USER_TITLES, value)) or f"#{value}"
    return field.type.display(field, value, model)


def duration_text(seconds: float) -> str:
    """A stay in words: ``2 d 3 h``, ``5 h 10 min``, ``3 min``, ``under a minute``."""
    minutes = int(seconds // 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min" if mins else "under a minute"


def display_change(
    model: CompiledModel,
    entity: CompiledEntity,
    key: str,
    value: Any,
    titles: Mapping[tuple[str, int], str | None],
) -> Markup:
    """A value as the history keeps it (option keys, ids, ISO text) for reading: labels for
    options and stages, titles for references, like the card shows values."""
    if value is None or value == [] or value == "":
        return Markup('<span class="text-muted">—</span>')
    if key == "stage":
        labels = [p.stages[value].label for p in entity.pipelines.values() if value in p.stages]
        return escape(labels[0] if labels else value)
    if key == "pipeline" and value in entity.pipelines:
        return escape(entity.pipelines[value].label)
    field = entity.fields.get(key)
    if field is None:
        return escape(str(value))
    name = field.type.name
    if name == "multi_list" and isinstance(value, list):
        value = tuple(value)
    elif name == "money" and isinstance(value, dict):
        try:
            value = Money(Decimal(str(value.get("amount"))), str(value.get("currency")))
        except InvalidOperation:
            return escape(f"{value.get('amount')} {value.get('currency')}")
    elif name == "datetime" and isinstance(value, str):
        return escape(value[:16].replace("T", " ") + " UTC")
    return display(model, field, value, titles)


#: what the field-input macro needs, passed to every template that renders inputs
TEMPLATE_HELPERS = {
    "choices": choices,
    "hidden_reference": hidden_reference,
    "currencies": currencies,
    "step": step,
    "input_types": INPUT_TYPES,
    "user_choices": user_choices,
}
