"""A sketch, not a benchmark of the platform: how fast can a CSV import that checks every
cell and writes an audit row per record be, written column by column on the driver?

    python benchmarks/sketch_column_import.py --n 12000   # SQLite only

It reads the benchmark's CSV (``bench_import.csv_text``), checks each column with the
strong import's rules for what a CSV cell can hold (trimmed single-line text of at most 255
characters without NUL, notes of at most 100,000, whole numbers >= 0, decimals of at most 2
places and 10 / 16 digits before the point, a currency of EUR/USD, Yes/No, ISO dates,
e-mail, the list's options, both rules), refuses the file on any problem (without the
messages the strong import words), then one raw ``executemany`` of the rows and one of the
audit rows (JSON of every value, as the strong import's), ids from ``last_insert_rowid()``.
It times that against the issue's floor (SQLAlchemy Core ``executemany`` of the already
converted rows), sides alternated file by file. It shows what the issue's "<= 2x the floor"
asks is reachable for an import that checks and audits: what stands between the platform and
it is the platform's generic work per record, not the database (see benchmarks/README.md).
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import date
from decimal import Decimal, InvalidOperation

import handwritten
from bench_import import csv_text
from common import database, hand_engine, parser, row_values

from trellis.clock import utcnow

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
STATUSES = frozenset({"open", "won", "lost"})
YES, NO = frozenset({"yes", "y", "true", "1"}), frozenset({"no", "n", "false", "0"})
RECORDS = (
    "INSERT INTO hand_item (version, created_at, updated_at, name, code, notes, quantity, rate,"
    " amount_amount, amount_currency, active, due, email, status)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
AUDITS = "INSERT INTO hand_audit (entity, record_id, action, at, changes) VALUES (?,?,?,?,?)"


def _line(values: tuple[str, ...], limit: int, required: bool) -> tuple[list, bool]:
    out = [v.strip() for v in values]
    bad = any(len(v) > limit or "\n" in v or "\x00" in v for v in out)
    return out, bad or (required and not all(out))


def _decimal(values: list[str], digits: int) -> tuple[list, bool]:
    out: list = []
    for v in values:
        if not v:
            out.append(None)
            continue
        try:
            number = Decimal(v)
        except InvalidOperation:
            return out, True
        exponent = number.as_tuple().exponent
        if not number.is_finite() or exponent < -2 or (number and number.adjusted() >= digits):  # type: ignore[operator]
            return out, True
        out.append(number)
    return out, False


def import_by_columns(raw, text: str) -> int:  # type: ignore[no-untyped-def]
    rows = list(csv.reader(io.StringIO(text)))[1:]
    name, code, notes, qty, rate, amount, active, due, email, status = zip(*rows, strict=True)
    n = len(rows)
    name, bad = _line(name, 255, True)
    code, bad2 = _line(code, 255, False)
    notes_bad = any(len(v) > 100_000 or "\x00" in v for v in notes)
    q = [int(v) if v.strip().isdigit() else None if not v.strip() else -1 for v in qty]
    q_bad = any(x is not None and x < 0 for x in q)
    r, r_bad = _decimal([v.strip() for v in rate], 10)
    split = [v.strip().partition(" ") for v in amount]
    am, a_bad = _decimal([a for a, _, _c in split], 16)
    cur = [c.strip().upper() or "EUR" for _a, _, c in split]
    c_bad = any(c not in ("EUR", "USD") for c in cur)
    act = [v.strip().lower() for v in active]
    act_bad = any(v and v not in YES and v not in NO for v in act)
    act = [None if not v else v in YES for v in act]
    try:
        du = [date.fromisoformat(v) if v.strip() else None for v in due]
        d_bad = False
    except ValueError:
        du, d_bad = [], True
    em = [v.strip() for v in email]
    e_bad = any(v and (len(v) > 254 or not EMAIL.fullmatch(v)) for v in em)
    st = [v.strip() or None for v in status]
    s_bad = any(v is not None and v not in STATUSES for v in st)
    rules_bad = any(x is not None and x > 50 and not e for x, e in zip(q, em, strict=True)) or any(
        x is not None and x < 0 for x in r
    )
    if any(
        (bad, bad2, notes_bad, q_bad, r_bad, a_bad, c_bad, act_bad, d_bad, e_bad, s_bad, rules_bad)
    ):
        raise ValueError("refused")
    now = utcnow().isoformat(" ")
    cursor = raw.cursor()
    cursor.executemany(
        RECORDS,
        zip(
            [1] * n,
            [now] * n,
            [now] * n,
            name,
            code,
            notes,
            q,
            [None if x is None else str(x) for x in r],
            [None if x is None else str(x) for x in am],
            cur,
            [None if x is None else int(x) for x in act],
            [None if d is None else d.isoformat() for d in du],
            em,
            st,
            strict=True,
        ),
    )
    last = cursor.execute("SELECT last_insert_rowid()").fetchone()[0]
    dumps = json.dumps
    audits = []
    for i, values in enumerate(zip(name, code, notes, q, r, am, cur, act, du, em, st, strict=True)):
        a, b, c, d, e, f, g, h, k, m, s = values
        changes = {
            "name": [None, a],
            "code": [None, b],
            "notes": [None, c],
            "quantity": [None, d],
            "rate": [None, None if e is None else str(e)],
            "amount": [None, None if f is None else {"amount": str(f), "currency": g}],
            "active": [None, h],
            "due": [None, None if k is None else k.isoformat()],
            "email": [None, m],
            "status": [None, s],
        }
        audits.append(("item", last - n + 1 + i, "create", now, dumps(changes)))
    cursor.executemany(AUDITS, audits)
    cursor.close()
    return n


BAD_CELLS = {  # column -> cells the sketch must refuse (the file refused)
    0: ["x" * 256, "   ", "two\nlines"],
    3: ["1.5", "-1", "abc"],
    4: ["1.234", "12345678901", "abc", "-1"],
    5: ["1.001 EUR", "1 GBP"],
    6: ["maybe"],
    7: ["2026-13-01"],
    8: ["not-an-e-mail"],
    9: ["nope"],
}


def _refuses_bad_cells(raw) -> None:  # type: ignore[no-untyped-def]
    """Every bad cell refuses its file (a sketch that checks less stops here)."""
    good = list(csv.reader(io.StringIO(csv_text(range(3)))))

    def takes(changes: dict[int, str]) -> bool:
        rows = [list(row) for row in good]
        for column, cell in changes.items():
            rows[2][column] = cell
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        try:
            import_by_columns(raw, out.getvalue())
        except ValueError:
            return False
        return True

    for column, cells in BAD_CELLS.items():
        for cell in cells:
            if takes({column: cell}):
                raise SystemExit(f"The sketch took {cell!r} in column {column}")
    if takes({3: "60", 8: ""}):  # the rule: an e-mail above 50
        raise SystemExit("The sketch took a quantity above 50 without an e-mail")


def main() -> None:
    args = parser(__doc__, 12_000, "rows per side").parse_args()
    if args.database_url:
        raise SystemExit("SQLite only")
    with database(None) as sketch_url, database(None) as floor_url:
        sketch, floor = hand_engine(sketch_url), hand_engine(floor_url)
        handwritten.metadata.create_all(sketch)
        handwritten.metadata.create_all(floor)
        with sketch.begin() as conn:
            _refuses_bad_cells(conn.connection.dbapi_connection)
            conn.rollback()
        times = {"sketch": 0.0, "floor": 0.0}
        for turn in range(args.n // 1000 + 2):
            numbers = range(turn * 1000, turn * 1000 + 1000)
            text = csv_text(numbers)
            converted = [handwritten.check(row_values(i))[0] for i in numbers]
            for side in ("sketch", "floor") if turn % 2 else ("floor", "sketch"):
                started = time.perf_counter()
                if side == "sketch":
                    with sketch.begin() as conn:
                        import_by_columns(conn.connection.dbapi_connection, text)
                else:
                    with floor.begin() as conn:
                        conn.execute(handwritten.INSERT_ROWS, converted)
                if turn >= 2:  # (two warm-up files)
                    times[side] += time.perf_counter() - started
        print(
            f"column-wise sketch {times['sketch'] * 1000 / (args.n / 1000):.1f} ms per 1,000 rows,"
            f" floor {times['floor'] * 1000 / (args.n / 1000):.1f}:"
            f" {times['sketch'] / times['floor']:.2f}x the floor"
        )
        sketch.dispose()
        floor.dispose()


if __name__ == "__main__":
    main()
