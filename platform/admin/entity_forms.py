"""What the entity type pages' forms post, read into what the metamodel service takes.

The field, pipeline (stages and their moves) and rule forms of
:class:`~trellis.admin.entities.EntitiesView`, and the option list a new list field asks for.
"""

from __future__ import annotations

from typing import Any

from flask import request

from trellis.admin.base import form_bool, form_int, form_text
from trellis.admin.field_settings import settings_from_form
from trellis.admin.lists import options_from_lines
from trellis.errors import ValidationFailed
from trellis.metamodel.models import Stage
from trellis.words import key_from_label


def field_from_form(type_name: str) -> dict[str, Any]:
    """The field form: what was typed, for the service (and to show again)."""
    default = form_text("default")
    return {
        "type": type_name,
        "label": form_text("label"),
        "help_text": form_text("help_text"),
        "required": form_bool("required"),
        "unique": form_bool("unique"),
        "indexed": form_bool("indexed"),
        "default": default or None,
        "settings": settings_from_form(type_name, request.form),
    }


def rule_from_form() -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The rule form: its kind, what was typed (to show again), and the options of that kind
    for the service (the form shows only those inputs)."""
    kind = form_text("kind")
    values = {
        "kind": kind,
        "field": form_text("field") or None,
        "when": form_text("when"),
        "from_stage": form_text("from_stage") or None,
        "expression": form_text("expression"),
        "message": form_text("message"),
    }
    names = (
        ("field", "when", "from_stage")
        if kind == "required"
        else ("field", "expression", "message")
    )
    return kind, values, {k: values[k] for k in names}


def create_list_for(meta, values: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    """Create the option list a new list field asked for (its name and options typed on the
    field form); its problems show under those inputs. Returns the new list's key."""
    label = values["new_list_label"] or values["label"]
    base = key_from_label(label) or "list"
    key, n = base, 1
    while key in meta.model.option_lists:
        n += 1
        key = f"{base[:36]}_{n}"
    options = options_from_lines(values["new_list_options"])
    if not options:
        raise ValidationFailed({"new_list_options": ["Type at least one option."]})
    try:
        with meta.session.begin_nested():
            meta.create_list(key, label, options)
    except ValidationFailed as exc:
        problems = {}
        for name, messages in exc.errors.items():
            where = "new_list_options" if name.startswith("options") else "new_list_label"
            problems.setdefault(where, []).extend(messages)
        raise ValidationFailed(problems) from exc
    return key


def stages_from_form() -> list[dict[str, Any]]:
    """Stage rows ``stage_key_<n>`` ... in order; rows marked ``remove`` or left empty are
    left out (removed); a key left empty is made from the label."""
    rows = []
    numbers = sorted(
        {int(name.rsplit("_", 1)[1]) for name in request.form if name.startswith("stage_key_")}
    )
    for n in numbers:
        key = form_text(f"stage_key_{n}")
        label = form_text(f"stage_label_{n}")
        if form_bool(f"stage_remove_{n}") or (not key and not label):
            continue
        rows.append(
            {
                "key": key or key_from_label(label),
                "label": label,
                "kind": form_text(f"stage_kind_{n}", "open"),
                "color": form_text(f"stage_color_{n}"),
                "order": form_int(f"stage_order_{n}"),
                **(_moves_from_form(n) if form_bool(f"stage_moves_{n}") else {}),
            }
        )
    rows.sort(key=lambda r: r["order"] if isinstance(r["order"], int) else 10**6)
    kept = {row["key"] for row in rows}
    for row in rows:
        row.pop("order")
        if row.get("next_stages"):  # a stage removed in the same save is no next stage
            row["next_stages"] = [k for k in row["next_stages"] if k in kept]
    return rows


def _moves_from_form(n: int) -> dict[str, Any]:
    """A stage row's moves: ``stage_any_<n>`` (any next stage) or the ``stage_next_<n>``
    checked, the ``stage_roles_<n>`` checked, and ``stage_flow_only_<n>``."""
    return {
        "next_stages": (
            None if form_bool(f"stage_any_{n}") else request.form.getlist(f"stage_next_{n}")
        ),
        "enter_roles": request.form.getlist(f"stage_roles_{n}"),
        "flow_only": form_bool(f"stage_flow_only_{n}"),
    }


def stage_moves(stage: Stage) -> dict[str, Any]:
    """What the moves part of the pipeline form shows for a saved stage."""
    return {
        "next_stages": [s.key for s in stage.next_stages] if stage.limit_moves else None,
        "enter_roles": [r.key for r in stage.enter_roles],
        "flow_only": stage.flow_only,
    }
