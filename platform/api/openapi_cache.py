"""What ``/api/openapi.json`` keeps between requests, so that a configuration change costs
the document the parts it changed, not a rebuild of everything.

* :class:`Fragment`: one entity type's part of the document (its record schemas and its copy
  of the record routes) as one kind of caller sees it, kept by :class:`FragmentCache` under
  everything it was built from: the compiled entity type itself (a new compiled object after
  any change of it, see :mod:`trellis.metamodel.compiled`), what the caller may see of it, the
  option keys its choice fields offer, and for a conversion source its targets' own. A change
  to one entity type builds that type's fragment (and those of the types converting into it)
  again; every other document part is reused as it is, JSON text included.
* :class:`DocumentCache`: the assembled documents by metamodel stamp and view, and each one's
  JSON body, spliced from the fragments' texts (the same bytes ``jsonify`` makes of the whole
  document, sorted keys, see :func:`spliced_body`).

Nothing here is ever stale: a fragment is only found under the very objects and values it was
built from, and a document only under the stamp and view it was assembled for. The documents
of one configuration are kept, and the fragments documents used in the last few.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

#: how many documents a worker keeps (one per metamodel stamp and kind of caller)
CACHE_SIZE = 32

Dumps = Callable[[Any], str]


@dataclass
class Fragment:
    """One entity type's part of the document: schemas by name, paths, both in document order.
    ``held`` keeps the objects whose identity is part of the fragment's key alive as long as
    the fragment (so no other object can take their ``id``)."""

    schemas: dict[str, Any]
    paths: dict[str, Any]
    held: tuple[Any, ...] = ()
    #: the generation of :class:`FragmentCache` in which a document last used it
    used: int = 0
    _texts: tuple[dict[str, str], dict[str, str]] | None = field(default=None, repr=False)

    def texts(self, dumps: Dumps) -> tuple[dict[str, str], dict[str, str]]:
        """Each schema's and each path's JSON text, made once."""
        if self._texts is None:
            self._texts = (
                {name: dumps(value) for name, value in self.schemas.items()},
                {path: dumps(value) for path, value in self.paths.items()},
            )
        return self._texts


class FragmentCache:
    """Fragments by key (see :class:`Fragment`); safe to share between threads.

    Each configuration (metamodel stamp) is a generation: a fragment no document used in the
    last :attr:`keep` generations is dropped, so what a change replaced goes, while the parts
    of views nobody asked for since the change (another role's) stay for the next changes."""

    def __init__(self, keep: int = 4) -> None:
        self._fragments: dict[Hashable, Fragment] = {}
        self._lock = threading.Lock()
        self.generation = 0
        self.keep = keep

    def get(self, key: Hashable, build: Callable[[], Fragment]) -> Fragment:
        with self._lock:
            found = self._fragments.get(key)
        if found is None:
            made = build()
            with self._lock:
                found = self._fragments.setdefault(key, made)
        found.used = self.generation
        return found

    def next_generation(self) -> None:
        """A new configuration: drop the fragments no document used in the last generations."""
        with self._lock:
            self.generation += 1
            oldest = self.generation - self.keep
            for key in [k for k, f in self._fragments.items() if f.used < oldest]:
                del self._fragments[key]

    def __len__(self) -> int:
        return len(self._fragments)


@dataclass
class Assembled:
    """A document and the fragments it was assembled from (in order)."""

    document: dict[str, Any]
    fragments: list[Fragment]


class DocumentCache:
    """Built documents by (metamodel stamp, what the caller may see); at most ``size``. The
    fragments (:attr:`fragments`) are shared by every view of every configuration."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._documents: OrderedDict[tuple[Any, ...], Assembled] = OrderedDict()
        #: each cached document as the JSON the route sends, made on its first request
        self._bodies: dict[tuple[Any, ...], bytes] = {}
        self._lock = threading.Lock()
        self._size = size
        self._static: dict[str, Any] | None = None
        self._static_texts: dict[str, dict[str, str]] = {}
        self._stamp: Any = None
        self.fragments = FragmentCache()

    def static(self, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """What the route declarations give (the same for every caller and configuration)."""
        if self._static is None:
            self._static = make()
        return self._static

    def get(self, key: tuple[Any, ...], build: Callable[[], Assembled]) -> Assembled:
        with self._lock:
            assembled = self._documents.get(key)
            if assembled is not None:
                self._documents.move_to_end(key)
                return assembled
            new_stamp, self._stamp = key[0] != self._stamp, key[0]
        if new_stamp:
            self.fragments.next_generation()
        assembled = build()
        with self._lock:
            # a document of another stamp describes a configuration that is gone: dropped,
            # so a worker keeps the documents of one configuration (each one is large: with
            # 200 entity types tens of MB), not one per change
            for old in [k for k in self._documents if k[0] != key[0]]:
                del self._documents[old]
                self._bodies.pop(old, None)
            self._documents[key] = assembled
            while len(self._documents) > self._size:
                self._bodies.pop(self._documents.popitem(last=False)[0], None)
        return assembled

    def body(self, key: tuple[Any, ...], assembled: Assembled, dumps: Dumps) -> bytes:
        """The document cached under ``key`` as the route's JSON, made once: spliced from
        the texts of its parts (see :func:`spliced_body`) and encoded (a response of text
        would encode tens of MB on every request)."""
        with self._lock:
            done = self._bodies.get(key)
        if done is None:
            done = self._splice(assembled, dumps).encode()
            with self._lock:
                if key in self._documents:
                    self._bodies[key] = done
        return done

    def _splice(self, assembled: Assembled, dumps: Dumps) -> str:
        document, static = assembled.document, self._static or {}
        if not self._static_texts:
            self._static_texts = {
                "schemas": {
                    name: dumps(value)
                    for name, value in static.get("components", {}).get("schemas", {}).items()
                },
                "paths": {path: dumps(value) for path, value in static.get("paths", {}).items()},
            }
        wanted_schemas, wanted_paths = document["components"]["schemas"], document["paths"]
        schemas = {n: t for n, t in self._static_texts["schemas"].items() if n in wanted_schemas}
        paths = {p: t for p, t in self._static_texts["paths"].items() if p in wanted_paths}
        for fragment in assembled.fragments:
            fragment_schemas, fragment_paths = fragment.texts(dumps)
            schemas.update(fragment_schemas)
            paths.update(fragment_paths)
        return spliced_body(document, dumps, schemas, paths)


def spliced_body(
    document: dict[str, Any], dumps: Dumps, schemas: dict[str, str], paths: dict[str, str]
) -> str:
    """``document`` as ``dumps`` (sorted keys) makes it, plus the newline ``jsonify`` adds,
    with the given texts of ``components.schemas`` and ``paths`` put in as they are (one
    join of all the parts: each text is copied once, into the body)."""
    parts: list[str] = []

    def obj(texts: dict[str, str | Callable[[], None]]) -> None:
        parts.append("{")
        for number, key in enumerate(sorted(texts)):
            parts.append(f"{', ' if number else ''}{dumps(key)}: ")
            text = texts[key]
            if callable(text):
                text()
            else:
                parts.append(text)
        parts.append("}")

    components: dict[str, str | Callable[[], None]] = {
        k: dumps(v) for k, v in document["components"].items() if k != "schemas"
    }
    components["schemas"] = lambda: obj(schemas)  # type: ignore[arg-type]
    top: dict[str, str | Callable[[], None]] = {
        k: dumps(v) for k, v in document.items() if k not in ("paths", "components")
    }
    top["paths"] = lambda: obj(paths)  # type: ignore[arg-type]
    top["components"] = lambda: obj(components)
    obj(top)
    parts.append("\n")
    return "".join(parts)
