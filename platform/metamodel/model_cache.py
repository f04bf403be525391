"""The compiled models by metamodel stamp: one cache per process, shared by its threads.

Every transaction reads the stamp (``meta_state``) first, so a change made through one worker
shows in every worker on its next request; a new stamp compiles a model, keeping the compiled
entity types of earlier models whose revision did not move (see :mod:`trellis.metamodel.compiler`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import ScalarSelect, select
from sqlalchemy.orm import Session

from trellis.db import kept_while_unchanged
from trellis.metamodel.compiled import CompiledEntity, CompiledModel
from trellis.metamodel.compiler import Reuse, compile_model
from trellis.metamodel.models import MetaState

_STATE_TABLE = MetaState.__table__
_STATE = select(_STATE_TABLE.c.stamp, _STATE_TABLE.c.version).where(_STATE_TABLE.c.id == 1)

#: ``session.info`` key: ``(transaction, {name: value})`` of what was read along with the
#: metamodel stamp (:meth:`MetamodelCache.read_along`) in that transaction
_READ_ALONG = "trellis.read_along"
#: ``session.info`` key: ``(transaction, model)``, the model last given for that transaction
_MODEL_READ = "trellis.model_read"


def read_along(session: Session, name: str) -> Any:
    """What :meth:`MetamodelCache.get` last read as ``name`` along with the metamodel stamp
    in ``session``'s current transaction; None when it read none (then read it yourself)."""
    read = session.info.get(_READ_ALONG)
    if read is None or read[0] is not session.get_transaction():
        return None
    return read[1].get(name)


def model_read_in(session: Session) -> CompiledModel | None:
    """The compiled model :meth:`MetamodelCache.get` last gave for ``session``'s current
    transaction (what its services work with), or None if it gave none."""
    read = session.info.get(_MODEL_READ)
    if read is None or read[0] is not session.get_transaction():
        return None
    return read[1]


def forget_read_along(session: Session, name: str) -> None:
    """Forget ``name`` read along (call after changing what it reads in this transaction)."""
    read = session.info.get(_READ_ALONG)
    if read is not None:
        read[1].pop(name, None)


class MetamodelCache:
    """Compiled models by stamp. One per process; safe to share between threads.

    ``on_compiled`` (if given) is told of each model compiled, e.g. to size the engine's
    statement cache to the configuration."""

    def __init__(
        self, size: int = 4, on_compiled: Callable[[CompiledModel], None] | None = None
    ) -> None:
        self._models: OrderedDict[str, CompiledModel] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size
        self._on_compiled = on_compiled
        self._state = _STATE
        self._along: list[str] = []

    def read_along(self, name: str, value: ScalarSelect[Any]) -> None:
        """Read ``value`` (a scalar subquery, e.g. another cache's stamp) in the statement
        that reads the metamodel stamp, every transaction reads it first: the value is
        then :func:`read_along` ``(session, name)`` for the rest of the transaction, with no
        statement of its own. Call at start-up, before any transaction."""
        self._along.append(name)
        self._state = self._state.add_columns(value.label(f"along_{len(self._along)}"))

    def get(self, session: Session) -> CompiledModel:
        """The compiled model for the metamodel as ``session`` sees it (one cheap query),
        then :func:`model_read_in` the transaction."""
        model = self._get(session)
        session.info[_MODEL_READ] = (session.get_transaction(), model)
        return model

    def _get(self, session: Session) -> CompiledModel:
        # a Core read of two columns (every request does it): no ORM object, loader or
        # flush, as ``session.get`` did not flush either; on SQLite a read-only transaction
        # skips it while no other connection has committed since (db.kept_while_unchanged)
        connection = session.connection()
        statement = self._state
        state = kept_while_unchanged(
            connection, statement, lambda: connection.execute(statement).first()
        )
        stamp, version = (state[0], state[1]) if state else ("", 0)
        if state is not None and self._along:
            along = dict(zip(self._along, state[2:], strict=True))
            session.info[_READ_ALONG] = (session.get_transaction(), along)
        with self._lock:
            model = self._models.get(stamp)
            if model is not None:
                self._models.move_to_end(stamp)
                return model
            earlier = list(reversed(self._models.values()))
        model = compile_model(session, stamp, version, _reuse_from(earlier))
        with self._lock:
            self._models[stamp] = model
            while len(self._models) > self._size:
                self._models.popitem(last=False)
        if self._on_compiled is not None:
            self._on_compiled(model)
        return model


def _reuse_from(models: list[CompiledModel]) -> Reuse:
    """Finds a compiled entity type by key and revision in ``models`` (newest first)."""

    def reuse(key: str, revision: str) -> CompiledEntity | None:
        for model in models:
            found = model.entities.get(key) or model.archived_entities.get(key)
            if found is not None and found.revision == revision:
                return found
        return None

    return reuse
