"""The running platform: settings, engine, sessions, the compiled-metamodel cache and the
events bus, shared by the web app, the CLI and the tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from trellis.access.probes import PENDING, keep_probes
from trellis.accounts import SYSTEM, Actor
from trellis.db import is_busy, make_engine, make_session_factory, read_only_engine
from trellis.errors import Busy
from trellis.metamodel.compiled import CompiledModel, MetamodelCache
from trellis.metamodel.service import MetamodelService
from trellis.records.events import EventBus
from trellis.records.service import RecordService
from trellis.settings import load_settings

if TYPE_CHECKING:
    from trellis.flows.service import FlowService

#: statement cache entries for the platform's own queries, and per entity type
STATEMENTS_BASE = 500
STATEMENTS_PER_TYPE = 40


class Runtime:
    """One per process (or per test): build with :meth:`from_settings`."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.engine = make_engine(settings["DATABASE_URL"])
        self.sessions = make_session_factory(self.engine)
        self.read_sessions = make_session_factory(read_only_engine(self.engine))
        self.reads_only: Callable[[], bool] = lambda: False
        """Whether a transaction that does not say is read-only: the web app answers "while
        serving a GET", so no read path can take the write lock or change data."""
        self.cache = MetamodelCache(on_compiled=self._size_statement_cache)
        self.events = EventBus()
        from trellis.conversion.guards import register as register_conversion_guards

        register_conversion_guards(self.events, self.cache)
        from trellis.flows.automations import register as register_automations

        register_automations(self.events, self.cache)
        from trellis.flows.triggers import register as register_flow_triggers

        register_flow_triggers(self.events, self.cache)

    @classmethod
    def from_settings(cls, overrides: dict[str, Any] | None = None) -> Runtime:
        return cls(load_settings(overrides))

    @contextmanager
    def transaction(self, read_only: bool | None = None) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on any error.

        A read-only one (``read_only=True``, or by default while :attr:`reads_only` says so)
        never waits for a writer on SQLite and cannot write on PostgreSQL. Probes of hidden
        fields noted during it are stored afterwards either way (see access.probes)."""
        if read_only is None:
            read_only = self.reads_only()
        factory = self.read_sessions if read_only else self.sessions
        try:
            with factory() as session:
                try:
                    with session.begin():
                        yield session
                finally:
                    probes = session.info.pop(PENDING, None)
                    if probes:
                        with self.sessions() as other, other.begin():
                            keep_probes(other, probes)
        except OperationalError as error:
            if is_busy(error):
                raise Busy() from error
            raise

    def model(self, session: Session) -> CompiledModel:
        """The compiled metamodel as ``session`` sees it."""
        return self.cache.get(session)

    def records(self, session: Session, actor: Actor = SYSTEM) -> RecordService:
        """The record service for ``actor`` in ``session``'s transaction."""
        return RecordService(session, self.cache.get(session), actor, self.events)

    def metamodel(self, session: Session, actor: Actor = SYSTEM) -> MetamodelService:
        """The metamodel service for ``actor`` in ``session``'s transaction."""
        return MetamodelService(session, self.cache, actor)

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
