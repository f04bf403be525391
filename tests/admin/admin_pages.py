"""Reading admin pages in tests, and posting their forms back as a browser would (a module of
its own: test files cannot import ``conftest`` reliably, since every test folder has one)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from werkzeug.datastructures import MultiDict

ERROR = re.compile(r'data-error-for="([\w.]+)">([^<]+)<')


def errors_on(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """The messages a page shows under its inputs, by input name."""
    found: dict[str, list[str]] = {}
    for key, message in ERROR.findall(response.get_data(as_text=True)):
        found.setdefault(key, []).append(message)
    return found


class FormValues(HTMLParser):
    """What a browser sends for the form ``form_id``: inputs with their value, ticked
    checkboxes (``on`` when they have no value), chosen options (an option without a value
    sends its text; a single choice with none chosen, its first option) and textareas; a name
    may repeat. ``checkboxes`` names every checkbox of the form, ticked or not."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside = form_id, False
        self.values: list[tuple[str, str]] = []
        self.checkboxes: set[str] = set()
        self.select: str | None = None
        self.multiple, self.chosen, self.first = False, False, None
        #: the option being read: its value (None: its text) and whether it is selected
        self.option: list[Any] | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Any]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") == "checkbox":
                self.checkboxes.add(a["name"])
                if "checked" in a:
                    self.values.append((a["name"], a.get("value") or "on"))
            else:
                self.values.append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self.select, self.multiple = a.get("name"), "multiple" in a
            self.chosen, self.first = False, None
        elif tag == "option" and self.select:
            self._option_read()
            self.option = [a.get("value"), "", "selected" in a]
        elif tag == "textarea":
            self.textarea = a.get("name")
            self.values.append((self.textarea or "", ""))

    def handle_data(self, data: str) -> None:
        if not self.inside:
            return
        if self.option is not None:
            self.option[1] += data
        elif self.textarea:
            name, text = self.values.pop()
            self.values.append((name, text + data))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "option":
            self._option_read()
        elif tag == "select" and self.select:
            self._option_read()
            if not self.multiple and not self.chosen and self.first is not None:
                self.values.append((self.select, self.first))  # a browser sends the first
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def _option_read(self) -> None:
        if self.option is None or self.select is None:
            return
        value, text, selected = self.option
        self.option = None
        value = text.strip() if value is None else value
        if self.first is None:
            self.first = value
        if selected:
            self.values.append((self.select, value))
            self.chosen = True

    def names(self) -> set[str]:
        return {n for n, _ in self.values}

    def set(self, name: str, *values: str) -> None:
        """Type into an input / choose options (``values`` replace what was there)."""
        self.values = [(n, v) for n, v in self.values if n != name]
        self.values.extend((name, v) for v in values)


def read_form(page: str, form_id: str) -> FormValues:
    """The values the form ``form_id`` of ``page`` sends as it stands."""
    parser = FormValues(form_id)
    parser.feed(page)
    assert parser.values, f"no form {form_id} on the page"
    return parser


def post_form(admin, url: str, form: FormValues):  # type: ignore[no-untyped-def]
    """Post ``form`` to ``url`` as the signed-in administrator (with the session's CSRF
    token)."""
    data = MultiDict([(n, v) for n, v in form.values if n != "csrf_token"])
    data.add("csrf_token", admin.token)
    return admin.client.post(url, data=data)
