"""Reading admin pages in tests (a module of its own: test files cannot import ``conftest``
reliably, since every test folder has one)."""

from __future__ import annotations

import re

ERROR = re.compile(r'data-error-for="([\w.]+)">([^<]+)<')


def errors_on(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """The messages a page shows under its inputs, by input name."""
    found: dict[str, list[str]] = {}
    for key, message in ERROR.findall(response.get_data(as_text=True)):
        found.setdefault(key, []).append(message)
    return found
