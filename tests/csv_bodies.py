"""CSV bodies for schemathesis, from what the document says of an import: ``text/csv`` is
registered as a media type whose strategy writes UTF-8 CSV (header and rows of any text), and
a positive case of an import is sent with a CSV of the operation's ``x-csv-columns`` that the
create schema (``x-csv-row-schema``) requires, and the ``?match=`` column, each cell a plain
value of its property: the documented format, so a refusal of it is the server's or the
document's fault. (A case hook could draw the cells, but schemathesis re-validates a case
whose body a hook sets and reads the query's ``dry_run=false`` as not a boolean, which turns
positive cases negative.)"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import schemathesis
from hypothesis import strategies as st

CSV = "text/csv"
#: the delimiters the importer tells apart, besides the comma
DELIMITERS = {";", "\t"}


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


#: any CSV: a header and rows of printable text (negative cases keep it)
ANY_CSV = st.lists(
    st.lists(st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"])), min_size=1),
    min_size=1,
    max_size=4,
).map(_csv)


def register() -> None:
    schemathesis.openapi.media_type(CSV, ANY_CSV)


#: texts tried, in order, for a cell of a text-like column
SAMPLES = ("Sample", "+372 5555 5555", "https://example.com", "a@b.example")


@contextmanager
def csv_body(case) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """While it is sent, a positive import case has a one-row CSV of the required (and
    ``?match=``) columns with plain valid values (and its own body again after: the
    coverage phase derives further cases from it)."""
    original = case.body
    body = _positive_body(case)
    # set past the case's change tracking (see the module's docstring)
    if body is not None:
        object.__setattr__(case, "body", body)
    try:
        yield
    finally:
        object.__setattr__(case, "body", original)


def _positive_body(case) -> Any:  # type: ignore[no-untyped-def]
    if not _positive(case):
        return None
    found = _row_schema(case)
    if found is None:
        return None
    columns, row, match = found
    header = [k for k in columns if k in set(row.get("required", ())) or k == match]
    cells = [_sample(row["properties"].get(k) or {}) for k in header]
    if not header or any(c is None for c in cells):
        return None
    data = _csv([header, cells])  # type: ignore[list-item]
    return {"file": data} if case.media_type != CSV else data


def _positive(case) -> bool:  # type: ignore[no-untyped-def]
    """Whether every part of ``case`` was generated valid (a negative case keeps its body)."""
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive:
        return False
    return all(c.mode.is_positive for c in meta.components.values())


def _sample(prop: dict[str, Any]) -> str | None:
    """A plain valid cell of a property of the create schema (None: none is known)."""
    options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
    prop = options[0] if len(options) == 1 else {}
    if prop.get("x-known-values"):
        return str(prop["x-known-values"][0])
    if prop.get("format") == "date":
        return "2024-01-31"
    if prop.get("type") in ("integer", ["integer", "null"]) and "minimum" in prop:
        return (
            None
            if prop["minimum"] >= 1 and prop.get("maximum", 0) > 2**40
            else str(max(prop["minimum"], min(0, prop.get("maximum", 0))))
        )
    pattern = prop.get("pattern")
    for text in SAMPLES:
        fits = pattern is None or re.fullmatch(pattern, text)
        if fits and (prop.get("format") != "email" or "@" in text):
            return text
    return None


def _row_schema(case):  # type: ignore[no-untyped-def]
    """The operation's CSV columns, the create schema typing a row, and ``?match=``."""
    content = (case.operation.definition.raw.get("requestBody") or {}).get("content") or {}
    described = content.get(CSV) or {}
    columns = described.get("x-csv-columns")
    row_ref = (described.get("x-csv-row-schema") or {}).get("$ref", "")
    if not columns or not row_ref:
        return None
    components = case.operation.schema.raw_schema["components"]["schemas"]
    return columns, components[row_ref.rsplit("/", 1)[-1]], (case.query or {}).get("match")
