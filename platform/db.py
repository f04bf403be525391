"""Engine, sessions and the declarative base of the platform's own tables.

SQLite is set up so that DDL runs inside the transaction (a schema change rolls back with the
metamodel change), with WAL, foreign keys and a busy timeout. Writing transactions take the
write lock up front (``BEGIN IMMEDIATE``); read-only ones start deferred and read the WAL
snapshot, so a reader never waits for a writer. On PostgreSQL a read-only transaction is
``READ ONLY``, so a read path that tries to write fails loudly instead of taking locks.

How long a SQLite writer waits for the write lock depends on who is waiting: a web or API
request waits :data:`REQUEST_BUSY_TIMEOUT_MS` (other requests' writes are short, while an
import holds the lock for its whole all-or-nothing transaction, and a person should hear
"busy, retry" at once rather than after seconds), a job (the CLI, an import, the background
worker) waits :data:`BUSY_TIMEOUT_MS`. The request's wait is set per transaction on the
pooled connection, only when it differs from the connection's current one.

A PostgreSQL connection taken from the pool is pinged first (a round trip) only when it sat
unused for :data:`PING_AFTER_IDLE` seconds; one used more recently is taken as alive, as every
busy worker's are. A connection that died meanwhile fails its statement and SQLAlchemy's
disconnect handling renews the pool, so the next transaction gets live connections.

The engines carry no SQLAlchemy connection event listeners (``begin``, ``after_cursor_execute``
and the like): with any, SQLAlchemy dispatches its events around every statement of every
connection. SQLite's BEGIN is the dialect's ``do_begin`` instead, told how to begin by the
engine that checked the connection out (pool events and option engines cost nothing per
statement); the token caches' watch (``access.bearers.watch``) wraps the dialect likewise.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from time import monotonic
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of the platform's own (static) tables; records live in runtime tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


READ_ONLY = "trellis_read_only"
"""Execution option of the engine that read-only sessions are bound to."""
READ_ONLY_SESSION = "trellis.read_only"
"""``session.info`` key: the session's transaction is read-only (``Runtime.transaction``)."""

_QUERY_ONLY = "trellis_query_only"
"""Connection info: SQLite's ``query_only`` pragma as last set on the connection."""
_DATA_VERSION = "trellis_data_version"
"""Connection info: SQLite's ``data_version`` as read in the current transaction."""
_KEPT = "trellis_kept"
"""Connection info: ``(data_version, {key: answer})`` of :func:`kept_while_unchanged`."""

BUSY_TIMEOUT_MS = 5000
"""How long a SQLite writer outside a request (a job) waits for the write lock before the
caller hears "busy, retry"."""

REQUEST_BUSY_TIMEOUT_MS = 500
"""How long a SQLite writer serving a request waits for the write lock before the request
answers 503 "busy, retry": a few other requests' writes fit in it, an import does not."""

REQUEST = "trellis_request"
"""Execution option of the engine that writing sessions of requests are bound to."""
_BUSY_TIMEOUT = "trellis_busy_timeout_ms"

PING_AFTER_IDLE = 10.0
"""Seconds a pooled PostgreSQL connection may sit unused before it is pinged on checkout."""
_IDLE_SINCE = "trellis_idle_since"


def read_only_engine(engine: Engine) -> Engine:
    """The same engine and pool, for transactions that only read. On PostgreSQL with
    psycopg, reads run in autocommit (see :func:`_reads_without_transaction`); with another
    driver in ``BEGIN READ ONLY`` transactions."""
    if engine.dialect.driver == "psycopg":
        return engine.execution_options(isolation_level="AUTOCOMMIT", **{READ_ONLY: True})
    if engine.dialect.name == "postgresql":
        return engine.execution_options(postgresql_readonly=True, **{READ_ONLY: True})
    return _beginning_as(engine.execution_options(**{READ_ONLY: True}), (True, BUSY_TIMEOUT_MS))


def request_engine(engine: Engine) -> Engine:
    """The same engine and pool, for the writing transactions of web and API requests (on
    SQLite they wait :data:`REQUEST_BUSY_TIMEOUT_MS` for the write lock; PostgreSQL's
    engine is returned as it is)."""
    if engine.dialect.name != "sqlite":
        return engine
    return _beginning_as(
        engine.execution_options(**{REQUEST: True}), (False, REQUEST_BUSY_TIMEOUT_MS)
    )


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; SQLite files get their folder, WAL and transactional DDL."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # no server-side prepared statements: psycopg prepares a query after 5 uses, and a
        # prepared plan fails ("cached plan must not change result type") on every pooled
        # connection once a field's column changes type (integer -> decimal)
        connect_args = {"prepare_threshold": None} if parsed.get_driver_name() == "psycopg" else {}
        engine = create_engine(url, connect_args=connect_args, json_serializer=json_text)
        _ping_idle_connections(engine)
        if parsed.get_driver_name() == "psycopg":
            _hold_savepoint_commands(engine)
            _reads_without_transaction(engine)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, json_serializer=json_text
    )
    _make_sqlite_transactional(engine)
    return engine


#: what orjson leaves to :func:`json.dumps`: subclasses of the JSON types (a named tuple, a
#: str enum), dataclasses and datetimes, which ``json.dumps`` writes (or refuses) its own way
_ORJSON_PLAIN = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)


def json_text(value: Any) -> str:
    """The text a JSON column stores for ``value`` (SQLAlchemy's ``json_serializer``):
    orjson's for the plain JSON values (dicts with text keys, lists, tuples, text, numbers
    within 64 bits, booleans, None), a tenth of ``json.dumps``' time on an audit row's
    changes; ``json.dumps``' for anything else. The text is compact and UTF-8 rather than
    ``json.dumps``' spaced ASCII; it reads back as the same value (a float NaN, which
    PostgreSQL's JSON refuses, is written as null)."""
    try:
        return orjson.dumps(value, option=_ORJSON_PLAIN).decode()
    except TypeError:
        return json.dumps(value)


def _reads_without_transaction(engine: Engine) -> None:
    """On PostgreSQL (psycopg) a read-only transaction runs in autocommit: no ``BEGIN`` and
    no ``ROLLBACK``, two round trips fewer for every read (a list page: 4 -> 2). It sees
    what it saw before: at READ COMMITTED each statement takes its own snapshot inside a
    transaction too.

    Still nothing a read runs can write: every connection has
    ``default_transaction_read_only`` on (set once, when it is made), so each statement in
    autocommit is a read-only transaction of its own, and a write there fails as it failed
    in ``BEGIN READ ONLY``. Writing transactions begin ``BEGIN READ WRITE`` (psycopg's
    ``read_only`` False), the same single round trip as ``BEGIN``. A connection goes back to
    the pool as it came (autocommit off, the server's isolation level)."""
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _read_only_by_default(dbapi_con: Any, _record: Any) -> None:
        with dbapi_con.cursor() as cursor:
            cursor.execute("SET default_transaction_read_only = on")
        dbapi_con.commit()
        dbapi_con.read_only = False  # writing transactions say so: BEGIN READ WRITE

    def reset_isolation_level(dbapi_con: Any) -> None:
        # as the connection was made (SQLAlchemy's own reset names the level explicitly,
        # and every later BEGIN would repeat it)
        dbapi_con.autocommit = False
        dbapi_con.isolation_level = None

    dialect.reset_isolation_level = reset_isolation_level  # type: ignore[method-assign]


def _ping_idle_connections(engine: Engine) -> None:
    """``pool_pre_ping`` for connections idle longer than :data:`PING_AFTER_IDLE` only (a
    ping on every checkout is a round trip in every transaction)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_con: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_con: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or monotonic() - since < PING_AFTER_IDLE:
            return  # a new connection, or one in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_con)
        except Exception as error:  # dead: the pool replaces it and tries again
            raise DisconnectionError(str(error)) from error


#: attribute of a psycopg connection: the savepoint commands held for its next statement
_HELD = "_trellis_held_commands"


def _hold_savepoint_commands(engine: Engine) -> None:
    """On PostgreSQL (psycopg), SAVEPOINT and RELEASE SAVEPOINT cost no round trip of their
    own: each is held on the driver's connection and sent with the next statement, in the
    same round trip (libpq's pipeline mode: the commands, the statement, one Sync). What the
    next statement sees is what it saw before: the commands run first, in order.

    A command that would change nothing is never sent: a RELEASE still held when the
    transaction commits or rolls back (its end releases every savepoint), a SAVEPOINT released
    or rolled back to before any statement ran in it. A savepoint asked for in a transaction
    that has already failed, or on an autocommit connection, is sent at once, so it fails
    where it did before.

    Statements without parameters (which may hold several commands: a script) go as before,
    after the held commands (then a round trip of their own)."""
    import psycopg  # (the driver of this engine only)

    if not psycopg.Pipeline.is_supported():
        return
    failed = psycopg.pq.TransactionStatus.INERROR
    dialect = engine.dialect
    execute, execute_many = dialect.do_execute, dialect.do_executemany
    execute_no_params = dialect.do_execute_no_params
    commit, rollback = dialect.do_commit, dialect.do_rollback
    savepoint, release = dialect.do_savepoint, dialect.do_release_savepoint
    rollback_to = dialect.do_rollback_to_savepoint
    quote = dialect.identifier_preparer.quote

    def name_of(name: str) -> str:
        return quote(name)  # (as SQLAlchemy names a savepoint)

    def driver(connection: Connection) -> Any:
        return connection.connection.dbapi_connection

    def send_held(driver_connection: Any, held: list[str]) -> None:
        """Queue ``held`` in the driver connection's pipeline (or send them in one)."""
        setattr(driver_connection, _HELD, None)
        cursor = driver_connection.cursor()
        for command in held:
            cursor.execute(command)

    def do_savepoint(connection: Connection, name: str) -> None:
        raw = driver(connection)
        if raw.pgconn.transaction_status == failed or raw.autocommit:
            savepoint(connection, name)  # fails now, as it did (no transaction to hold it in)
            return
        held = getattr(raw, _HELD, None)
        if held is None:
            held = []
            setattr(raw, _HELD, held)
        held.append(f"SAVEPOINT {name_of(name)}")

    def do_release_savepoint(connection: Connection, name: str) -> None:
        raw = driver(connection)
        held = getattr(raw, _HELD, None)
        command = f"SAVEPOINT {name_of(name)}"
        if held and held[-1] == command:  # nothing ran in it
            held.pop()
            return
        if raw.pgconn.transaction_status == failed:
            flush(raw)
            release(connection, name)  # fails now, as it did
            return
        if held is None:
            held = []
            setattr(raw, _HELD, held)
        held.append(f"RELEASE {command}")

    def do_rollback_to_savepoint(connection: Connection, name: str) -> None:
        raw = driver(connection)
        held = getattr(raw, _HELD, None)
        command = f"SAVEPOINT {name_of(name)}"
        if held and command in held:
            # nothing ran since it was asked for: what was asked for inside it goes
            del held[len(held) - held[::-1].index(command) :]
            return
        flush(raw)
        rollback_to(connection, name)

    def flush(raw: Any) -> None:
        held = getattr(raw, _HELD, None)
        if held:
            with raw.pipeline():
                send_held(raw, held)

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        raw = cursor.connection
        held = getattr(raw, _HELD, None)
        if not held:
            execute(cursor, statement, parameters, context)
        elif not parameters:
            flush(raw)
            execute(cursor, statement, parameters, context)
        else:
            with raw.pipeline():
                send_held(raw, held)
                execute(cursor, statement, parameters, context)

    def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        raw = cursor.connection
        held = getattr(raw, _HELD, None)
        if not held:
            execute_many(cursor, statement, parameters, context)
            return
        with raw.pipeline():  # the executemany rides it
            send_held(raw, held)
            execute_many(cursor, statement, parameters, context)

    def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
        flush(cursor.connection)
        execute_no_params(cursor, statement, context)

    def forget_held(dbapi_connection: Any) -> None:
        raw = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
        if getattr(raw, _HELD, None) is not None:
            setattr(raw, _HELD, None)

    def do_commit(dbapi_connection: Any) -> None:
        forget_held(dbapi_connection)  # nothing failed: the commit releases them all
        commit(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        forget_held(dbapi_connection)
        rollback(dbapi_connection)

    dialect.do_savepoint = do_savepoint  # type: ignore[method-assign]
    dialect.do_release_savepoint = do_release_savepoint  # type: ignore[method-assign]
    dialect.do_rollback_to_savepoint = do_rollback_to_savepoint  # type: ignore[method-assign]
    dialect.do_execute = do_execute  # type: ignore[method-assign]
    dialect.do_executemany = do_executemany  # type: ignore[method-assign]
    dialect.do_execute_no_params = do_execute_no_params  # type: ignore[method-assign]
    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


@contextlib.contextmanager
def sent_together(connection: Connection) -> Iterator[None]:
    """The statements run on ``connection`` in the block go to PostgreSQL (psycopg) in one
    round trip when the block ends (libpq's pipeline mode), instead of one each; an error of
    any of them is raised then, as SQLAlchemy raises it (a unique violation as an
    ``IntegrityError``), and the ones after it do not run. Elsewhere they run as they come.

    Only for writes whose answer nobody reads in the block: no RETURNING, no row count (a
    conversion's audit rows, stage visits and links; an INSERT of one row fetches its id
    unless it is ``inline()``)."""
    if connection.dialect.driver != "psycopg":
        yield
        return
    import psycopg  # (the driver of this engine only)

    raw = connection.connection.dbapi_connection
    if not psycopg.Pipeline.is_supported():
        yield
        return
    try:
        with raw.pipeline():
            yield
    except psycopg.Error as error:  # a statement's, raised by the pipeline's end
        if connection.dialect.is_disconnect(error, raw, None):
            connection.invalidate(error)
        raise DBAPIError.instance(None, None, error, psycopg.Error) from error


#: pool record info: how the connection's transactions begin (read-only, busy timeout),
#: set when it is checked out (see :func:`_beginning_as`)
_BEGIN = "trellis_begin"
#: how a connection checked out by the engine itself begins: writing, waiting as a job
_AS_JOB = (False, BUSY_TIMEOUT_MS)


def _make_sqlite_transactional(engine: Engine) -> None:
    # pysqlite commits implicitly before DDL; take over BEGIN so DDL rolls back with the
    # transaction (architecture.md, "SQLite DDL in a transaction").
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_con, record):  # type: ignore[no-untyped-def]
        dbapi_con.isolation_level = None
        cursor = dbapi_con.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        record.info[_BUSY_TIMEOUT] = BUSY_TIMEOUT_MS

    @event.listens_for(engine, "checkout")
    def _checked_out(_dbapi_con, record, _proxy):  # type: ignore[no-untyped-def]
        record.info[_BEGIN] = _AS_JOB  # a read-only or request engine says otherwise

    # The BEGIN is the dialect's (an engine "begin" listener would make SQLAlchemy dispatch
    # its events around every statement of every connection, several calls a statement).
    engine.dialect.do_begin = _sqlite_begin  # type: ignore[method-assign]


def _beginning_as(engine: Engine, how: tuple[bool, int]) -> Engine:
    """``engine`` (an option engine of a SQLite engine) with its connections marked, as they
    are checked out, to begin as ``how`` says: (read-only, busy timeout in ms)."""
    checkout = engine.raw_connection

    def raw_connection() -> Any:
        connection = checkout()
        connection.info[_BEGIN] = how
        return connection

    engine.raw_connection = raw_connection  # type: ignore[method-assign]
    return engine


def _sqlite_begin(dbapi_connection: Any) -> None:
    """Begin a SQLite transaction as the connection was marked to (see :func:`_beginning_as`).

    A writer's IMMEDIATE takes the write lock up front: two writers queue instead of
    deadlocking on a lock upgrade. A reader's deferred BEGIN takes no lock at all. query_only
    makes a reader's accidental write an error, as READ ONLY does on PostgreSQL. The pragmas
    are set only when they change (kept per connection): a run of reads on a pooled
    connection costs no statement for them."""
    info = dbapi_connection.info
    read_only, wait = info.get(_BEGIN, _AS_JOB)
    info.pop(_DATA_VERSION, None)  # read again in this transaction if asked
    if not read_only:
        info.pop(_KEPT, None)  # this connection's own commits do not move its data_version
    cursor = dbapi_connection.cursor()
    try:
        if info.get(_QUERY_ONLY) is not read_only:
            cursor.execute(f"PRAGMA query_only={int(read_only)}")
            info[_QUERY_ONLY] = read_only
        if read_only:
            cursor.execute("BEGIN")
            return
        if info.get(_BUSY_TIMEOUT) != wait:
            cursor.execute(f"PRAGMA busy_timeout={int(wait)}")
            info[_BUSY_TIMEOUT] = wait
        cursor.execute("BEGIN IMMEDIATE")
    finally:
        cursor.close()


def kept_while_unchanged(connection: Connection, key: Any, load: Callable[[], T]) -> T:
    """``load()``'s answer, in the connection's transaction. On SQLite, in a read-only
    transaction, the answer is kept on the pooled connection and given again, with no
    statement of ``load``'s, as long as no other connection (of this process or another)
    has committed since it was loaded, which ``PRAGMA data_version`` tells (read on the
    driver's connection: it starts the transaction's snapshot, about 20 us). A connection's
    own commits do not move its ``data_version``: every writing transaction on it forgets
    what it kept (:func:`_sqlite_begin`), so a writer never reads a kept answer and a reader
    never reads one older than the connection's last write. Elsewhere (PostgreSQL, writing
    transactions): ``load()`` every time.

    For small reads every request makes and few commits change (the metamodel's stamp)."""
    info = connection.info
    if connection.dialect.name != "sqlite" or not info.get(_BEGIN, _AS_JOB)[0]:
        return load()
    version = info.get(_DATA_VERSION)
    if version is None:
        cursor = connection.connection.cursor()
        try:
            cursor.execute("PRAGMA data_version")
            version = info[_DATA_VERSION] = cursor.fetchone()[0]
        finally:
            cursor.close()
    kept = info.get(_KEPT)
    if kept is None or kept[0] != version:
        kept = info[_KEPT] = (version, {})
    if key in kept[1]:
        return kept[1][key]  # type: ignore[no-any-return]
    value = kept[1][key] = load()
    return value


def write_lock_free(engine: Engine) -> bool:
    """Whether SQLite's write lock can be had within a request's wait (it is taken and let go
    at once); always True on PostgreSQL. For costly work that ends in a write (a password
    hash before a token is issued): while an import holds the lock, skip the work and answer
    "busy" at once."""
    if engine.dialect.name != "sqlite":
        return True
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA query_only=0")  # a reader's connection may come back
            connection.info[_QUERY_ONLY] = False
            cursor.execute(f"PRAGMA busy_timeout={int(REQUEST_BUSY_TIMEOUT_MS)}")
            connection.info[_BUSY_TIMEOUT] = REQUEST_BUSY_TIMEOUT_MS
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute("ROLLBACK")
        except Exception as error:
            if "database is locked" in str(error):
                return False
            raise
        finally:
            cursor.close()
    finally:
        connection.close()
    return True


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory; callers own the transaction (services never commit)."""
    return sessionmaker(engine, expire_on_commit=False)


#: SQLite analyses a table only from this many rows: figures taken on a small table stay
#: (SQLite never refreshes them by itself) and would make it scan the table once it is large,
#: while without figures it assumes a large table and uses the indexes
ANALYZE_MIN_ROWS = 10_000


def refresh_statistics(connection: Connection, tables: Iterable[str]) -> None:
    """Fresh planner statistics for ``tables`` (after their indexes changed or a bulk load),
    in the caller's transaction: without them a planner may misjudge a filter (SQLite takes
    an equality on a status for a narrow one and sorts a third of the table)."""
    quote = connection.dialect.identifier_preparer.quote
    sqlite = connection.dialect.name == "sqlite"
    for table in tables:
        name = quote(table)
        if (
            sqlite
            and not connection.exec_driver_sql(
                f"SELECT 1 FROM {name} LIMIT 1 OFFSET {ANALYZE_MIN_ROWS - 1}"
            ).first()
        ):
            continue
        # SQLite reads whole indexes (about a second on 1M rows): its sampled ANALYZE
        # (analysis_limit) reads only the first entries and misjudges a column like a status
        connection.exec_driver_sql(f"ANALYZE {name}")


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` says the database was locked by another writer (SQLite)."""
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)
