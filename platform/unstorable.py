"""Text no database here can store or compare: NUL characters (PostgreSQL refuses them in any
text, even as a search operand) and lone surrogates (``\\ud800`` to ``\\udfff`` alone have no
UTF-8 form). Requests carrying them in their URL are refused up front, in the API and in the
browser's pages alike, rather than failing in the database as a 500."""

from __future__ import annotations

import re
from typing import Any

from flask import request

from trellis.errors import BadRequest, NotFound

DETAIL = (
    "Text must not contain NUL characters (PostgreSQL cannot store or compare them) or lone "
    "surrogates (\\ud800 to \\udfff alone are not characters and have no UTF-8 form)."
)
PROBLEM = "Contains a NUL character or a lone surrogate."
#: lone surrogates: JSON's ``\\ud800`` escapes decode to them; no database or page can hold one
SURROGATES = re.compile("[\ud800-\udfff]")


def refuse_in_url() -> None:
    """No key contains a NUL character (a 404); a query parameter with one is a 400 naming it."""
    if "\x00" in request.path:
        raise NotFound("Nothing here has a NUL character in its key.")
    if not request.query_string:
        return
    args = request.args
    bad = {printable(k): [PROBLEM] for k in args if has_unstorable([k, args.getlist(k)])}
    if bad:
        raise BadRequest(DETAIL, bad)


def printable(key: str) -> str:
    """A key that can be sent back in a JSON problem (a lone surrogate cannot)."""
    return SURROGATES.sub("\ufffd", key)


def has_unstorable(value: Any) -> bool:
    """Whether ``value`` (text, or lists and dicts of it, keys included) holds such text."""
    # a loop, not recursion: a deeply nested body must not exhaust the stack
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str) and ("\x00" in item or SURROGATES.search(item)):
            return True
        if isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
