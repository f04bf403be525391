"""The baseline: what a strong engineer writes by hand for the ``item`` table of common.py.

The same table (the same columns and indexes as the platform's ``rec_item``), the same checks
(types, text length and lines, integer bounds, decimal precision and scale, currencies,
options, e-mail, unknown keys, the two rules; every problem reported at once), the same audit
row (``audit_event``'s columns, the same JSON of changes), written with SQLAlchemy **Core**
(statements built once, values as parameters; never an ORM flush per row), batched with
``executemany`` where batching is possible. :func:`same_refusals` checks, before any timing,
that this baseline refuses what the platform refuses, so it cannot win by checking less.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from common import FIELDS, STATUSES
from psycopg.types.json import Json
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import psycopg as _pg

from trellis.clock import utcnow
from trellis.errors import ValidationFailed

Id = BigInteger().with_variant(Integer(), "sqlite")
metadata = MetaData()
item = Table(
    "hand_item",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("version", Integer),
    Column("created_at", DateTime),
    Column("updated_at", DateTime),
    Column("created_by", BigInteger),
    Column("updated_by", BigInteger),
    Column("owner_id", BigInteger),
    Column("pipeline", String(40)),
    Column("stage", String(40)),
    Column("name", Text),
    Column("code", Text),
    Column("notes", Text),
    Column("quantity", BigInteger),
    Column("rate", Numeric(12, 2)),
    Column("amount_amount", Numeric(18, 2)),
    Column("amount_currency", String(3)),
    Column("active", Boolean),
    Column("due", Date),
    Column("email", Text),
    Column("status", String(40)),
    # the platform's list indexes (each ending with id, the tie-breaker of a sort)
    Index("ix_hand_item_owner_id", "owner_id", "id"),
    Index("ix_hand_item_pipeline_stage", "pipeline", "stage", "updated_at", "id"),
    Index("ix_hand_item_created_at", "created_at", "id"),
    Index("ix_hand_item_updated_at", "updated_at", "id"),
    Index("ix_hand_item_code", "code", "id"),
    Index("ix_hand_item_amount", "amount_amount", "id"),
    Index("ix_hand_item_status", "status", "id"),
)
audit = Table(
    "hand_audit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("entity", String(40)),
    Column("record_id", BigInteger),
    Column("action", String(20)),
    Column("at", DateTime),
    Column("by", BigInteger),
    Column("via", String(60)),
    Column("changes", JSON),
    Index("ix_hand_audit_record", "entity", "record_id", "id"),
)
INSERT_ONE = insert(item).returning(item.c.id)
INSERT_MANY = insert(item).returning(item.c.id, sort_by_parameter_order=True)
INSERT_ROWS = insert(item)
INSERT_AUDIT = insert(audit)

KEYS = frozenset(FIELDS)
ACTIVE_STATUSES = frozenset(STATUSES)
CURRENCIES = ("EUR", "USD")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
INTEGER_TEXT = re.compile(r"\s*-?\d{1,19}\s*")
TRUE = frozenset({True, "true", "True", "1", "yes", "on"})
FALSE = frozenset({False, "false", "False", "0", "no", "off"})
BOOLEAN = TRUE | FALSE
CENT = Decimal("0.01")


class Invalid(Exception):
    """Problems by field, every one of them."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _text(errors: dict, key: str, value: Any, max_length: int, single_line: bool) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        errors[key] = ["Not a valid string."]
        return None
    if single_line:  # a line of text is trimmed, as the platform does; long text is kept
        value = value.strip()
    if len(value) > max_length:
        errors[key] = [f"At most {max_length} characters ({len(value)} given)."]
    elif single_line and "\n" in value:
        errors[key] = ["A single line is expected."]
    elif "\x00" in value:
        errors[key] = ["Must not contain NUL characters."]
    return value


def _decimal(errors: dict, key: str, value: Any, precision: int) -> Any:
    """A decimal with at most 2 places and ``precision - 2`` digits before the point."""
    if value is None:
        return None
    if isinstance(value, bool):
        errors[key] = ["Not a valid number."]
        return None
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except (InvalidOperation, ValueError):
        errors[key] = ["Not a valid number."]
        return None
    if not number.is_finite():
        errors[key] = ["Not a finite number."]
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        errors[key] = ["At most 2 decimal places."]
        return None
    if number and number.adjusted() + 1 > precision - 2:
        errors[key] = [f"At most {precision - 2} digits before the decimal point."]
        return None
    return number.quantize(CENT)


def _integer(errors: dict, key: str, value: Any) -> Any:
    if value is None:
        return None
    if (isinstance(value, str) and INTEGER_TEXT.fullmatch(value)) or (
        isinstance(value, float) and value.is_integer()
    ):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        errors[key] = ["Not a whole number."]
        return None
    if value < 0:
        errors[key] = ["Must be at least 0."]
    return value


def check(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The row to insert and the audit changes for one input, or :class:`Invalid`."""
    if not isinstance(data, Mapping):
        raise Invalid({"_record": ["Expected an object of field values."]})
    errors: dict[str, list[str]] = {}
    for key in data:
        if key not in KEYS:
            errors[key] = ["Unknown field."]
    get = data.get
    name = _text(errors, "name", get("name"), 255, True)
    if not name and "name" not in errors:
        errors["name"] = ["Required."]
    code = _text(errors, "code", get("code"), 255, True)
    notes = _text(errors, "notes", get("notes"), 100_000, False)
    quantity = _integer(errors, "quantity", get("quantity"))
    rate = _decimal(errors, "rate", get("rate"), 12)
    amount = currency = None
    money = get("amount")
    if money is not None:
        if not isinstance(money, Mapping) or "amount" not in money or len(money) > 2:
            errors["amount"] = ['Expected {"amount": "12.50", "currency": "EUR"}.']
        else:
            currency = money.get("currency") or "EUR"
            if currency not in CURRENCIES:
                errors["amount"] = ["currency: must be one of EUR, USD."]
            amount = _decimal(errors, "amount", money["amount"], 18)
    active = get("active")
    if active is not None:
        if not isinstance(active, bool | int | str) or active not in BOOLEAN:
            errors["active"] = ["Not a valid boolean."]
        active = active in TRUE
    due = get("due")
    if due is not None:
        try:
            due = date.fromisoformat(due)
        except (TypeError, ValueError):
            errors["due"] = ["Not a valid date."]
    email = _text(errors, "email", get("email"), 254, True)
    if email and "email" not in errors and not EMAIL.match(email):
        errors["email"] = ["Not a valid e-mail."]
    status = get("status")
    if status is not None and status not in ACTIVE_STATUSES:
        errors["status"] = [f"Unknown option {status!r} (choose from: open, won, lost)."]
    # the two rules
    if quantity is not None and quantity > 50 and not email and "quantity" not in errors:
        errors.setdefault("email", []).append("Required.")
    if rate is not None and rate < 0:
        errors.setdefault("_record", []).append("No negative rates.")
    if errors:
        raise Invalid(errors)
    now = utcnow()
    row = {
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "created_by": None,
        "updated_by": None,
        "owner_id": None,
        "pipeline": None,
        "stage": None,
        "name": name,
        "code": code,
        "notes": notes,
        "quantity": quantity,
        "rate": rate,
        "amount_amount": amount,
        "amount_currency": currency if amount is not None else None,
        "active": active,
        "due": due,
        "email": email,
        "status": status,
    }
    changes = {}
    for key, value in (
        ("name", name),
        ("code", code),
        ("notes", notes),
        ("quantity", quantity),
        ("rate", None if rate is None else str(rate)),
        ("amount", None if amount is None else {"amount": str(amount), "currency": currency}),
        ("active", active),
        ("due", None if due is None else due.isoformat()),
        ("email", email),
        ("status", status),
    ):
        if value is not None and value != "":
            changes[key] = [None, value]
    return row, changes


def audit_row(record_id: int, changes: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {
        "entity": "item",
        "record_id": record_id,
        "action": "create",
        "at": at,
        "by": None,
        "via": None,
        "changes": changes,
    }


def created(row: dict[str, Any], record_id: int) -> dict[str, Any]:
    """The created record as the caller gets it back (the platform's ``Record``): its row,
    id and title (the name, its runs of white space as one space; ``Item #<id>`` when
    empty)."""
    row["id"] = record_id
    row["title"] = " ".join(row["name"].split()) or f"Item #{record_id}"
    return row


def create_one(conn: Connection, data: Mapping[str, Any]) -> dict[str, Any]:
    """Check, insert the row, write its audit row: one record, given back with its title."""
    row, changes = check(data)
    record_id = conn.execute(INSERT_ONE, row).scalar_one()
    conn.execute(INSERT_AUDIT, audit_row(record_id, changes, row["created_at"]))
    return created(row, record_id)


def create_many(conn: Connection, inputs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check every input (all problems by position, nothing written on any), then one
    ``executemany`` for the rows (ids back in order) and one for the audit rows; the records
    given back with their titles."""
    checked = []
    errors: dict[str, dict[str, list[str]]] = {}
    for number, data in enumerate(inputs):
        try:
            checked.append(check(data))
        except Invalid as exc:
            errors[f"row {number}"] = exc.errors
    if errors:
        raise Invalid(errors)  # type: ignore[arg-type]
    if not checked:
        return []
    ids = inserted_ids(conn, [row for row, _ in checked])
    audits = [audit_row(i, c, row["created_at"]) for i, (row, c) in zip(ids, checked, strict=True)]
    if _copies(conn, audits):
        _copy(conn, audit, AUDIT_COLUMNS, audits, json=("changes",))
    else:
        conn.execute(INSERT_AUDIT, audits)
    return [created(row, i) for i, (row, _c) in zip(ids, checked, strict=True)]


def inserted_ids(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` into the items' table: their ids, in order. On PostgreSQL a batch of
    5 or more rows by COPY (ids taken from the sequence first, as the platform does), a
    smaller one by an ``executemany`` on psycopg's cursor keeping each row's id (pipelined;
    psycopg prepares the statement after its fifth row), 5x faster there than SQLAlchemy's
    sorted multi-row INSERT; elsewhere that INSERT (one statement a row on SQLite)."""
    if conn.dialect.driver != "psycopg":
        return list(conn.execute(INSERT_MANY, rows).scalars())
    if _copies(conn, rows):
        ids = list(conn.execute(NEW_IDS, {"rows": len(rows)}).scalars())
        keys = list(rows[0])
        copied = [{"id": i, **row} for i, row in zip(ids, rows, strict=True)]
        _copy(conn, item, ["id", *keys], copied)
        return ids
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        keys = tuple(rows[0])
        sql = _INSERT_SQL.get(keys)
        if sql is None:
            statement = insert(item).returning(item.c.id)
            sql = _INSERT_SQL[keys] = str(statement.compile(dialect=_PG, column_keys=keys))
        cursor.executemany(sql, rows, returning=True)
        ids = [cursor.fetchone()[0]]
        while cursor.nextset():
            ids.append(cursor.fetchone()[0])
    finally:
        cursor.close()
    return ids


def _copies(conn: Connection, rows: list[dict[str, Any]]) -> bool:
    return conn.dialect.driver == "psycopg" and len(rows) >= 5


def _copy(
    conn: Connection,
    table: Table,
    columns: list[str],
    rows: list[dict[str, Any]],
    json: tuple[str, ...] = (),
) -> None:
    """``COPY table (columns) FROM STDIN`` of ``rows`` on psycopg's cursor; the values of
    the columns named in ``json`` as JSON."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        names = ", ".join(columns)
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([Json(row[c]) if c in json else row[c] for c in columns])
    finally:
        cursor.close()


#: the ids of ``rows`` new items, from the id column's sequence
NEW_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('hand_item', 'id')) FROM generate_series(1, :rows)"
)
AUDIT_COLUMNS = ["entity", "record_id", "action", "at", "by", "via", "changes"]
_PG = _pg.dialect()
_INSERT_SQL: dict[tuple[str, ...], str] = {}  # compiled once per set of keys


# -- CSV ----------------------------------------------------------------------------------

HEADERS = {key.title(): key for key in FIELDS}


def read_cells(row: list[str], columns: list[str]) -> dict[str, Any]:
    """One CSV row as input: empty cells are absent, money ``12.50 EUR``, ``Yes``/``No``."""
    data: dict[str, Any] = {}
    for key, cell in zip(columns, row, strict=False):
        cell = cell.strip()
        if not cell:
            continue
        if key == "amount":
            amount, _, currency = cell.partition(" ")
            data[key] = {"amount": amount, "currency": currency.strip().upper() or "EUR"}
        elif key == "active":
            low = cell.lower()
            data[key] = (
                True
                if low in ("yes", "y", "true", "1")
                else False
                if low
                in (
                    "no",
                    "n",
                    "false",
                    "0",
                )
                else cell
            )
        else:
            data[key] = cell
    return data


def header_columns(header: list[str]) -> list[str]:
    """The field of each column of a CSV header (:class:`Invalid` for an unknown one)."""
    unknown = [h for h in header if h.strip() not in HEADERS]
    if unknown:
        raise Invalid({"header": [f"Unknown columns: {', '.join(unknown)}"]})
    return [HEADERS[h.strip()] for h in header]


def import_rows(
    conn: Connection, columns: list[str], rows: list[list[str]]
) -> list[dict[str, Any]]:
    """A CSV file's rows (after its header) imported row by row: read and check every row (all
    problems reported by row, nothing written on any), then batch the inserts."""
    inputs = []
    for number, row in enumerate(rows, start=2):
        if any(c.strip() for c in row[len(columns) :]):
            raise Invalid({f"row {number}": [f"{len(row)} cells for {len(columns)} columns."]})
        if "".join(row).strip():  # (a blank row, as the platform finds it: skipped)
            inputs.append(read_cells(row, columns))
    return create_many(conn, inputs)


# -- honesty check ------------------------------------------------------------------------

BAD_INPUTS: list[dict[str, Any]] = [
    {"code": "no name"},
    {"name": "two\nlines"},
    {"name": "x" * 256},
    {"name": "n", "quantity": -1},
    {"name": "n", "quantity": 1.5},
    {"name": "n", "quantity": True},
    {"name": "n", "rate": "abc"},
    {"name": "n", "rate": "1.234"},
    {"name": "n", "rate": "12345678901"},
    {"name": "n", "rate": "-1"},
    {"name": "n", "amount": {"amount": "1", "currency": "GBP"}},
    {"name": "n", "amount": {"amount": "1.001", "currency": "EUR"}},
    {"name": "n", "active": "maybe"},
    {"name": "n", "due": "2026-13-01"},
    {"name": "n", "email": "not-an-e-mail"},
    {"name": "   "},
    {"name": "n", "status": "nope"},
    {"name": "n", "quantity": 60},
    {"name": "n", "bogus": 1},
]


def same_refusals(runtime: Any) -> None:
    """Both sides refuse every input of :data:`BAD_INPUTS` and accept a good one, or the
    benchmark stops: a baseline that checks less would hide the gap it exists to show."""
    mismatches = []
    with runtime.transaction() as session:
        records = runtime.records(session)
        savepoint = session.begin_nested()
        for data in [*BAD_INPUTS, {"name": "fine", "quantity": 60, "email": "a@b.example"}]:
            try:
                records.create("item", data)
                platform_refused = False
            except ValidationFailed:
                platform_refused = True
            try:
                check(data)
                hand_refused = False
            except Invalid:
                hand_refused = True
            if platform_refused != hand_refused:
                mismatches.append((data, platform_refused, hand_refused))
        savepoint.rollback()
    if mismatches:
        for data, p, h in mismatches:
            print(f"  refusal mismatch: {data!r}: platform refused={p}, hand-written refused={h}")
        raise SystemExit("The baseline does not check what the platform checks; fix it first.")
