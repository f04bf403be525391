"""The records layer's part of configuration changes (see
:class:`trellis.metamodel.changes.RecordUpkeep`): the metamodel service calls it, so the
metamodel never imports the records layer above it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from trellis.accounts import Actor
from trellis.metamodel.compiled import CompiledModel
from trellis.records.audit import forget_entity
from trellis.records.service import RecordService


class _RecordUpkeep:
    def relocate_stage(
        self,
        session: Session,
        model: CompiledModel,
        actor: Actor,
        entity: str,
        moves: list[tuple[str, str, str, str]],
    ) -> None:
        records = RecordService(session, model, actor)
        for from_pipeline, from_stage, to_pipeline, to_stage in moves:
            records.relocate_stage(entity, from_pipeline, from_stage, to_pipeline, to_stage)

    def forget_entity(self, session: Session, entity: str) -> None:
        forget_entity(session, entity)


RECORD_UPKEEP = _RecordUpkeep()
