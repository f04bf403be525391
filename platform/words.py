"""Words for people: counts with the right singular or plural ("1 record", "2 records")."""

from __future__ import annotations


def plural_of(word: str) -> str:
    """A default English plural (``Company`` -> ``Companies``, ``match`` -> ``matches``)."""
    last = word.split(" ")[-1].lower() if word else ""
    if len(last) > 1 and last.endswith("y") and last[-2] not in "aeiou":
        return word[:-1] + "ies"
    if last.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``counted(1, "record")`` is ``1 record``; ``counted(2, "record")`` is ``2 records``."""
    return f"{count} {singular if count == 1 else plural or plural_of(singular)}"
