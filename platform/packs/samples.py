"""Loading a pack's samples: users, then records through the record service.

Samples are applied only when asked (``trellis init --demo``, a first install), never on an
upgrade. Users come first: a new one gets a fresh password, said once through ``progress``;
one that exists already gets the roles it lacks (its password stays). Records follow, each
entity type's after those of the types it refers to, in batches through
:meth:`RecordService.create_many` (validation, audit, stage history and events as for any
create, so a record entering a stage starts its flows). A row's ``_ref`` names it for
``"@name"`` values of later rows, ``_pipeline``/``_stage`` place it and ``_owner`` (a
username) owns it. Everything runs in the caller's transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.accounts import SYSTEM, Actor, Role, User, create_user
from trellis.packs.content import SAMPLE_META, USERS_SAMPLES, PackContent
from trellis.records.service import NewRecord, RecordService

Progress = Callable[[str], None]


def load_samples(
    runtime: Any,
    session: Session,
    content: PackContent,
    *,
    actor: Actor = SYSTEM,
    progress: Progress | None = None,
) -> dict[str, int]:
    """The samples of ``content``, written as ``actor`` in ``session``'s transaction
    (``runtime`` gives the record service); returns how many users and records were added."""
    say = progress or (lambda _text: None)
    records = runtime.records(session, actor)
    users = load_sample_users(session, content, say)
    owners = {u.username: u.id for u in session.scalars(select(User))}
    refs: dict[str, int] = {}
    count = 0
    for entity in _in_dependency_order(content):
        rows = content.samples[entity]
        count += _create_records(records, entity, rows, refs, owners)
    if count:
        say(f"{count} sample records")
    return {"users": users, "records": count}


def load_sample_users(
    session: Session, content: PackContent, progress: Progress | None = None
) -> int:
    """The sample users: the missing ones are created (each password said once), and each
    gets the roles it names that exist by now. Called before the configuration too (a flow
    may name them as approvers) and again after it (when the pack's roles exist); returns
    how many users were created."""
    say = progress or (lambda _text: None)
    rows = content.samples.get(USERS_SAMPLES) or []
    created = 0
    roles = {r.key: r for r in session.scalars(select(Role))}
    for row in rows:
        wanted = ["user", *[r for r in row.get("roles", []) if r != "user"]]
        user = session.scalar(select(User).where(User.username == row["username"]))
        if user is not None:
            for key in wanted:
                if key not in user.role_keys and key in roles:
                    user.roles.append(roles[key])
            continue
        password = secrets.token_urlsafe(12)
        create_user(
            session,
            row["username"],
            password,
            [key for key in wanted if key in roles],
            display_name=row.get("name", ""),
            email=row.get("email", ""),
        )
        created += 1
        shown = ", ".join(r for r in wanted if r != "user") or "user"
        say(f"user {row['username']} ({shown}) with the password {password}")
    session.flush()
    return created


def _in_dependency_order(content: PackContent) -> list[str]:
    """The entity types with samples, each after the ones its reference fields point at."""
    entities = sorted(e for e in content.samples if e != USERS_SAMPLES)
    docs = content.documents("entity")
    needs = {
        e: {
            f["settings"].get("target")
            for f in docs.get(e, {}).get("fields", [])
            if f["type"] == "reference"
        }
        & set(entities) - {e}
        for e in entities
    }
    ordered: list[str] = []
    while len(ordered) < len(entities):
        ready = [e for e in entities if e not in ordered and needs[e] <= set(ordered)]
        ordered.extend(ready or [e for e in entities if e not in ordered][:1])
    return ordered


def _create_records(
    records: RecordService,
    entity: str,
    rows: list[dict[str, Any]],
    refs: dict[str, int],
    owners: dict[str, int],
) -> int:
    """``rows`` in batches: a row naming an ``@ref`` of its own batch waits for that batch."""
    pending: list[dict[str, Any]] = []
    for row in rows:
        waiting = {r["_ref"] for r in pending if "_ref" in r}
        if any(isinstance(v, str) and v[1:] in waiting for v in row.values()):
            _write_batch(records, entity, pending, refs, owners)
            pending = []
        pending.append(row)
    _write_batch(records, entity, pending, refs, owners)
    return len(rows)


def _write_batch(
    records: RecordService,
    entity: str,
    rows: list[dict[str, Any]],
    refs: dict[str, int],
    owners: dict[str, int],
) -> None:
    if not rows:
        return
    items = [
        NewRecord(
            {k: _resolve(v, refs) for k, v in row.items() if k not in SAMPLE_META},
            row.get("_pipeline"),
            row.get("_stage"),
            owners.get(row["_owner"]) if "_owner" in row else None,
        )
        for row in rows
    ]
    for row, record in zip(rows, records.create_many(entity, items), strict=True):
        if "_ref" in row:
            refs[row["_ref"]] = record.id


def _resolve(value: Any, refs: dict[str, int]) -> Any:
    if isinstance(value, str) and value.startswith("@") and value[1:] in refs:
        return refs[value[1:]]
    return value
