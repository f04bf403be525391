"""Regular expressions on user input, matched in time linear in the input (RE2).

Python's ``re`` backtracks: a pattern such as ``([A-Za-z0-9]+)+-\\d+`` takes exponential time on
a value like ``aaaa…!``, and a careless one quadratic time on a long cell, holding the GIL
all the while, so every thread of the server stops. RE2 guarantees linear time and refuses
what it cannot do that way (backreferences, lookaround): that refusal is the administrator's
message when a pattern is saved. Patterns the platform itself applies to user input live here
too, so there is one place to look.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

#: longest pattern an administrator may save
MAX_PATTERN_LENGTH = 500
#: memory RE2 may use for one pattern (its automata); a bigger one is refused when saved
MAX_PATTERN_MEMORY = 8 << 20


class PatternError(ValueError):
    """A pattern RE2 cannot compile; ``message`` is a sentence for an administrator."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # the error comes back as an exception, not on stderr
    options.max_mem = MAX_PATTERN_MEMORY
    return options


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2, or :class:`PatternError` saying why it cannot be."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"At most {MAX_PATTERN_LENGTH} characters.")
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(
            f"not a regular expression this platform can check in linear time ({reason}); "
            "backreferences, lookaround and repeats over 1000 cannot be used"
        ) from None


def fullmatch(pattern: str, text: str) -> bool:
    """Whether all of ``text`` matches ``pattern`` (which must compile)."""
    return compile_pattern(pattern).fullmatch(text) is not None


def fixed(pattern: str) -> Any:
    """A pattern the platform applies to user input (compiled once, at import)."""
    return compile_pattern(pattern)
