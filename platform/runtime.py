"""The running platform: settings, engine, sessions, the compiled-metamodel cache and the
events bus, shared by the web app, the CLI and the tests.

``trellis.app`` builds one per app and keeps it in the app's extensions; the web, admin, API
and CLI layers find it with :func:`get_runtime` (they never import ``trellis.app``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from trellis.access.bearers import BearerCache, note_transaction_began, watch
from trellis.access.policy import RIGHTS_CACHE, Access
from trellis.access.probes import PENDING, keep_probes
from trellis.access.remembered import AccessCache
from trellis.access.tokens import PendingUses, note_uses
from trellis.accounts import SYSTEM, Actor
from trellis.conversion.guards import register as register_conversion_guards
from trellis.db import (
    READ_ONLY_SESSION,
    is_busy,
    make_engine,
    make_session_factory,
    read_only_engine,
    request_engine,
    write_lock_free,
)
from trellis.errors import Busy
from trellis.metamodel.compiled import CompiledModel
from trellis.metamodel.model_cache import MetamodelCache
from trellis.metamodel.service import MetamodelService
from trellis.records.events import EventBus
from trellis.records.service import RecordService
from trellis.records.upkeep import RECORD_UPKEEP
from trellis.settings import load_settings

if TYPE_CHECKING:
    from trellis.flows.service import FlowService

#: statement cache entries for the platform's own queries, and per entity type
STATEMENTS_BASE = 500
STATEMENTS_PER_TYPE = 40

REQUEST_TRANSACTION = "_trellis_transaction"


@dataclass
class _Shared:
    """The transaction of a request: its session, and whether a block is running in it."""

    session: Session
    read_only: bool
    in_use: bool = False


class Runtime:
    """One per process (or per test): build with :meth:`from_settings`."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.engine = make_engine(settings["DATABASE_URL"])
        self.sessions = make_session_factory(self.engine)
        self.read_sessions = make_session_factory(read_only_engine(self.engine))
        self.request_sessions = make_session_factory(request_engine(self.engine))
        """writing sessions of requests: on SQLite they wait less for the write lock (db.py)"""
        self.reads_only: Callable[[], bool] = lambda: False
        """Whether a transaction that does not say is read-only: the web app answers "while
        serving a GET", so no read path can take the write lock or change data."""
        self.request_scope: Callable[[], Any] = lambda: None
        """An object that lives as long as the current request (the web app: ``flask.g``),
        where the request's one transaction is kept; None outside a request."""
        self.token_uses = PendingUses()
        self.bearers = BearerCache()
        """bearer tokens' holders, kept a few seconds (see access.bearers)"""
        self.rights = AccessCache()
        """what each set of roles grants, kept a few seconds (see access.remembered)"""
        watch(self.engine)
        self.cache = MetamodelCache(on_compiled=self._size_statement_cache)
        self.events = EventBus()
        register_conversion_guards(self.events, self.cache)
        from trellis.flows.active import ActiveTriggers
        from trellis.flows.automations import register as register_automations
        from trellis.flows.triggers import register as register_flow_triggers

        self.triggers = ActiveTriggers(self.cache)
        """the live triggered flows and active automations per entity type, by stamp"""
        register_automations(self.events, self.cache, self.triggers)
        register_flow_triggers(self.events, self.cache, self.triggers)

    @classmethod
    def from_settings(cls, overrides: dict[str, Any] | None = None) -> Runtime:
        return cls(load_settings(overrides))

    @contextmanager
    def transaction(
        self, read_only: bool | None = None, *, keep_open: bool = False
    ) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on any error.

        A read-only one (``read_only=True``, or by default while :attr:`reads_only` says so)
        never waits for a writer on SQLite and cannot write on PostgreSQL. Probes of hidden
        fields noted during it are stored afterwards either way (see access.probes).

        During a request (:attr:`request_scope`) there is one transaction per request: the
        steps before the view (authentication, the menu) open it with ``keep_open=True`` and
        leave it open, and the view's own ``transaction()`` takes it over and ends it (a
        transaction that nobody took over ends with the request, see :meth:`end_request`).
        A block inside another joins it. Only a write asked for in a request that began
        reading ends the reads and starts a writing transaction of its own."""
        if read_only is None:
            read_only = self.reads_only()
        scope = self.request_scope()
        try:
            shared = getattr(scope, REQUEST_TRANSACTION, None)
            if shared is not None and shared.read_only and not read_only and not shared.in_use:
                self._finish(scope, commit=True)
                shared = None
            if shared is None:
                shared = self._begin(read_only, in_request=scope is not None)
                if scope is None:  # outside a request: a transaction of its own
                    with self._owning(None, shared):
                        yield shared.session
                    return
                setattr(scope, REQUEST_TRANSACTION, shared)
            if shared.in_use:  # inside another block of the request: that one ends it
                yield shared.session
            elif keep_open:
                try:
                    yield shared.session
                except BaseException:
                    self._finish(scope, commit=False)
                    raise
            else:
                with self._owning(scope, shared):
                    yield shared.session
        except OperationalError as error:
            if is_busy(error):
                raise Busy() from error
            raise

    def _begin(self, read_only: bool, in_request: bool) -> _Shared:
        if read_only:
            session = self.read_sessions()
        else:
            session = (self.request_sessions if in_request else self.sessions)()
        note_transaction_began(session)  # before its first statement: what it may keep
        session.begin()
        session.info[READ_ONLY_SESSION] = read_only
        session.info[RIGHTS_CACHE] = self.rights  # load_access goes through it
        return _Shared(session, read_only)

    @contextmanager
    def _owning(self, scope: Any, shared: _Shared) -> Iterator[None]:
        shared.in_use = True
        try:
            yield
        except BaseException:
            self._finish(scope, commit=False, shared=shared)
            raise
        self._finish(scope, commit=True, shared=shared)

    def _finish(self, scope: Any, commit: bool, shared: _Shared | None = None) -> None:
        """End the request's transaction (or ``shared``): commit or roll back, close, then
        store the probes it noted."""
        if shared is None:
            shared = getattr(scope, REQUEST_TRANSACTION)
        if scope is not None and getattr(scope, REQUEST_TRANSACTION, None) is shared:
            delattr(scope, REQUEST_TRANSACTION)
        session = shared.session
        try:
            if commit:
                if not shared.read_only:
                    note_uses(session, self.token_uses.take())
                    session.commit()
                elif session.new or session.dirty or session.deleted:
                    session.commit()  # a read that changed objects: its flush fails loudly
                # else a read has nothing to commit: the close below ends it (a rollback,
                # without the commit's flush and event machinery)
            else:
                session.rollback()
        finally:
            session.close()
            probes = session.info.pop(PENDING, None)
            if probes:
                writers = self.sessions if scope is None else self.request_sessions
                with writers() as other, other.begin():
                    keep_probes(other, probes)

    def check_writable(self) -> None:
        """Raise :class:`~trellis.errors.Busy` when another writer (an import) holds SQLite's
        write lock for longer than a request waits; for costly work that ends in a write."""
        if not write_lock_free(self.engine):
            raise Busy()

    def note_token_use(self, session: Session, token_id: int) -> None:
        """Record that a token was used: in ``session`` if it writes, else with the next
        transaction of this process that writes (a read never writes)."""
        if session.info.get(READ_ONLY_SESSION):
            self.token_uses.add(token_id)
        else:
            note_uses(session, [token_id])

    def end_request(self, error: BaseException | None) -> None:
        """End the request's transaction if no view took it over (an early answer, an
        error): committed unless the request failed."""
        scope = self.request_scope()
        try:
            if getattr(scope, REQUEST_TRANSACTION, None) is not None:
                self._finish(scope, commit=error is None)
            if self.token_uses.overdue():
                ids = self.token_uses.take()
                with self.request_sessions() as session, session.begin():
                    note_uses(session, ids)
        except OperationalError:  # the answer is already made; a busy database loses a note
            pass

    def model(self, session: Session) -> CompiledModel:
        """The compiled metamodel as ``session`` sees it."""
        return self.cache.get(session)

    def records(self, session: Session, actor: Actor = SYSTEM) -> RecordService:
        """The record service for ``actor`` in ``session``'s transaction."""
        model = self.cache.get(session)
        return RecordService(session, model, actor, self.events, self.access(session, actor))

    def access(self, session: Session, actor: Actor) -> Access:
        """``actor``'s rights (what their roles grant is kept a few seconds: access.remembered)."""
        return self.rights.access(session, actor)

    def metamodel(self, session: Session, actor: Actor = SYSTEM) -> MetamodelService:
        """The metamodel service for ``actor`` in ``session``'s transaction."""
        return MetamodelService(session, self.cache, actor, RECORD_UPKEEP)

    def flows(self, session: Session, actor: Actor = SYSTEM) -> FlowService:
        """The flows service for ``actor`` in ``session``'s transaction."""
        from trellis.flows.context import FlowContext
        from trellis.flows.service import FlowService

        context = FlowContext(
            session, actor, lambda: self.cache.get(session), lambda who: self.records(session, who)
        )
        return FlowService(context)

    def initialise(self) -> None:
        """Create or upgrade the database."""
        from trellis.installation import upgrade_database

        upgrade_database(self.engine)

    def _size_statement_cache(self, model: CompiledModel) -> None:
        """Room in the engine's statement cache for every entity type's statements: a cache
        smaller than the configuration recompiles SQL all day (each entity type has its own
        tables, so its own insert, select, update, list and title statements)."""
        cache = self.engine._compiled_cache  # the LRU behind ``query_cache_size``
        if cache is not None:
            types = len(model.entities) + len(model.archived_entities)
            cache.capacity = max(cache.capacity, STATEMENTS_BASE + STATEMENTS_PER_TYPE * types)

    def dispose(self) -> None:
        self.engine.dispose()


def get_runtime() -> Runtime:
    """The runtime of the current app."""
    return current_app.extensions["trellis"]


def get_runtime_of(app: Flask) -> Runtime:
    """The runtime of ``app`` (outside a request)."""
    return app.extensions["trellis"]
