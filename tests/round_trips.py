"""What a PostgreSQL engine's connections send to the server, as libpq's own trace shows it:
one entry per round trip (what the client sends until it waits: a Sync ends one in the
extended protocol and in pipeline mode, a simple Query is one), the SQL of each statement."""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator
from typing import Any

from psycopg import pq
from sqlalchemy import Engine, event

_MESSAGE = re.compile(r"^(?=[FB]\t\d+\t)", re.MULTILINE)
_SQL = re.compile(r'^F\t\d+\t(Parse|Query)\t (?:"([^"]*)" )?"(.*?)"(?: \d+.*)?$', re.DOTALL)
#: a Bind of a statement prepared by name (an unnamed one is the Parse just before it)
_BIND_PREPARED = re.compile(r'^F\t\d+\tBind\t "[^"]*" "([^"]+)"')


@contextlib.contextmanager
def round_trips(engine: Engine) -> Iterator[list[list[str]]]:
    """The round trips of every connection ``engine`` checks out in the block (listed
    when the block ends): each a list of the statements sent in it, one line each."""
    found: list[list[str]] = []
    traces: list[tuple[Any, Any]] = []

    def checked_out(dbapi_con: Any, _record: Any, _proxy: Any) -> None:
        trace = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed when the block ends)
        dbapi_con.pgconn.trace(trace.fileno())
        dbapi_con.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        traces.append((dbapi_con, trace))

    event.listen(engine, "checkout", checked_out)
    try:
        yield found
    finally:
        event.remove(engine, "checkout", checked_out)
        for dbapi_con, trace in traces:
            if not dbapi_con.closed:
                dbapi_con.pgconn.untrace()
            trace.seek(0)
            found.extend(_parsed(trace.read()))
            trace.close()


def _parsed(trace: str) -> list[list[str]]:
    """The round trips of ``trace``. A statement prepared on the server is run by a Bind of
    its name without a Parse: it is listed by its SQL when the trace parsed it earlier, else
    as ``(prepared <name>)``."""
    out: list[list[str]] = []
    sent: list[str] = []
    prepared: dict[str, str] = {}  # name -> SQL, as parsed in the trace
    parsed = ""  # the name of the Parse just before (its Bind is not another statement)
    for message in _MESSAGE.split(trace):
        line = message.strip()
        if not line.startswith("F\t"):
            continue
        match = _SQL.match(line)
        bind = _BIND_PREPARED.match(line)
        if match and match[1] == "Query":
            out.append([*sent, " ".join(match[3].split())])
            sent = []
        elif match:
            sql = " ".join(match[3].split())
            sent.append(sql)
            parsed = match[2] or ""
            if parsed:
                prepared[parsed] = sql
        elif bind:
            if bind[1] != parsed:
                sent.append(prepared.get(bind[1], f"(prepared {bind[1]})"))
            parsed = ""
        elif line.split("\t")[2].startswith("Sync"):
            out.append(sent)
            sent = []
    return out
