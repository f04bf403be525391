"""Values built on first use and kept in a dict for as long as what holds the dict: a
compiled entity type's tables and input schema, the conversion setup kept with a compiled
model (``CompiledModel.memo``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping
from contextlib import nullcontext
from typing import Any, TypeVar

T = TypeVar("T")


def built_once(
    store: MutableMapping[str, Any],
    name: str,
    build: Callable[[], T],
    lock: threading.Lock | None = None,
) -> T:
    """``store[name]``, built by ``build()`` and kept there on first use. With ``lock``, the
    threads asking at once share the one value built (built under the lock); without it, a
    race may build it twice (for what reads the database: no thread waits on another's
    transaction), one of them kept."""
    found = store.get(name)
    if found is None:
        with lock or nullcontext():
            found = store.get(name)
            if found is None:
                found = store[name] = build()
    return found  # type: ignore[no-any-return]
