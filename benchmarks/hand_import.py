"""The strong hand-written CSV import of the benchmark's ``item`` file: what an engineer who
knows the file and the database writes by hand, column by column.

The checks are those of :func:`handwritten.check` (the platform's), made on whole columns:
each column's cells are trimmed, screened and converted at once (one regular expression, one
``map``), and the two rules are checked over the columns. A file with any cell the screens do
not take goes the row-by-row way of :func:`handwritten.create_many`, which words every
problem by row (nothing written on any) or, for a cell only the screens were too strict for,
writes the rows. Then one statement for the rows and one for the audit rows (the same JSON of
the changes), on the driver's cursor:

* SQLite: ``executemany`` of the rows, their ids counted back from ``last_insert_rowid()``
  (consecutive in one statement on a connection holding the write lock, as the platform
  relies on), the values in the form SQLAlchemy's types store (the batch's time through the
  DATETIME processor once);
* PostgreSQL: the ids from the sequence, then one ``COPY`` for the rows and one for the
  audit rows.

:func:`same_file_refusals` checks before any timing that a file with a bad cell is refused
by this import and by the platform's, so the screens cannot win by checking less.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from itertools import repeat
from typing import Any

import handwritten
import orjson
from handwritten import CENT, CURRENCIES, EMAIL, HEADERS, NEW_IDS, Invalid
from sqlalchemy import Connection, DateTime

from trellis.clock import utcnow

#: the columns of the file, in the form the platform's export writes them
KEYS = list(HEADERS.values())
YES = {"yes": True, "y": True, "true": True, "1": True}
NO = {"no": False, "n": False, "false": False, "0": False}
WHOLE = re.compile(r"(?:\d{0,18}\n)*\d{0,18}", re.ASCII)  # (at most 18 digits: < 2**63)
RATE = re.compile(r"(?:(?:\d{1,10}(?:\.\d{1,2})?)?\n)*(?:\d{1,10}(?:\.\d{1,2})?)?", re.ASCII)
MONEY = re.compile(r"(-?\d{1,16}(?:\.\d{1,2})?)(?: +([A-Za-z]{3}))?", re.ASCII)
ROW_COLUMNS = (
    "version, created_at, updated_at, name, code, notes, quantity, rate, amount_amount,"
    " amount_currency, active, due, email, status"
)
AUDIT_COLUMNS = "entity, record_id, action, at, changes"


class Refused(Exception):
    """A cell the column screens do not take (the row-by-row checks word the problem)."""


def import_csv(conn: Connection, content: str) -> list[int]:
    """Import one CSV file: the ids of the new records, in the file's order; any problem is
    :class:`handwritten.Invalid` (every one, by row) and nothing is written."""
    reader = csv.reader(io.StringIO(content))
    columns = handwritten.header_columns(next(reader))
    lines = list(reader)
    rows = [row for row in lines if "".join(row).strip()]
    width = len(columns)
    if not rows:
        return []
    try:
        if any(len(row) != width for row in rows):
            raise Refused  # (short or long rows: the row-by-row way says which)
        values = _columns(dict(zip(columns, zip(*rows, strict=True), strict=True)), len(rows))
    except Refused:  # (the row-by-row way words every problem)
        return [record["id"] for record in handwritten.import_rows(conn, columns, lines)]
    if conn.dialect.driver == "psycopg":
        return _copy_rows(conn, values, len(rows))
    return _insert_rows(conn, values, len(rows))


def _columns(cells: dict[str, tuple[str, ...]], n: int) -> dict[str, list[Any]]:
    """Each field's values, converted and checked column by column (:class:`Refused` for a
    cell the screens do not take, or a broken rule)."""
    name = _line(cells.get("name", ("",) * n), 255, required=True)
    code = _line(cells.get("code", ("",) * n), 255)
    notes = [c.strip() or None for c in cells.get("notes", ("",) * n)]
    if any(c is not None and (len(c) > 100_000 or "\x00" in c) for c in notes):
        raise Refused
    quantity = _whole(cells.get("quantity", ("",) * n))
    rate = _decimals(cells.get("rate", ("",) * n))  # (no sign: the rule wants none negative)
    amount, currency = _money(cells.get("amount", ("",) * n))
    active = _yes_no(cells.get("active", ("",) * n))
    due = _dates(cells.get("due", ("",) * n))
    email = _line(cells.get("email", ("",) * n), 254)
    if any(e is not None and not EMAIL.match(e) for e in email):
        raise Refused
    status = [c.strip() or None for c in cells.get("status", ("",) * n)]
    if not set(status) <= {None, *handwritten.ACTIVE_STATUSES}:
        raise Refused
    # the rule: an e-mail for a quantity above 50 (the other, no negative rate, in the screen)
    if any(q is not None and q > 50 and e is None for q, e in zip(quantity, email, strict=True)):
        raise Refused
    return {
        "name": name,
        "code": code,
        "notes": notes,
        "quantity": quantity,
        "rate": rate,
        "amount_amount": amount,
        "amount_currency": currency,
        "active": active,
        "due": due,
        "email": email,
        "status": status,
    }


def _line(cells: tuple[str, ...], limit: int, required: bool = False) -> list[str | None]:
    texts = [c.strip() for c in cells]
    joined = "\n".join(texts)
    if joined.count("\n") != len(texts) - 1 or "\x00" in joined:
        raise Refused  # (a line break inside a cell, or a NUL)
    if max(map(len, texts), default=0) > limit or (required and not all(texts)):
        raise Refused
    return [t or None for t in texts]


def _whole(cells: tuple[str, ...]) -> list[int | None]:
    texts = [c.strip() for c in cells]
    if not WHOLE.fullmatch("\n".join(texts)):
        raise Refused
    return [int(t) if t else None for t in texts]


def _decimals(cells: tuple[str, ...]) -> list[Decimal | None]:
    texts = [c.strip() for c in cells]
    if not RATE.fullmatch("\n".join(texts)):
        raise Refused
    return [Decimal(t).quantize(CENT) if t else None for t in texts]


def _money(cells: tuple[str, ...]) -> tuple[list[Decimal | None], list[str | None]]:
    texts = [c.strip() for c in cells]
    found = [MONEY.fullmatch(t) if t else None for t in texts]
    if any(m is None and t for m, t in zip(found, texts, strict=True)):
        raise Refused
    currency = [None if m is None else (m[2] or "EUR").upper() for m in found]
    if not set(currency) <= {None, *CURRENCIES}:
        raise Refused
    return [None if m is None else Decimal(m[1]).quantize(CENT) for m in found], currency


def _yes_no(cells: tuple[str, ...]) -> list[bool | None]:
    out = []
    for c in cells:
        low = c.strip().lower()
        if not low:
            out.append(None)
        elif low in YES or low in NO:
            out.append(YES.get(low, False))
        else:
            raise Refused
    return out


def _dates(cells: tuple[str, ...]) -> list[date | None]:
    try:
        return [date.fromisoformat(t) if (t := c.strip()) else None for c in cells]
    except ValueError:
        raise Refused from None


def _audits(values: dict[str, list[Any]], ids: list[int]) -> list[str]:
    """Each record's audit changes as JSON text: every value given, as ``handwritten.check``
    puts it."""
    rate = [None if r is None else str(r) for r in values["rate"]]
    amount = [
        None if a is None else {"amount": str(a), "currency": c}
        for a, c in zip(values["amount_amount"], values["amount_currency"], strict=True)
    ]
    due = [None if d is None else d.isoformat() for d in values["due"]]
    keys = (
        "name",
        "code",
        "notes",
        "quantity",
        "rate",
        "amount",
        "active",
        "due",
        "email",
        "status",
    )
    columns = (
        values["name"],
        values["code"],
        values["notes"],
        values["quantity"],
        rate,
        amount,
        values["active"],
        due,
        values["email"],
        values["status"],
    )
    dumps = orjson.dumps
    return [
        dumps({k: [None, v] for k, v in zip(keys, row, strict=True) if v is not None}).decode()
        for row in zip(*columns, strict=True)
    ]


def _row_columns(values: dict[str, list[Any]], n: int, now: Any, real: Callable) -> list[Any]:
    """The columns of :data:`ROW_COLUMNS`, in order (``now``: the batch's time as stored;
    ``real``: a decimal as stored)."""
    return [
        repeat(1, n),
        repeat(now, n),
        repeat(now, n),
        values["name"],
        values["code"],
        values["notes"],
        values["quantity"],
        [None if r is None else real(r) for r in values["rate"]],
        [None if a is None else real(a) for a in values["amount_amount"]],
        values["amount_currency"],
        values["active"],
        values["due"],
        values["email"],
        values["status"],
    ]


def _insert_rows(conn: Connection, values: dict[str, list[Any]], n: int) -> list[int]:
    raw = conn.connection.dbapi_connection
    now = utcnow()
    stamp = DateTime().dialect_impl(conn.dialect).bind_processor(conn.dialect)(now)  # type: ignore[misc]
    columns = _row_columns(values, n, stamp, float)  # (SQLite's NUMERIC: a float, as stored)
    columns[10] = [None if a is None else int(a) for a in values["active"]]
    columns[11] = [None if d is None else d.isoformat() for d in values["due"]]
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            f"INSERT INTO hand_item ({ROW_COLUMNS}) VALUES ({', '.join('?' * 14)})",
            zip(*columns, strict=False),
        )
        last = cursor.execute("SELECT last_insert_rowid()").fetchone()[0]
        ids = list(range(last - n + 1, last + 1))
        audits = zip(
            repeat("item"), ids, repeat("create"), repeat(stamp), _audits(values, ids), strict=False
        )
        cursor.executemany(f"INSERT INTO hand_audit ({AUDIT_COLUMNS}) VALUES (?,?,?,?,?)", audits)
    finally:
        cursor.close()
    return ids


def _copy_rows(conn: Connection, values: dict[str, list[Any]], n: int) -> list[int]:
    ids = list(conn.execute(NEW_IDS, {"rows": n}).scalars())
    now = utcnow()
    columns = _row_columns(values, n, now, lambda d: d)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY hand_item (id, {ROW_COLUMNS}) FROM STDIN") as copy:
            for row in zip(ids, *columns, strict=False):
                copy.write_row(row)
        audits = _audits(values, ids)
        with cursor.copy(f"COPY hand_audit ({AUDIT_COLUMNS}) FROM STDIN") as copy:
            for record_id, changes in zip(ids, audits, strict=True):
                copy.write_row(("item", record_id, "create", now, changes))
    finally:
        cursor.close()
    return ids


# -- honesty check ------------------------------------------------------------------------

#: column -> cells each of which must refuse its row (the platform) and file (this import)
BAD_CELLS = {
    "name": ["x" * 256, "   ", "two\nlines", "nul\x00"],
    "quantity": ["1.5", "-1", "abc", "99999999999999999999"],
    "rate": ["1.234", "12345678901", "abc", "-1"],
    "amount": ["1.001 EUR", "1 GBP", "EUR", "12345678901234567 EUR"],
    "active": ["maybe"],
    "due": ["2026-13-01", "soon"],
    "email": ["not-an-e-mail", "a@b"],
    "status": ["nope"],
}


def same_file_refusals(runtime: Any, engine: Any, csv_text: Callable[[range], str]) -> None:
    """A file with any cell of :data:`BAD_CELLS` (or a quantity above 50 without an
    e-mail) is refused by this import and has its row refused by the platform's; a good
    file is taken by both. Or the benchmark stops: a baseline that checks less would hide
    the gap it exists to show."""
    from trellis.records.importer import import_csv as platform_import

    good = list(csv.reader(io.StringIO(csv_text(range(3)))))
    index = {key: KEYS.index(key) for key in KEYS}
    cases: list[dict[str, str]] = [{}, {"quantity": "60", "email": ""}]
    cases += [{key: cell} for key, cells in BAD_CELLS.items() for cell in cells]
    mismatches = []
    for change in cases:
        rows = [list(row) for row in good]
        for key, cell in change.items():
            rows[2][index[key]] = cell
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        text = out.getvalue()
        with runtime.transaction() as session:
            savepoint = session.begin_nested()
            report = platform_import(runtime.records(session), "item", text)
            platform_refused = report.failed_rows > 0
            savepoint.rollback()
        with engine.connect() as conn, conn.begin() as transaction:
            try:
                import_csv(conn, text)
                hand_refused = False
            except Invalid:
                hand_refused = True
            transaction.rollback()
        if platform_refused != hand_refused or platform_refused != bool(change):
            mismatches.append((change, platform_refused, hand_refused))
    if mismatches:
        for change, p, h in mismatches:
            print(f"  file refusal mismatch: {change!r}: platform {p}, hand-written {h}")
        raise SystemExit("The hand-written import does not check what the platform checks.")
