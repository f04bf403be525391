"""Stage pipelines: several per entity type, ordered stages with a meaning.

A stage that still holds records is only removed when the caller says where they go; the
records move through the record service (audit and stage history included), so nothing is
left pointing at a stage that no longer exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from trellis.accounts import Role
from trellis.errors import Conflict, NotFound, ValidationFailed
from trellis.metamodel.changes import (
    Errors,
    MetamodelChanges,
    key_errors,
    label_errors,
    position_errors,
)
from trellis.metamodel.models import STAGE_KINDS, EntityType, Pipeline, Rule, Stage
from trellis.metamodel.option_lists import color_ok
from trellis.words import counted


def stage_list_errors(stages: Any) -> Errors:
    """Problems with a list of stage dicts (key, label, kind, color)."""
    errors = Errors()
    if not isinstance(stages, list) or not stages:
        errors.add("stages", "A pipeline needs at least one stage.")
        return errors
    seen = set()
    for number, stage in enumerate(stages):
        where = f"stages.{number}"
        if not isinstance(stage, dict):
            errors.add(where, "Each stage is an object with a key, a label and a kind.")
            continue
        for message in key_errors(stage.get("key"), "stage key"):
            errors.add(f"{where}.key", message)
        if isinstance(stage.get("key"), str):
            if stage["key"] in seen:
                errors.add(f"{where}.key", f"Key {stage['key']!r} is used twice.")
            seen.add(stage["key"])
        for message in label_errors(stage.get("label")):
            errors.add(f"{where}.label", message)
        if stage.get("kind", "open") not in STAGE_KINDS:
            errors.add(f"{where}.kind", f"Use one of: {', '.join(STAGE_KINDS)}.")
        if not color_ok(stage.get("color")):
            errors.add(f"{where}.color", "Use a colour such as #1f77b4.")
    if not any(isinstance(s, dict) and s.get("kind", "open") == "open" for s in stages):
        errors.add("stages", "At least one stage must be open (where new records start).")
    errors.update(_move_errors(stages))
    return errors


def _move_errors(stages: list[Any]) -> Errors:
    """Problems with the stages' ``next_stages``, ``enter_roles`` and ``flow_only``."""
    errors = Errors()
    rows = [s for s in stages if isinstance(s, dict)]
    keys = {s.get("key") for s in rows if isinstance(s.get("key"), str)}
    start = next((s for s in rows if s.get("kind", "open") == "open"), None)
    for number, stage in enumerate(stages):
        if not isinstance(stage, dict):
            continue
        where = f"stages.{number}"
        following = stage.get("next_stages")
        if following is not None:
            if not isinstance(following, list) or not all(isinstance(k, str) for k in following):
                errors.add(f"{where}.next_stages", "Use a list of stage keys, or null for any.")
            else:
                for key in following:
                    if key == stage.get("key"):
                        errors.add(f"{where}.next_stages", "A stage cannot be its own next stage.")
                    elif key not in keys:
                        errors.add(f"{where}.next_stages", f"No stage {key!r} in this pipeline.")
                if len(set(following)) != len(following):
                    errors.add(f"{where}.next_stages", "Name each stage only once.")
        roles = stage.get("enter_roles", [])
        if not isinstance(roles, list) or not all(isinstance(k, str) for k in roles):
            errors.add(f"{where}.enter_roles", "Use a list of role keys (empty: anyone).")
        flow_only = stage.get("flow_only", False)
        if not isinstance(flow_only, bool):
            errors.add(f"{where}.flow_only", "Use true or false.")
        elif flow_only and stage is start:
            errors.add(f"{where}.flow_only", "New records start here: it cannot be only for flows.")
    return errors


class PipelineOperations(MetamodelChanges):
    """Pipelines and their stages."""

    def pipeline_row(self, entity: EntityType, key: str) -> Pipeline:
        for pipeline in entity.pipelines:
            if pipeline.key == key:
                return pipeline
        raise NotFound(f"Entity type {entity.key!r} has no pipeline {key!r}.")

    def create_pipeline(
        self,
        entity: str,
        key: str,
        label: str,
        stages: list[dict[str, Any]],
        position: int | None = None,
    ) -> Pipeline:
        """Add a pipeline with its ordered stages."""
        row = self.entity_row(entity)
        errors = Errors()
        for message in key_errors(key, "pipeline key"):
            errors.add("key", message)
        for message in label_errors(label):
            errors.add("label", message)
        errors.update(stage_list_errors(stages))
        for message in position_errors(position) if position is not None else []:
            errors.add("position", message)
        errors.raise_if_any()
        if any(p.key == key for p in row.pipelines):
            raise Conflict(f"{entity!r} has a pipeline {key!r} already.")
        if position is None:
            position = max((p.position for p in row.pipelines), default=-1) + 1
        pipeline = Pipeline(key=key, label=label.strip(), position=position)
        for number, stage in enumerate(stages):
            pipeline.stages.append(_new_stage(stage, number))
        self._set_moves(pipeline, stages)
        row.pipelines.append(pipeline)
        self.bump(
            "pipeline.create",
            f"{entity}.{key}",
            {"label": pipeline.label, "stages": [s["key"] for s in stages]},
        )
        return pipeline

    def update_pipeline(
        self,
        entity: str,
        key: str,
        *,
        label: str | None = None,
        position: int | None = None,
        stages: list[dict[str, Any]] | None = None,
        move_to: dict[str, str] | None = None,
    ) -> Pipeline:
        """Rename or move a pipeline, or replace its stage list.

        ``stages`` is the whole new list in order: known keys are updated, new keys added,
        missing keys removed. Records in a removed stage move to ``move_to[stage]`` (a stage
        of the new list); without it the change is refused and says how many records wait.
        """
        row = self.entity_row(entity)
        pipeline = self.pipeline_row(row, key)
        errors = Errors()
        if label is not None:
            for message in label_errors(label):
                errors.add("label", message)
        if stages is not None:
            errors.update(stage_list_errors(stages))
        for message in position_errors(position) if position is not None else []:
            errors.add("position", message)
        if move_to is not None and not (
            isinstance(move_to, dict) and all(isinstance(v, str) for v in move_to.values())
        ):
            errors.add("move_to", "Expected {removed stage: stage of the new list}.")
        errors.raise_if_any()
        if label is not None:
            pipeline.label = label.strip()
        if position is not None:
            pipeline.position = position
        if stages is not None:
            self._replace_stages(row, pipeline, stages, move_to or {})
        self.bump("pipeline.update", f"{entity}.{key}", {"label": label, "stages": stages})
        return pipeline

    def _replace_stages(
        self,
        entity: EntityType,
        pipeline: Pipeline,
        stages: list[dict[str, Any]],
        move_to: dict[str, str],
    ) -> None:
        new_keys = [s["key"] for s in stages]
        removed = [s for s in pipeline.stages if s.key not in new_keys]
        errors = Errors()
        moves: list[tuple[str, str]] = []
        for stage in removed:
            count = self.records_in_stage(entity.key, pipeline.key, stage.key)
            target = move_to.get(stage.key)
            if self._rules_using_stage(stage):
                errors.add(f"move_to.{stage.key}", "A rule starts at this stage; change it first.")
            elif count and target is None:
                errors.add(
                    f"move_to.{stage.key}",
                    f"{counted(count, 'record is', 'records are')} in stage {stage.label!r}: "
                    "say where they move.",
                )
            elif count and target not in new_keys:
                errors.add(f"move_to.{stage.key}", f"{target!r} is not a stage of the new list.")
            elif count:
                moves.append((stage.key, target))  # type: ignore[arg-type]
        errors.raise_if_any()
        existing = {s.key: s for s in pipeline.stages}
        for number, spec in enumerate(stages):
            stage = existing.get(spec["key"])
            if stage is None:
                pipeline.stages.append(_new_stage(spec, number))
                continue
            stage.label = spec["label"].strip()
            stage.kind = spec.get("kind", "open")
            stage.color = spec.get("color") or ""
            stage.position = number
        self._set_moves(pipeline, stages, removed)
        self.session.flush()
        if moves:
            self.records.relocate_stage(
                self.session,
                self.model,
                self.actor,
                entity.key,
                [(pipeline.key, old, pipeline.key, new) for old, new in moves],
            )
        for stage in removed:
            pipeline.stages.remove(stage)
            self.session.delete(stage)

    def _set_moves(
        self, pipeline: Pipeline, stages: list[dict[str, Any]], removed: Sequence[Stage] = ()
    ) -> None:
        """Apply the specs' ``next_stages``, ``enter_roles`` and ``flow_only`` (a key a spec
        leaves out keeps what the stage has). Unknown roles are refused."""
        wanted = {r for spec in stages for r in spec.get("enter_roles") or []}
        roles = {
            role.key: role
            for role in self.session.scalars(select(Role).where(Role.key.in_(sorted(wanted))))
        }
        errors = Errors()
        for number, spec in enumerate(stages):
            for key in spec.get("enter_roles") or []:
                if key not in roles:
                    errors.add(f"stages.{number}.enter_roles", f"No role {key!r}.")
        errors.raise_if_any()
        gone = {id(s) for s in removed}
        by_key = {s.key: s for s in pipeline.stages if id(s) not in gone}
        for spec in stages:
            stage = by_key[spec["key"]]
            if "next_stages" in spec:
                following = spec["next_stages"]
                stage.limit_moves = following is not None
                stage.next_stages = [by_key[k] for k in following or []]
            elif stage.next_stages:
                # a stage being removed is no next stage any more
                stage.next_stages = [s for s in stage.next_stages if id(s) not in gone]
            if "enter_roles" in spec:
                stage.enter_roles = [roles[k] for k in spec["enter_roles"] or []]
            if "flow_only" in spec:
                stage.flow_only = spec["flow_only"]

    def delete_pipeline(self, entity: str, key: str) -> None:
        """Delete a pipeline that holds no records and that no rule uses."""
        row = self.entity_row(entity)
        pipeline = self.pipeline_row(row, key)
        count = self.records_in_stage(entity, key, None)
        if count:
            in_it = counted(count, "record is", "records are")
            raise ValidationFailed({"_pipeline": [f"{in_it} in this pipeline."]})
        if any(self._rules_using_stage(s) for s in pipeline.stages):
            raise ValidationFailed({"_pipeline": ["A rule starts at one of its stages."]})
        row.pipelines.remove(pipeline)
        self.session.delete(pipeline)
        self.bump("pipeline.delete", f"{entity}.{key}")

    def records_in_stage(self, entity: str, pipeline: str, stage: str | None) -> int:
        """How many records of ``entity`` are in ``pipeline`` (and ``stage``, if given)."""
        self.session.flush()
        table = self.model.entities.get(entity) or self.model.archived_entities[entity]
        t = table.table
        query = select(func.count()).select_from(t).where(t.c.pipeline == pipeline)
        if stage is not None:
            query = query.where(t.c.stage == stage)
        return self.session.scalar(query) or 0

    def _rules_using_stage(self, stage: Stage) -> bool:
        if stage.id is None:
            return False
        return (
            self.session.scalar(select(Rule.id).where(Rule.from_stage_id == stage.id)) is not None
        )


def _new_stage(spec: dict[str, Any], position: int) -> Stage:
    return Stage(
        key=spec["key"],
        label=spec["label"].strip(),
        kind=spec.get("kind", "open"),
        color=spec.get("color") or "",
        position=position,
    )
