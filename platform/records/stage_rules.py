"""Who may move a record to which stage: a pipeline's transitions, the roles that may enter
a stage, and the stages only a flow's outcome enters.

One rule for every path (record card, kanban, API, import, conversion, create), checked by
the record service; the app asks :func:`stage_choices` which moves to offer. The defaults
change nothing: a stage that does not limit its moves lets records go anywhere, and a stage
without roles may be entered by anyone who may update the record.

- Transitions bind everyone, flows included: a limited stage lets records move only to its
  next stages (of the same pipeline).
- Roles: only members of one of a stage's roles move records into it; administrators may
  always (they could give themselves the role); a flow's outcome may too (the flow decided).
- A stage reserved to flows is entered only with ``by_flow`` (administrators included).
- Creating a record straight into a stage is allowed when the creator could move it there
  from where new records start, step by step, through stages they may enter.
"""

from __future__ import annotations

from collections.abc import Collection

from trellis.accounts import Actor
from trellis.metamodel.compiled import CompiledEntity, CompiledPipeline, CompiledStage


def entry_problem(stage: CompiledStage, actor: Actor, *, by_flow: str | None) -> str | None:
    """Why ``actor`` may not move a record into ``stage`` (roles, reserved), or None."""
    if stage.flow_only and not by_flow:
        return f"Only a flow moves records to {stage.label!r}."
    entitled = by_flow or actor.is_admin or actor.roles & stage.enter_roles.keys()
    if stage.enter_roles and not entitled:
        who = ", ".join(sorted(stage.enter_roles.values()))
        return f"Only {who} may move records to {stage.label!r}."
    return None


def move_problem(
    ent: CompiledEntity,
    from_pipeline: str | None,
    from_stage: str | None,
    to_pipeline: str,
    to_stage: str,
    actor: Actor,
    *,
    by_flow: str | None = None,
) -> str | None:
    """Why ``actor`` may not move a record from one stage to another, or None if allowed.
    Staying where it is is no move and always allowed."""
    if (from_pipeline, from_stage) == (to_pipeline, to_stage):
        return None
    target = ent.pipelines[to_pipeline].stages[to_stage]
    source_pipeline = ent.pipelines.get(from_pipeline or "")
    source = source_pipeline.stages.get(from_stage or "") if source_pipeline else None
    limited = source is not None and source.next_stages is not None
    if limited and (from_pipeline != to_pipeline or to_stage not in source.next_stages):  # type: ignore[union-attr, operator]
        return _not_from(source_pipeline, source, target)  # type: ignore[arg-type]
    return entry_problem(target, actor, by_flow=by_flow)


def creation_problem(
    ent: CompiledEntity, pipeline: str, stage: str, actor: Actor, *, by_flow: str | None = None
) -> str | None:
    """Why ``actor`` may not create a record straight into ``stage``, or None if allowed:
    it must be reachable from where new records start through stages they may enter."""
    chosen = ent.pipelines[pipeline]
    start = chosen.first_stage()
    if stage == start.key:
        return None
    target = chosen.stages[stage]
    problem = entry_problem(target, actor, by_flow=by_flow)
    if problem is not None:
        return problem
    if stage in _reachable(chosen, start.key, actor, by_flow):
        return None
    return (
        f"A new record cannot start in {target.label!r}: it is not reached from "
        f"{start.label!r}, where new records start."
    )


def stage_choices(
    ent: CompiledEntity, pipeline: str, from_stage: str | None, actor: Actor
) -> dict[str, str | None]:
    """For each stage of ``pipeline``: why ``actor`` may not move a record there from
    ``from_stage``, or None where the move is allowed (the app offers only those)."""
    return {
        key: move_problem(ent, pipeline, from_stage, pipeline, key, actor)
        for key in ent.pipelines[pipeline].stages
    }


def _reachable(
    pipeline: CompiledPipeline, start: str, actor: Actor, by_flow: str | None
) -> Collection[str]:
    seen = {start}
    todo = [start]
    while todo:
        stage = pipeline.stages[todo.pop()]
        following = stage.next_stages if stage.next_stages is not None else pipeline.stages
        for key in following:
            if key in seen:
                continue
            if entry_problem(pipeline.stages[key], actor, by_flow=by_flow) is None:
                seen.add(key)
                todo.append(key)
    return seen


def _not_from(pipeline: CompiledPipeline, source: CompiledStage, target: CompiledStage) -> str:
    allowed = [s.label for s in pipeline.stages.values() if s.key in (source.next_stages or ())]
    if not allowed:
        return f"A record in {source.label!r} stays there: it cannot move to {target.label!r}."
    return (
        f"From {source.label!r} a record moves only to "
        f"{', '.join(repr(a) for a in allowed)}, not to {target.label!r}."
    )
