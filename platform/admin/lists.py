"""Shared option lists with their options: add, rename, reorder, retire, colour; and which
fields (of which entity types) share each list."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask_admin import expose
from sqlalchemy import select

from trellis.admin.base import AdminView, form_int, form_text
from trellis.metamodel.models import OptionList
from trellis.words import key_from_label


class OptionListsView(AdminView):
    @expose("/")
    def index(self) -> Any:
        return self._index({}, {})

    def _index(self, values: dict[str, Any], errors: dict[str, Any]) -> Any:
        with self.reading() as session:
            meta = self.runtime.metamodel(session, self.actor)
            rows = session.scalars(select(OptionList).order_by(OptionList.label)).all()
            lists = [
                {
                    "row": r,
                    "used_by": list(meta.field_names(meta.fields_using_list(r.key)).values()),
                }
                for r in rows
            ]
            return self.render(
                "admin/trellis/lists.html", lists=lists, values=values, errors=errors
            )

    @expose("/create", methods=["POST"])
    def create(self) -> Any:
        values = {
            "key": form_text("key"),
            "label": form_text("label"),
            "options": form_text("options"),
        }
        options = options_from_lines(values["options"])
        _, errors = self.change(
            lambda s: self.runtime.metamodel(s, self.actor).create_list(
                values["key"], values["label"], options
            ),
            f"Option list “{values['label']}” created.",
        )
        if errors:
            return self._index(values, errors), 422
        return redirect(url_for(".detail", key=values["key"]))

    @expose("/<key>", methods=["GET", "POST"])
    def detail(self, key: str) -> Any:
        errors: dict[str, Any] = {}
        values: dict[str, Any] = {}
        if request.method == "POST":
            action = request.form.get("action", "")
            _, errors = self.change(lambda s: self._apply(s, key, action), "Saved.")
            if not errors:
                target = (
                    url_for(".index") if action == "delete_list" else url_for(".detail", key=key)
                )
                return redirect(target)
            values = dict(request.form)
        with self.reading() as session:
            meta = self.runtime.metamodel(session, self.actor)
            row = meta.list_row(key)
            used_by = meta.field_names(meta.fields_using_list(key))
            return self.render(
                "admin/trellis/list.html",
                row=row,
                options=sorted(row.options, key=lambda o: o.position),
                used_by=used_by,
                values=values,
                errors=errors,
            ), (422 if errors else 200)

    def _apply(self, session: Any, key: str, action: str) -> None:
        meta = self.runtime.metamodel(session, self.actor)
        if action == "rename_list":
            meta.update_list(key, label=form_text("list_label"))
        elif action == "add_option":
            label = form_text("new_label")
            new_key = form_text("new_key") or key_from_label(label)
            meta.add_option(key, new_key, label, form_text("new_color"))
        elif action == "save_option":
            option = form_text("option")
            meta.update_option(
                key, option, label=form_text(f"label_{option}"), color=form_text(f"color_{option}")
            )
        elif action in ("retire", "activate"):
            meta.update_option(key, form_text("option"), active=action == "activate")
        elif action in ("up", "down"):
            option = form_text("option")
            position = form_int("position")
            if isinstance(position, int):
                meta.update_option(
                    key, option, position=max(0, position + (-1 if action == "up" else 1))
                )
        elif action == "delete_list":
            meta.delete_list(key)


def options_from_lines(text: str) -> list[dict[str, str]]:
    """Options typed one per line: the label as typed, a key suggested from it."""
    return [
        {"key": key_from_label(line.strip()) or "option", "label": line.strip()}
        for line in text.splitlines()
        if line.strip()
    ]
