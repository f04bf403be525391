"""``/api/openapi.json``: the OpenAPI 3.1 document, built from the routes' declarations.

flask-smorest builds the static part from the routes and their marshmallow schemas (see
:mod:`trellis.api.blueprint`). The record routes are declared once, for ``{entity}``; here each
entity type the caller may read gets its own copy of them, with its own record schemas built
from the live metamodel (each field type's marshmallow fields), its filters (every operator
its field types support) and only the routes it has (stages with pipelines, ``convert`` with a
conversion map, ``import`` with a writable field). So a new field shows on the next request,
without a restart.

Values the configuration sets at run time (pipelines, stages, option keys) are open strings
with ``x-known-values``, never a closed ``enum``: a client generated before a stage was added
must still read a record in that stage.

Documents are cached by the metamodel stamp and what the caller may see (bounded), and each
entity type's part of them by what it was built from, so a change rebuilds the parts it
touched only (see :mod:`trellis.api.openapi_cache`).

Here: the document, its cache and its route. An entity type's part (its record schemas and
routes) is built in :mod:`trellis.api.openapi_records`, its filters' operands in
:mod:`trellis.api.openapi_filters`.
"""

from __future__ import annotations

import copy
from functools import partial
from typing import Any

import marshmallow as ma
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.access.policy import Access, load_access
from trellis.accounts import Actor
from trellis.api.automations import document_action_types
from trellis.api.blueprint import api
from trellis.api.context import unit
from trellis.api.flow_schemas import document_version_body
from trellis.api.meta_schemas import document_field_types
from trellis.api.openapi_cache import Assembled, DocumentCache, Fragment, FragmentCache
from trellis.api.openapi_filters import option_keys
from trellis.api.openapi_records import PLACEHOLDERS, RECORDS, EntityView, register_schemas
from trellis.conversion.models import ConversionMap
from trellis.metamodel.compiled import CompiledEntity, CompiledModel

API_VERSION = "1.1.0"


# -- the document ------------------------------------------------------------------------


def static_document(spec: APISpec) -> dict[str, Any]:
    """What the route declarations give (the same for every caller and configuration)."""
    static = copy.deepcopy(spec.to_dict())
    document_action_types(static["components"]["schemas"])
    document_field_types(static["components"]["schemas"])
    document_version_body(static["components"]["schemas"])
    return static


def serialise(document: dict[str, Any]) -> str:
    """The document as the JSON the route sends (as ``jsonify`` would make it)."""
    return f"{current_app.json.dumps(document)}\n"


def document_for(runtime: Any, session: Session, actor: Actor) -> dict[str, Any]:
    """The document as ``actor`` sees it (cached; do not change it)."""
    return _cached_document(runtime, session, actor)[2].document


def _cached_document(
    runtime: Any, session: Session, actor: Actor
) -> tuple[DocumentCache, tuple[Any, ...], Assembled]:
    model = runtime.model(session)
    access = load_access(session, actor)
    maps = _conversion_targets(session)
    smorest = current_app.extensions["trellis.api"]
    cache: DocumentCache = current_app.extensions.setdefault("trellis.openapi", DocumentCache())
    key = (model.stamp, tuple(sorted(maps.items())), _visibility(model, access))

    def build() -> Assembled:
        static = cache.static(lambda: static_document(smorest.spec))
        return assemble(static, model, access, maps, cache.fragments)

    return cache, key, cache.get(key, build)


def _visibility(model: CompiledModel, access: Access) -> tuple[Any, ...]:
    """Everything about the caller that changes the document (not who they are)."""
    return tuple((key, *_seen(access, key)) for key in model.entities)


def _seen(access: Access, key: str) -> tuple[Any, ...]:
    """What the caller may see and do of entity type ``key`` that the document says."""
    return (
        access.can("read", key),
        access.can("create", key),
        access.hidden_everywhere(key),
        access.hidden_fields(key),
        access.read_only_fields(key),
    )


def _conversion_targets(session: Session) -> dict[str, tuple[str, ...]]:
    """The target entity types each source converts into (over all its maps)."""
    targets: dict[str, set[str]] = {}
    for source, into in session.execute(select(ConversionMap.source, ConversionMap.targets)):
        targets.setdefault(source, set()).update(into or {})
    return {source: tuple(sorted(keys)) for source, keys in targets.items()}


def build_document(
    static: dict[str, Any],
    model: CompiledModel,
    access: Access,
    conversions: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """The OpenAPI document for what ``access`` may see of ``model``, built from scratch."""
    return assemble(static, model, access, conversions or {}, FragmentCache()).document


def assemble(
    static: dict[str, Any],
    model: CompiledModel,
    access: Access,
    conversions: dict[str, tuple[str, ...]],
    fragments: FragmentCache,
) -> Assembled:
    """The OpenAPI document for what ``access`` may see of ``model``: the declared routes,
    the record routes once per entity type, each entity type's part taken from
    ``fragments`` when one was built from the same compiled entity type, view and options
    (see :mod:`trellis.api.openapi_cache`), else built and kept there. The document shares
    its parts with ``static`` and the fragments: do not change it."""
    generic = {p: v for p, v in static["paths"].items() if p.startswith(RECORDS)}
    paths = {p: v for p, v in static["paths"].items() if p not in generic}
    schemas = {
        name: value
        for name, value in static.get("components", {}).get("schemas", {}).items()
        if name not in PLACEHOLDERS
    }
    visible = [
        e
        for e in model.entities.values()
        if access.can("read", e.key) or access.can("create", e.key)
    ]
    shown = {e.key for e in visible}
    used = [fragments.get(SHARED_PART, _shared_fragment)]
    for entity in visible:
        targets = tuple(t for t in conversions.get(entity.key, ()) if t in shown)
        key = _fragment_key(entity, model, access, targets)
        build = partial(_entity_fragment, entity, model, access, targets, generic)
        used.append(fragments.get(key, build))
    for fragment in used:
        schemas.update(fragment.schemas)
        paths.update(fragment.paths)
    components = {**static.get("components", {}), "schemas": schemas}
    return Assembled({**static, "paths": paths, "components": components}, used)


#: the fragment of the schemas every document has (the shared ones, see ``SHARED``)
SHARED_PART = ("shared",)


def _shared_fragment() -> Fragment:
    spec = APISpec("records", "1", "3.1.0", plugins=[MarshmallowPlugin()])
    register_schemas(spec)
    return Fragment(spec.to_dict()["components"]["schemas"], {})


def _fragment_key(
    entity: CompiledEntity, model: CompiledModel, access: Access, targets: tuple[str, ...]
) -> tuple[Any, ...]:
    """Everything an entity type's fragment is built from: the compiled entity type (a new
    object after any change of it), what the caller may see of it and the option keys its
    choice fields offer; for a conversion source the same of each target (the request takes
    the target's create values, the answer has its record)."""

    def own(e: CompiledEntity) -> tuple[Any, ...]:
        options = tuple(
            (f.key, tuple(option_keys(f, model)))
            for f in e.fields.values()
            if f.type.name in ("list", "multi_list")
        )
        return (id(e), _seen(access, e.key), options)

    return (entity.key, own(entity), tuple((t, own(model.entities[t])) for t in targets))


def _entity_fragment(
    entity: CompiledEntity,
    model: CompiledModel,
    access: Access,
    targets: tuple[str, ...],
    generic: dict[str, Any],
) -> Fragment:
    """``entity``'s schemas and record routes as ``access`` sees them. The targets of its
    conversions are built alongside (their refined create schemas are copied into the
    conversion request) but are not part of it."""
    spec = APISpec("records", "1", "3.1.0", plugins=[MarshmallowPlugin()])
    register_schemas(spec)
    view = EntityView(entity, model, access, targets)
    for name, schema in view.schemas().items():
        spec.components.schema(name, schema=schema)
    own = list(spec.components.schemas)
    views = {entity.key: view}
    for t in targets:
        if t not in views:  # a target's own targets play no part in what a source says
            views[t] = EntityView(model.entities[t], model, access, ())
            for name, schema in views[t].schemas().items():
                spec.components.schema(name, schema=schema)
    built = spec.to_dict()["components"]["schemas"]
    for each in views.values():
        each.refine(built)
    view.refine_conversion(built, views)
    view.views = views
    return Fragment(
        {name: built[name] for name in own},
        view.paths(generic),
        held=(entity, *(model.entities[t] for t in targets)),
    )


# -- the route ---------------------------------------------------------------------------


class OpenApiDocumentSchema(ma.Schema):
    """An OpenAPI 3.1 document (its own rules are OpenAPI's; the route's answer is this one)."""

    class Meta:
        unknown = ma.INCLUDE

    openapi = ma.fields.String(required=True)
    info = ma.fields.Dict(required=True)
    paths = ma.fields.Dict(required=True)


@api.get("/openapi.json")
@api.alt_response(200, schema=OpenApiDocumentSchema, success=True)
@api.problems()
def openapi_document() -> Any:
    """This document, as the caller sees it"""
    with unit() as (runtime, session, actor):
        cache, key, assembled = _cached_document(runtime, session, actor)
    # made once per configuration and view, from the texts of its parts (each made once)
    body = cache.body(key, assembled, current_app.json.dumps)
    return current_app.response_class(body, mimetype=current_app.json.mimetype)
