"""Keeping conversions honest: a record whose entity type is converted by a map reaches its
success stage only through the conversion (which creates the targets and the links), never by
a plain stage move that would create nothing."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.conversion.convert import CONVERTING, Converting
from trellis.conversion.models import ConversionMap
from trellis.errors import ValidationFailed
from trellis.metamodel.compiled import CompiledModel
from trellis.metamodel.model_cache import MetamodelCache, model_read_in
from trellis.records.events import EventBus, RecordEvent


class SuccessStageGuard:
    """Subscribed to ``stage_changed`` and ``created``: refuses a record into a success stage
    outside a conversion, for entity types that have a conversion map."""

    def __init__(self, cache: MetamodelCache) -> None:
        self.cache = cache

    def concerns(self, session: Session, kind: str, entity: str) -> bool:
        """Whether records of ``entity`` can reach a success stage at all (see
        ``EventBus.subscribe``): an entity type without one has nothing to guard."""
        compiled = self._model(session).entities.get(entity)
        return compiled is None or any(
            stage.kind == "success"
            for pipeline in compiled.pipelines.values()
            for stage in pipeline.stages.values()
        )

    def _model(self, session: Session) -> CompiledModel:
        """The model the writer works with: a conversion's, or the one this transaction
        read (the metamodel stamp is not read again)."""
        converting: Converting | None = session.info.get(CONVERTING)
        if converting is not None:
            return converting.model
        return model_read_in(session) or self.cache.get(session)

    def __call__(self, session: Session, event: RecordEvent) -> None:
        if "stage" not in event.changes:
            return
        converting: Converting | None = session.info.get(CONVERTING)
        if converting is not None and (converting.entity, converting.record_id) == (
            event.entity,
            event.record_id,
        ):
            return
        entity = self._model(session).entities.get(event.entity)
        if entity is None:
            return
        key = event.changes["stage"][1]
        if not any(
            (stage := p.stages.get(key)) is not None and stage.kind == "success"
            for p in entity.pipelines.values()
        ):
            return  # no pipeline has a success stage of that key: nothing to read
        if "pipeline" in event.changes:  # set (or changed) by this write: it says which
            pipeline = event.changes["pipeline"][1]
        else:
            table = entity.table
            pipeline = session.scalar(select(table.c.pipeline).where(table.c.id == event.record_id))
        stage = (
            entity.pipelines[pipeline].stages.get(event.changes["stage"][1]) if pipeline else None
        )
        if stage is None or stage.kind != "success":
            return
        has_map = session.scalar(
            select(ConversionMap.id).where(ConversionMap.source == event.entity).limit(1)
        )
        if has_map is not None:
            message = f"{stage.label!r} is reached by converting the record (choose the targets)."
            raise ValidationFailed({"stage": [message]})


def register(events: EventBus, cache: MetamodelCache) -> None:
    """Install the guards on a runtime's events bus."""
    guard = SuccessStageGuard(cache)
    # a record created (or imported) straight into the success stage skips the conversion
    # just as a move does
    events.subscribe("stage_changed", guard, guard.concerns)
    events.subscribe("created", guard, guard.concerns)
