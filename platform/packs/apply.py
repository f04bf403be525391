"""Applying a pack: its plan through the services, in ONE transaction.

:func:`apply_pack` loads what the installation has (the base of the installed version, the
live documents), makes the plan (:mod:`trellis.packs.plan`), refuses it while conflicts are
open, and carries it out through the same services the API and the admin UI call (the
metamodel service, conversion maps and duplicate rules, roles and grants, flows,
automations), so every check they make applies here too. Each object's step runs in a
savepoint: a step that fails is noted and the next one runs, so the report lists every
problem at once; if there is any, the whole transaction rolls back and nothing changed.

Order across kinds, so that what an object names exists before it: option lists; new entity
types (without fields); roles; every entity type's fields (reference fields find their
targets, list fields their lists), then their titles and cards; pipelines (their stage rules
name roles); required and validation rules (they name stages); duplicate rules; conversion
maps; grants; flows; automations. What the pack dropped is archived last, in reverse order:
an automation is switched off, a flow goes back to manual starts, a rule, a duplicate rule
or a conversion map is removed (configuration, not business data), a pipeline with records
stays, a field or an entity type is archived (column, table and data stay), a list's options
are retired; roles stay (users hold them) without grants.

Afterwards the installed pack (name, version, manifest, the documents this version said as
the base of the next upgrade) and the pack of every object are recorded.

The documents are the pack's canonical documents (:mod:`trellis.packs.content`); object keys
of pipelines, rules and duplicate rules are ``<entity>.<key>``. Each object's steps are in
:mod:`trellis.packs.apply_steps`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.accounts import SYSTEM, Actor
from trellis.errors import TrellisError
from trellis.packs.apply_steps import Problem, Progress, Steps
from trellis.packs.content import KINDS
from trellis.packs.models import InstalledPack, PackObject
from trellis.packs.plan import MISSING, Plan, Take, make_plan

#: what a decision (``--take``, ``?take=``) naming no object with a conflict is told
UNKNOWN_TAKE = "--take names no object with a conflict"


class PackRefused(TrellisError):
    """The pack was not applied (nothing changed); ``problems`` says every reason."""

    title = "The pack was not applied"

    def __init__(self, problems: list[Problem], plan: Plan | None = None) -> None:
        self.problems = problems
        self.plan = plan
        super().__init__("; ".join(str(p) for p in problems[:5]))


@dataclass
class Outcome:
    plan: Plan
    applied: bool
    #: what each change does to stored data, by object name (see trellis.packs.impact)
    impact: dict[str, list[str]] = field(default_factory=dict)
    installed_version: str | None = None
    previous_version: str | None = None
    #: how many sample users and records were added (a first install asked for them)
    samples: dict[str, int] = field(default_factory=lambda: {"users": 0, "records": 0})


class _DryRun(Exception):
    pass


def installed_pack(session: Session, name: str) -> InstalledPack | None:
    return session.scalar(select(InstalledPack).where(InstalledPack.name == name))


def plan_for(
    session: Session, content: Any, take: Mapping[str, Take] | None = None
) -> tuple[Plan, InstalledPack | None]:
    """The plan of applying ``content`` (a :class:`~trellis.packs.content.PackContent`) here."""
    from trellis.packs.snapshot import snapshot

    installed = installed_pack(session, content.manifest.name)
    base = installed.base if installed is not None else None
    live = snapshot(session)
    return make_plan(base, content.objects, live, take, KINDS), installed


def apply_pack(
    runtime: Any,
    content: Any,
    *,
    take: Mapping[str, Take] | None = None,
    dry_run: bool = False,
    actor: Actor = SYSTEM,
    progress: Progress | None = None,
    samples: bool = False,
) -> Outcome:
    """Apply ``content`` in one transaction (rolled back for a dry run).

    Raises :class:`PackRefused` with every problem (open conflicts, refused changes) and
    changes nothing then. ``samples``: also load the pack's sample records (a first install
    only).
    """
    say = progress or (lambda _text: None)
    outcome: Outcome | None = None
    try:
        with runtime.transaction(read_only=False) as session:
            plan, installed = plan_for(session, content, take)
            outcome = Outcome(
                plan,
                applied=False,
                previous_version=installed.version if installed is not None else None,
            )
            problems = _plan_problems(plan, installed, content)
            if problems:
                raise PackRefused(problems, plan)
            from trellis.packs.impact import impact_of

            outcome.impact = impact_of(runtime, session, plan)
            samples = samples and installed is None and bool(getattr(content, "samples", None))
            if samples:  # users first: a flow may name them as approvers
                from trellis.packs.samples import load_sample_users

                outcome.samples["users"] = load_sample_users(session, content, say)
            steps = Steps(runtime, session, actor, say)
            steps.run(plan)
            if steps.problems:
                raise PackRefused(steps.problems, plan)
            _record(session, content, installed, plan)
            if samples:
                from trellis.packs.samples import load_samples

                loaded = load_samples(runtime, session, content, actor=actor, progress=say)
                outcome.samples["users"] += loaded["users"]
                outcome.samples["records"] = loaded["records"]
            say(f"{content.manifest.name} {content.manifest.version} applied")
            outcome.applied = not dry_run
            outcome.installed_version = content.manifest.version
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    assert outcome is not None
    return outcome


def _plan_problems(plan: Plan, installed: InstalledPack | None, content: Any) -> list[Problem]:
    problems = [
        Problem(
            obj.name,
            conflict.path,
            f"changed by the pack ({_show(conflict.pack)}) and here ({_show(conflict.local)}) "
            f"since version {installed.version if installed else '(none)'} "
            f"({_show(conflict.base)}); decide with --take {obj.name}=pack|local",
        )
        for obj, conflict in plan.conflicts
    ]
    problems += [Problem(name, "", UNKNOWN_TAKE) for name in plan.unknown_takes]
    if installed is not None:
        from packaging.version import InvalidVersion, Version

        try:
            older = Version(content.manifest.version) < Version(installed.version)
        except InvalidVersion:
            older = False
        if older:
            problems.append(
                Problem(
                    f"pack:{content.manifest.name}",
                    "version",
                    f"{content.manifest.version} is older than the installed "
                    f"{installed.version}; a pack is not downgraded",
                )
            )
    return problems


def _show(value: Any) -> str:
    if value is MISSING:
        return "absent"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _record(session: Session, content: Any, installed: InstalledPack | None, plan: Plan) -> None:
    """The installed pack, its base (what this version said) and every object's pack."""
    manifest = content.manifest
    data = manifest.as_data()
    if installed is None:
        installed = InstalledPack(name=manifest.name, version=manifest.version)
        session.add(installed)
    installed.version = manifest.version
    installed.manifest = data
    installed.base = _plain(content.objects)
    session.flush()
    owned = {
        (o.kind, o.key): o
        for o in session.scalars(select(PackObject).where(PackObject.pack_id == installed.id))
    }
    for kind, objects in content.objects.items():
        for key in objects:
            row = owned.get((kind, key))
            if row is None:
                other = session.scalar(
                    select(PackObject).where(PackObject.kind == kind, PackObject.key == key)
                )
                row = other or PackObject(kind=kind, key=key)
                row.pack_id = installed.id
                session.add(row)
            row.archived = False
    for obj in plan.by_action("archive"):
        row = owned.get((obj.kind, obj.key))
        if row is not None:
            row.archived = True
    session.flush()


def _plain(objects: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {kind: {key: doc for key, doc in docs.items()} for kind, docs in objects.items()}
