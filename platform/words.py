"""Words for people: counts with the right singular or plural ("1 record", "2 records"),
labels inside sentences ("New vacation request"), and keys suggested from labels
("Vacation request" -> ``vacation_request``)."""

from __future__ import annotations

import re
import unicodedata


def plural_of(word: str) -> str:
    """A default English plural (``Company`` -> ``Companies``, ``match`` -> ``matches``)."""
    last = word.split(" ")[-1].lower() if word else ""
    if len(last) > 1 and last.endswith("y") and last[-2] not in "aeiou":
        return word[:-1] + "ies"
    if last.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def mid_sentence(label: str) -> str:
    """A label as it reads inside a sentence: ``Vacation request`` -> ``vacation request``;
    one that looks like an acronym (two leading capitals, ``VAT rate``, ``CRM``) stays."""
    if len(label) > 1 and label[0].isupper() and label[1].isupper():
        return label
    return label[:1].lower() + label[1:]


def key_from_label(label: str, limit: int = 40) -> str:
    """A key for a label: lower-case ASCII letters, digits and single underscores, starting
    with a letter (``Über-Größe 2`` -> ``uber_grosse_2``); empty if the label has no letter.
    The admin's key suggestion (static/js/trellis-admin.js) follows the same steps."""
    text = unicodedata.normalize("NFKD", label.replace("ß", "ss"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    key = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    key = re.sub(r"^[0-9_]+", "", key)
    return key[:limit].rstrip("_")


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``counted(1, "record")`` is ``1 record``; ``counted(2, "record")`` is ``2 records``."""
    return f"{count} {singular if count == 1 else plural or plural_of(singular)}"
