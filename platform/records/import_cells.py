"""Reading a CSV import's cells: the file's header and rows, and each cell as the record
service's input for its field's type, the way the CSV export writes it (option labels or
keys, ``12.50 EUR``, ``Yes``/``No``, ``#12`` or a title for a reference, the formula guard
``'``); what a cell reader cannot read it passes on as given, so that the record service's
own message says what is wrong."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from trellis.errors import BadRequest, ValidationFailed
from trellis.metamodel.compiled import CompiledEntity, CompiledField
from trellis.metamodel.fieldtypes.plain_columns import all_match, column_pattern
from trellis.patterns import fixed
from trellis.records.query import FALSE_TEXTS, TRUE_TEXTS
from trellis.records.service import RecordService
from trellis.records.titles import records_titled

#: what a yes/no cell may say: the filter words plus the short forms spreadsheets use
YES = TRUE_TEXTS | {"y"}
NO = FALSE_TEXTS | {"n"}
#: ``EUR 1 200,50``, ``1200.50 EUR``, ``12``: matched by RE2 in linear time (Python's ``re``
#: took quadratic time on a long cell, and held every thread meanwhile)
MONEY = fixed(r"\s*(?:([A-Za-z]{3})\s+)?([-+]?[\d\s.,]*\d)\s*(?:([A-Za-z]{3}))?\s*")
#: the export puts ``'`` before cells starting with these (spreadsheets run them as formulas,
#: and skip a leading tab or carriage return before looking)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def read_csv(content: str | bytes) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV text (UTF-8, a BOM allowed; comma or semicolon)."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadRequest("The file is not UTF-8 text.") from None
    content = content.lstrip("\ufeff")
    if not content.strip():
        raise BadRequest("The file is empty.", {"file": ["No header row."]})
    try:
        dialect: Any = csv.Sniffer().sniff(content[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        # (a row with only blank cells is skipped: its cells joined are blank)
        rows = [r for r in csv.reader(io.StringIO(content), dialect) if "".join(r).strip()]
    except csv.Error as exc:  # e.g. a cell beyond the csv module's size limit
        raise BadRequest(f"The file is not a CSV this importer can read: {exc}.") from None
    if not rows:
        raise BadRequest("The file is empty.", {"file": ["No header row."]})
    return [unguard(h.strip()) for h in rows[0]], rows[1:]


def unguard(text: str) -> str:
    """``text`` without the ``'`` the export puts before a cell a spreadsheet would run."""
    return text[1:] if text[:1] == "'" and text[1:2] in FORMULA_STARTS else text


class CellReader:
    """Turns CSV cells into record-service input, per field type; what it cannot read it
    passes on as given, so the service's own message says what is wrong."""

    def __init__(self, service: RecordService, entity: CompiledEntity) -> None:
        self.service = service
        self.entity = entity
        self._titles: dict[tuple[str, str], list[int]] = {}
        self._readers: dict[str, Callable[[list[str]], list[Any]]] = {}

    def value(self, f: CompiledField, cell: str) -> Any:
        """The input a cell of ``f``'s column gives (None for a blank cell)."""
        return self.column(f)([cell])[0]

    def column(self, f: CompiledField) -> Callable[[list[str]], list[Any]]:
        """:meth:`value` of each of a column's cells, worked out once per import: the
        cells trimmed (a long text's kept as they are), the export's formula guard dropped
        (a column at once), then each read by the field's type. A cell that cannot be read
        raises (a reference to no record): see :meth:`converter` to read cell by cell."""
        read = self._readers.get(f.key)
        if read is None:
            trims, convert = self.trims(f), self.column_converter(f)

            def read(cells: list[str]) -> list[Any]:
                return convert(texts_of(cells, trims=trims))

            self._readers[f.key] = read
        return read

    @staticmethod
    def trims(f: CompiledField) -> bool:
        """Whether ``f``'s cells are trimmed (a long text's are kept as they are)."""
        return f.type.name != "long_text"

    @staticmethod
    def refuses(f: CompiledField) -> bool:
        """Whether :meth:`converter` can refuse a cell of ``f``'s column (a reference to no
        record the caller can read): such a column is converted cell by cell."""
        return f.type.name == "reference"

    def column_converter(self, f: CompiledField) -> Callable[[list[Any]], list[Any]]:
        """:meth:`converter` of each text of a column at once (a blank cell's None stays
        None); it raises on the first cell it refuses (see :meth:`refuses`)."""
        convert = self.converter(f)
        if convert is None:
            return lambda texts: texts
        if f.type.name == "money":
            return money_column

        def each(texts: list[Any]) -> list[Any]:
            return [None if text is None else convert(text) for text in texts]

        return each

    def converter(self, f: CompiledField) -> Callable[[str], Any] | None:
        """How a text read from a cell of ``f``'s column (not blank, see :func:`texts_of`)
        becomes the field's input; None for the types the record service reads from the
        text itself. It raises for a cell that names no record it can read."""
        name = f.type.name
        convert: Callable[[str], Any] | None = None
        if name == "boolean":
            convert = _yes_no
        elif name == "list":
            convert = self._options(f)
        elif name == "multi_list":
            option = self._options(f)

            def convert(text: str) -> Any:
                return [option(part.strip()) for part in re.split(r"[;,]", text) if part.strip()]

        elif name == "money":
            convert = _money
        elif name == "reference":
            convert = partial(self._reference, f)
        # (any other cell is its trimmed text: a user field's username or #id, say, which
        # the record service reads as its type's input)
        return convert

    def _options(self, f: CompiledField) -> Callable[[str], str]:
        """An option cell's key: the key itself, or the key of the one option with that
        label (any case); any other text as it is (the record service refuses it)."""
        options = self.service.model.option_lists[f.settings["list"]].options
        by_label: dict[str, list[str]] = {}
        for key, o in options.items():
            by_label.setdefault(o.label.lower(), []).append(key)

        def option(text: str) -> str:
            if text in options:
                return text
            found = by_label.get(text.lower(), ())
            return found[0] if len(found) == 1 else text

        return option

    def _reference(self, f: CompiledField, text: str) -> Any:
        digits = text.removeprefix("#")
        if digits.isdigit():
            return int(digits)
        target = f.settings["target"]
        key = (target, text.lower())
        if key not in self._titles:
            self._titles[key] = records_titled(self.service, target, text)
        ids = self._titles[key]
        if len(ids) == 1:
            return ids[0]
        label = self.service.model.entities[target].label
        many = "Several" if ids else "No"
        raise ValidationFailed({f.key: [f"{many} {label} called {text!r}; use its #id."]})


def _yes_no(text: str) -> Any:
    low = text.lower()
    return True if low in YES else False if low in NO else text


def _plain_money_groups(text: str) -> tuple[str | None, str, str | None] | None:
    """The groups :data:`MONEY` gives for the common cells (``12.50``, ``12.50 EUR``,
    ``EUR 12.50``: ASCII digits and separators, spaces between the parts), found without
    RE2, whose Python binding costs more per call than the rest of the row's money; ``None``
    for any other cell, which the pattern then reads."""
    if not text.isascii():
        return None
    parts = text.split(" ")
    parts = [part for part in parts if part]
    if len(parts) == 1 and _is_plain_amount(parts[0]):
        return None, parts[0], None
    if len(parts) == 2:
        first, second = parts
        if _is_plain_amount(first) and _is_code(second):
            return None, first, second
        if _is_code(first) and _is_plain_amount(second):
            return first, second, None
    return None


def _is_plain_amount(part: str) -> bool:
    """``[-+]?[\\d.,]*\\d`` without spaces (``part`` is ASCII)."""
    digits = part[1:] if part[:1] in ("-", "+") else part
    return bool(digits) and digits[-1].isdigit() and not digits.strip("0123456789.,")


def _is_code(part: str) -> bool:
    """``[A-Za-z]{3}`` (``part`` is ASCII)."""
    return len(part) == 3 and part.isalpha()


#: the money cells the export writes (``12.50 EUR``) and bare amounts (``12.50``): read at
#: once by :func:`money_column`, exactly as :func:`_money` reads each
_CODED_AMOUNTS = column_pattern(r"-?[0-9]+(?:\.[0-9]+)? [A-Z]{3}")
_BARE_AMOUNTS = column_pattern(r"-?[0-9]+(?:\.[0-9]+)?")


def money_column(texts: list[str | None]) -> list[Any]:
    """:func:`_money` of each text (None stays None): a column of the export's form or of
    bare amounts at once, any other cell by cell."""
    present = [text for text in texts if text is not None]
    if not present:
        return texts
    if all_match(_CODED_AMOUNTS, present):
        read = iter([{"amount": a, "currency": c} for a, c in (t.split(" ") for t in present)])
    elif all_match(_BARE_AMOUNTS, present):
        read = iter([{"amount": text} for text in present])
    else:
        return [None if text is None else _money(text) for text in texts]
    return [None if text is None else next(read) for text in texts]


def _money(text: str) -> Any:
    text = text.replace("\u00a0", " ")
    groups = _plain_money_groups(text)
    if groups is None:
        match = MONEY.fullmatch(text)
        if not match:
            return text
        before, amount, after = match.groups()
        amount = re.sub(r"\s", "", amount)
    else:  # (the plain amount has no spaces)
        before, amount, after = groups
    if "," in amount and "." not in amount:
        amount = amount.replace(",", ".")
    else:
        amount = amount.replace(",", "")
    currency = (before or after or "").upper()
    return {"amount": amount, "currency": currency} if currency else {"amount": amount}


def texts_of(cells: list[str], *, trims: bool = True) -> list[str | None]:
    """Cells read as their text (trimmed, when ``trims``), the export's formula guard
    dropped; None for a blank one."""
    texts = list(map(str.strip, cells)) if trims else cells
    if "'" in "".join(texts):  # (a guard, or a quote in the text: cell by cell)
        texts = [unguard(text) if text[:1] == "'" else text for text in texts]
    elif trims:  # (trimmed: only an empty text is blank)
        return [text or None for text in texts]
    return [text if text.strip() else None for text in texts]
