"""Records as JSON: how the API reads them and how a webhook sends them (references carry
the target's title, user fields ``{"id", "username", "name"}``, times in ISO 8601 UTC)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from trellis.clock import as_utc
from trellis.metamodel.compiled import CompiledEntity, CompiledField, CompiledModel
from trellis.records.audit import StageVisit
from trellis.records.service import Record, RecordService
from trellis.records.user_values import UserRef, user_values, users_by_id


class _Output:
    """What field types need to render values: the model and titles of referenced records."""

    def __init__(
        self,
        model: CompiledModel,
        titles: dict[str, dict[int, str]],
        users: Mapping[int, UserRef] | None = None,
    ) -> None:
        self.model = model
        self._titles = titles
        self._users = users or {}

    def title_of(self, entity: str, record_id: int) -> str | None:
        return self._titles.get(entity, {}).get(record_id)

    def user_of(self, user_id: int) -> UserRef | None:
        return self._users.get(user_id)


def stage_visit_json(visit: StageVisit) -> dict[str, Any]:
    """One stay of a record in a stage; ``seconds`` runs up to now for the current stage."""
    return {
        "pipeline": visit.pipeline,
        "stage": visit.stage,
        "entered_at": as_utc(visit.entered_at).isoformat(),
        "entered_by": visit.entered_by,
        "entered_via": visit.entered_via,
        "left_at": as_utc(visit.left_at).isoformat() if visit.left_at else None,
        "left_by": visit.left_by,
        "seconds": int(visit.duration().total_seconds()),
    }


def records_json(
    service: RecordService,
    entity: CompiledEntity,
    records: list[Record],
    known_titles: Mapping[str, Mapping[int, str]] | None = None,
) -> list[dict[str, Any]]:
    """Records as the API reads them; references carry the target's title (when the caller
    may read the target). ``known_titles``: titles by entity type and id that the caller may
    read and that are current (records the caller made in this transaction), not read again."""
    wanted: dict[str, set[int]] = defaultdict(set)
    references = [f for f in entity.fields.values() if f.type.name == "reference"]
    for record in records:
        for f in references:
            value = record.values.get(f.key)
            if value is not None:
                wanted[f.settings["target"]].add(value)
    known = known_titles or {}
    titles = {}
    for target, ids in wanted.items():
        have = known.get(target, {})
        missing = [i for i in ids if i not in have]
        titles[target] = {
            **{i: have[i] for i in ids if i in have},
            **(service.titles(target, missing) if missing else {}),
        }
    users = users_by_id(service.session, user_values(entity, records))
    output = _Output(service.model, titles, users)
    # each field's JSON writer looked up once for all the records
    writers = {key: (f, f.type.to_json) for key, f in entity.fields.items()}
    pipelines = entity.has_pipelines
    return [_record_json(record, output, writers, pipelines) for record in records]


def _record_json(
    record: Record,
    output: _Output,
    writers: Mapping[str, tuple[CompiledField, Any]],
    pipelines: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": record.id,
        "version": record.version,
        "title": record.title,
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
        "created_by": record.created_by,
        "owner": record.owner_id,
    }
    for key, value in record.values.items():
        f, to_json = writers[key]
        body[key] = to_json(f, value, output)
    if pipelines:
        body["pipeline"] = record.pipeline
        body["stage"] = record.stage
    return body


def _iso(moment: datetime) -> str:
    """A record's time in ISO 8601 UTC (a record read from storage is in UTC already)."""
    return (moment if moment.tzinfo is UTC else as_utc(moment)).isoformat()
