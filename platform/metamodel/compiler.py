"""Compiling the metamodel rows into a :class:`~trellis.metamodel.compiled.CompiledModel`.

Compiling is incremental: each entity type has a ``revision`` that moves whenever it or
anything it owns changes (:func:`trellis.metamodel.models.mark_changed_entities`), and a new
model keeps the compiled entity types (tables, schemas, expressions: the same objects) whose
revision did not move. A compiled entity type depends on its own rows only (a reference names
its target by key, a conversion map is read when it is used), so a change recompiles exactly
the entity types it touched.
"""

from __future__ import annotations

import string
import weakref
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from trellis.expressions import ExpressionError, compile_expression
from trellis.metamodel.compiled import (
    CompiledEntity,
    CompiledField,
    CompiledModel,
    CompiledOption,
    CompiledOptionList,
    CompiledPipeline,
    CompiledRule,
    CompiledStage,
)
from trellis.metamodel.fieldtypes import registry
from trellis.metamodel.models import EntityType, OptionList, Pipeline, Rule, Stage


def default_title_template(fields: Iterable[CompiledField]) -> str:
    """Until the administrator sets a title, a record is named by its first text field."""
    first = next((f for f in fields if f.type.name == "text"), None)
    return "{" + first.key + "}" if first else ""


def title_keys(template: str) -> tuple[str, ...]:
    """The field keys a title template such as ``{first_name} {last_name}`` uses."""
    keys = []
    for _text, name, _spec, _conv in string.Formatter().parse(template or ""):
        if name is not None:
            keys.append(name)
    return tuple(keys)


#: a compiled entity type with this key and revision from an earlier model, if any
Reuse = Callable[[str, str], "CompiledEntity | None"]


def compile_model(
    session: Session, stamp: str, version: int, reuse: Reuse | None = None
) -> CompiledModel:
    """Build the compiled model from the metamodel rows visible to ``session``, keeping what
    ``reuse`` still has for entity types whose revision did not move."""
    model = CompiledModel(stamp=stamp, version=version)
    # joined, not selectin: each is one round trip instead of two (a worker catching up
    # with a change runs these on PostgreSQL)
    for option_list in session.scalars(
        select(OptionList).options(joinedload(OptionList.options))
    ).unique():
        model.option_lists[option_list.key] = CompiledOptionList(
            option_list.key,
            option_list.label,
            {
                o.key: CompiledOption(o.key, o.label, o.position, o.color, o.active)
                for o in option_list.options
            },
        )
    heads = session.execute(
        select(EntityType.id, EntityType.key, EntityType.revision, EntityType.archived).order_by(
            EntityType.id
        )
    ).all()
    kept = {key: reuse(key, revision) if reuse else None for _id, key, revision, _a in heads}
    todo = [entity_id for entity_id, key, _r, _a in heads if kept[key] is None]
    query = select(EntityType).options(
        joinedload(EntityType.fields),
        selectinload(EntityType.pipelines)
        .selectinload(Pipeline.stages)
        .options(selectinload(Stage.next_stages), selectinload(Stage.enter_roles)),
        selectinload(EntityType.rules).selectinload(Rule.from_stage),
    )
    if len(todo) < len(heads):
        query = query.where(EntityType.id.in_(todo))
    fresh = (
        {e.key: _compile_entity(e, model) for e in session.scalars(query).unique()} if todo else {}
    )
    model.recompiled = tuple(fresh)
    for _id, key, _revision, archived in heads:
        compiled = kept[key] or fresh[key]
        target = model.archived_entities if archived else model.entities
        target[key] = compiled
    return model


def _compile_entity(entity: EntityType, model: CompiledModel) -> CompiledEntity:
    fields = [
        CompiledField(
            id=f.id,
            key=f.key,
            label=f.label,
            help_text=f.help_text,
            type=registry.get(f.type),
            required=f.required,
            default=f.default,
            unique=f.unique,
            indexed=f.indexed,
            position=f.position,
            archived=f.archived,
            settings=dict(f.settings or {}),
        )
        for f in sorted(entity.fields, key=lambda f: (f.position, f.id))
    ]
    active = {f.key: f for f in fields if not f.archived}
    pipelines = {
        p.key: CompiledPipeline(
            p.key,
            p.label,
            p.position,
            {s.key: _compile_stage(s) for s in p.stages},
        )
        for p in sorted(entity.pipelines, key=lambda p: (p.position, p.id))
        if p.stages
    }
    template = entity.title_template or default_title_template(active.values())
    names = list(active)
    rules = [_compile_rule(rule, names) for rule in entity.rules if rule.active]
    return CompiledEntity(
        key=entity.key,
        label=entity.label,
        label_plural=entity.label_plural,
        description=entity.description,
        title_template=template,
        archived=entity.archived,
        fields=active,
        archived_fields={f.key: f for f in fields if f.archived},
        pipelines=pipelines,
        rules=[r for r in rules if r is not None],
        title_keys=title_keys(template),
        card_fields=tuple(k for k in active if k in set(entity.card_fields or ())),
        revision=entity.revision or "",
        table_fields=tuple(fields),
        compiled_for=weakref.ref(model),
    )


def _compile_stage(stage: Stage) -> CompiledStage:
    return CompiledStage(
        stage.key,
        stage.label,
        stage.position,
        stage.color,
        stage.kind,
        next_stages=(frozenset(s.key for s in stage.next_stages) if stage.limit_moves else None),
        enter_roles={role.key: role.label for role in stage.enter_roles},
        flow_only=stage.flow_only,
    )


def _compile_rule(rule: Rule, names: list[str]) -> CompiledRule | None:
    # Rules were checked when saved; one that no longer compiles (a field it read was
    # archived) is skipped rather than breaking every write of the entity.
    try:
        condition = compile_expression(rule.condition, names) if rule.condition else None
        expression = compile_expression(rule.expression, names) if rule.expression else None
    except ExpressionError:
        return None
    stage = rule.from_stage
    return CompiledRule(
        id=rule.id,
        kind=rule.kind,
        field_key=rule.field_key,
        condition=condition,
        from_pipeline=stage.pipeline.key if stage else None,
        from_stage=stage.key if stage else None,
        expression=expression,
        message=rule.message,
    )
