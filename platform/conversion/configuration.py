"""The conversion maps and duplicate rules as a conversion reads them: read once per compiled
metamodel and kept with it (``CompiledModel.memo``), so a conversion reads neither table.

Every change of a map or a rule moves the metamodel stamp (:func:`changed`, called by
``maps`` and ``duplicates`` after the change), so the next transaction of every worker
compiles a new model and reads them again, as it does after any other configuration change;
the transaction making the change sees it at once, as with the metamodel itself.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.conversion.models import ConversionMap, DuplicateRule
from trellis.metamodel.changes import STAMP_MOVED, move_stamp
from trellis.metamodel.compiled import CompiledModel
from trellis.metamodel.memo import built_once

_MEMO = "conversion"


@dataclass(frozen=True)
class MapSpec:
    """A conversion map as read (see :class:`ConversionMap`): never changed once read."""

    id: int
    key: str
    source: str
    label: str
    targets: dict[str, Any]


@dataclass(frozen=True)
class RuleSpec:
    """A duplicate rule as read (see :class:`DuplicateRule`)."""

    id: int
    entity: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class ConversionSetup:
    """Every conversion map by source entity type and every duplicate rule by entity type,
    each in id order."""

    maps: dict[str, tuple[MapSpec, ...]]
    rules: dict[str, tuple[RuleSpec, ...]]

    def rules_of(self, entity: str) -> list[RuleSpec]:
        return list(self.rules.get(entity, ()))


def conversion_setup(session: Session, model: CompiledModel) -> ConversionSetup:
    """The maps and rules of the configuration ``model`` was compiled from (read on first use
    with this model, in ``session``)."""
    moved = session.info.get(STAMP_MOVED)
    if moved is not None and moved != model.stamp:
        # this session changed the configuration after ``model`` was compiled: what is read
        # now belongs to no stamp the model stands for
        return _read(session)
    return built_once(model.memo, _MEMO, lambda: _read(session))


def changed(session: Session) -> None:
    """A map or a rule changed in ``session`` (flushed or not): move the metamodel stamp."""
    move_stamp(session)


def _read(session: Session) -> ConversionSetup:
    maps: dict[str, list[MapSpec]] = {}
    table = ConversionMap.__table__
    # through the session: what this transaction changed is flushed first
    for row in session.execute(select(table).order_by(table.c.id)):
        maps.setdefault(row.source, []).append(
            MapSpec(row.id, row.key, row.source, row.label, copy.deepcopy(row.targets or {}))
        )
    rules: dict[str, list[RuleSpec]] = {}
    rule_table = DuplicateRule.__table__
    for row in session.execute(select(rule_table).order_by(rule_table.c.id)):
        rules.setdefault(row.entity, []).append(
            RuleSpec(row.id, row.entity, tuple(row.fields or ()))
        )
    return ConversionSetup(
        {k: tuple(v) for k, v in maps.items()}, {k: tuple(v) for k, v in rules.items()}
    )
