"""One compiled-statement cache for every engine of a test process.

Every test has its own engine (its own database), and SQLAlchemy keeps compiled statements per
engine, keyed by the engine's dialect object: each test compiled the same statements again
(about a fifth of an ordinary test's CPU). Here every engine's cache is a view of one cache
per process, keyed by the dialect's *settings* instead of the dialect object: a statement is
reused only by an engine whose dialect is of the same class with the same settings (the same
database server or SQLite library, the same options), for a statement with the same cache key
(tables, columns and their types, the statement's shape), which is exactly what SQLAlchemy
reuses within one engine, where the platform builds new table objects after every change of
the configuration (see ``Runtime._size_statement_cache``). The SQL is the one the engine
would compile, only not again.
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.util import LRUCache

PLAIN = (bool, int, float, str, bytes, type(None))


def _setting(value: Any) -> Any:
    """A dialect attribute as it matters to compiling: plain values (and tuples of them) as
    they are, functions by name (closures made per engine are the same code), anything else
    by its type."""
    if isinstance(value, PLAIN):
        return value
    if isinstance(value, tuple) and all(isinstance(v, PLAIN) for v in value):
        return value
    if isinstance(value, types.FunctionType | types.MethodType):
        return ("function", value.__module__, value.__qualname__)
    if isinstance(value, types.ModuleType):
        return ("module", value.__name__)
    return ("object", type(value))


_SETTINGS: weakref.WeakKeyDictionary[Any, tuple[Any, ...]] = weakref.WeakKeyDictionary()


def dialect_settings(dialect: Any) -> tuple[Any, ...]:
    """What tells two dialects apart for compiling: their class and every attribute (kept
    once the dialect has met its database: ``initialize`` sets the server's version and
    what it supports)."""
    found = _SETTINGS.get(dialect)
    if found is None:
        found = (
            type(dialect),
            tuple(sorted((name, _setting(value)) for name, value in vars(dialect).items())),
        )
        if dialect.server_version_info is not None:
            _SETTINGS[dialect] = found
    return found


class SharedStatements(LRUCache):  # type: ignore[type-arg]
    """An engine's compiled cache, kept in the process's one cache (``shared``): SQLAlchemy's
    key ``(dialect, statement key, ...)`` is stored as ``(dialect settings, statement key,
    ...)``. ``capacity`` is the shared cache's (an engine asking for more room raises it)."""

    def __init__(self, shared: LRUCache, dialect: Any) -> None:  # type: ignore[type-arg]
        super().__init__(shared.capacity)
        self._shared = shared
        self._dialect = dialect

    def _key(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        assert key[0] is self._dialect, "a statement compiled for another engine's dialect"
        return (dialect_settings(self._dialect), *key[1:])

    def get(self, key: Any, default: Any = None) -> Any:
        return self._shared.get(self._key(key), default)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._shared[self._key(key)] = value

    @property  # type: ignore[override]
    def capacity(self) -> int:
        return self._shared.capacity

    @capacity.setter
    def capacity(self, value: int) -> None:
        if hasattr(self, "_shared"):
            self._shared.capacity = max(self._shared.capacity, value)


@pytest.fixture(scope="session", autouse=True)
def statements_compiled_once() -> Iterator[None]:
    original = Engine.__init__
    shared: LRUCache = LRUCache(2000)  # type: ignore[type-arg]

    def init(self: Engine, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self._compiled_cache is not None:  # an engine made with query_cache_size=0 has none
            self._compiled_cache = SharedStatements(shared, self.dialect)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Engine, "__init__", init)
        yield
