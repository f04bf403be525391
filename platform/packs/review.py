"""An uploaded pack, reviewed before it is applied: what the API (``/api/packs``) and the
admin's Packs page share.

An upload is a zip's bytes. :func:`check_zip` refuses what is not a pack before anything is
unpacked: not a zip, more than :data:`MAX_FILES` entries, more than :data:`MAX_UNPACKED`
bytes once unpacked (as the entries declare; :mod:`zipfile` never reads past a declared
size), an entry that unpacks to more than :data:`MAX_RATIO` times its packed size (a zip
bomb), and a path that leaves the pack's folder (absolute, ``..``, a drive or a backslash).
Then the pack is loaded (:func:`trellis.packs.loading.load_pack`, against this installation
for what it names from it), and :func:`review` makes its plan with the data impact and, when
no conflict is open, a dry run of the apply (so what the services would refuse is listed
too). :func:`install` applies it. Nothing is applied by a review.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.accounts import SYSTEM, Actor
from trellis.packs.apply import Outcome, PackRefused, apply_pack, plan_for
from trellis.packs.apply_steps import Problem as ApplyProblem
from trellis.packs.content import PackContent
from trellis.packs.models import InstalledPack
from trellis.packs.plan import Plan, Take, edited_locally
from trellis.packs.problems import PackInvalid, Problem

#: a pack is configuration: these bound what an upload may unpack to
MAX_FILES = 2_000
MAX_UNPACKED = 32 * 1024 * 1024
#: an entry packed smaller than 1/MAX_RATIO of its size (past RATIO_FLOOR bytes) is a bomb
MAX_RATIO = 100
RATIO_FLOOR = 1024 * 1024
ZIP = "(zip)"


def _refuse(message: str, name: str = ZIP) -> PackInvalid:
    return PackInvalid([Problem(name, None, "$", message)])


def check_zip(raw: bytes) -> None:
    """Refuse an upload that is not a safe zip of a pack (:class:`PackInvalid`)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise _refuse("Not a zip file: upload the pack's folder as a .zip.") from None
    if len(entries) > MAX_FILES:
        raise _refuse(f"{len(entries)} files: a pack has at most {MAX_FILES}.")
    total = sum(i.file_size for i in entries)
    if total > MAX_UNPACKED:
        raise _refuse(
            f"Unpacks to {total // (1024 * 1024)} MB: a pack unpacks to at most "
            f"{MAX_UNPACKED // (1024 * 1024)} MB."
        )
    for info in entries:
        name = info.filename
        path = PurePosixPath(name)
        if (
            "\\" in name
            or "\x00" in name
            or path.is_absolute()
            or ".." in path.parts
            or (path.parts and ":" in path.parts[0])
        ):
            raise _refuse("The path leaves the pack's folder; nothing was unpacked.", name)
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _refuse(
                f"Unpacks to {info.file_size} bytes from {info.compress_size}: "
                "refused as a zip bomb.",
                name,
            )


def load_upload(session: Session, raw: bytes) -> PackContent:
    """The pack in the zip ``raw``, checked in full against this installation."""
    from trellis.packs.loading import load_pack
    from trellis.packs.service import installation_users
    from trellis.packs.snapshot import snapshot

    check_zip(raw)
    try:
        return load_pack(raw, snapshot(session), installation_users(session))
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        # an entry that does not unpack as it says (bad CRC, unknown compression)
        raise _refuse(f"The zip is damaged: {exc}.") from None


@dataclass
class Review:
    """What applying an uploaded pack would do, and whether it can be applied now."""

    content: PackContent
    plan: Plan
    impact: dict[str, list[str]] = field(default_factory=dict)
    #: what stops the apply (open conflicts, changes the services refuse)
    problems: list[ApplyProblem] = field(default_factory=list)
    installed_version: str | None = None

    @property
    def applicable(self) -> bool:
        return not self.problems


def review(
    runtime: Any, raw: bytes, take: Mapping[str, Take] | None = None, actor: Actor = SYSTEM
) -> Review:
    """Load the zip ``raw`` and plan it here; a dry run when no conflict is open. Changes
    nothing. :class:`PackInvalid` when the pack itself is broken."""
    from trellis.packs.impact import impact_of

    with runtime.transaction(read_only=True) as session:
        content = load_upload(session, raw)
        plan, installed = plan_for(session, content, take)
        impact = impact_of(runtime, session, plan)
        version = installed.version if installed is not None else None
    result = Review(content, plan, impact, installed_version=version)
    try:
        outcome = apply_pack(runtime, content, take=take, dry_run=True, actor=actor)
    except PackRefused as refused:  # open conflicts, or changes the services refuse
        result.problems = refused.problems
    else:
        result.impact = outcome.impact or impact
    return result


def install(
    runtime: Any,
    raw: bytes,
    take: Mapping[str, Take] | None = None,
    actor: Actor = SYSTEM,
) -> tuple[PackContent, Outcome]:
    """Load the zip ``raw`` and apply it in one transaction (:class:`PackRefused` with every
    problem, nothing changed; :class:`PackInvalid` when the pack is broken)."""
    with runtime.transaction(read_only=True) as session:
        content = load_upload(session, raw)
    return content, apply_pack(runtime, content, take=take, actor=actor)


def parse_takes(values: list[str]) -> dict[str, Take]:
    """``["entity:deal=pack", "lead=local"]`` -> decisions by object name (or key).
    :class:`~trellis.errors.BadRequest` names a malformed one."""
    from trellis.errors import BadRequest

    takes: dict[str, Take] = {}
    bad = []
    for value in values:
        for part in value.split(","):
            if not part.strip():
                continue
            name, _, side = part.strip().rpartition("=")
            if not name or side not in ("pack", "local"):
                bad.append(part)
                continue
            takes[name] = side  # type: ignore[assignment]
    if bad:
        raise BadRequest(
            "Decide a conflict as OBJECT=pack or OBJECT=local (OBJECT: kind:key or key).",
            {"take": [f"{b!r}: use OBJECT=pack or OBJECT=local." for b in bad]},
        )
    return takes


# -- shapes for the API and the admin page ---------------------------------------------


def plan_data(
    content: PackContent,
    plan: Plan,
    impact: Mapping[str, list[str]],
    problems: list[ApplyProblem],
    installed_version: str | None,
) -> dict[str, Any]:
    """The plan as plain data: per object its action, changes by property, conflicts (with
    the decision taken, if any), properties kept from here, and data impact."""
    objects = []
    for obj in plan.objects:
        if obj.action == "unchanged" and not obj.conflicts:
            continue
        objects.append(
            {
                **obj.as_dict(),
                "name": obj.name,
                "impact": list(impact.get(obj.name, [])),
            }
        )
    manifest = content.manifest
    return {
        "pack": {
            "name": manifest.name,
            "version": manifest.version,
            "title": manifest.title,
            "description": manifest.description,
        },
        "installed_version": installed_version,
        "objects": objects,
        "counts": {
            action: len(plan.by_action(action))  # type: ignore[arg-type]
            for action in ("create", "change", "archive", "unchanged")
        },
        "conflicts": len(plan.conflicts),
        "applicable": not problems,
        "problems": [p.as_dict() for p in problems],
    }


def installed_packs(session: Session) -> list[dict[str, Any]]:
    """Installed packs with their versions and the objects edited here since."""
    from trellis.packs.snapshot import snapshot

    packs = session.scalars(select(InstalledPack).order_by(InstalledPack.name)).all()
    live = snapshot(session) if packs else {}
    out = []
    for pack in packs:
        edited = edited_locally(pack.base or {}, live)
        out.append(
            {
                "name": pack.name,
                "version": pack.version,
                "title": (pack.manifest or {}).get("title", ""),
                "description": (pack.manifest or {}).get("description", ""),
                "installed_at": pack.installed_at,
                "updated_at": pack.updated_at,
                "objects": sum(len(v) for v in (pack.base or {}).values()),
                "edited": [
                    {"object": name, "paths": [p for p in paths if p]}
                    for name, paths in sorted(edited.items())
                ],
            }
        )
    return out
