"""What the ``trellis pack`` commands (and later the API) call on the read side: validate a
pack against this installation, export the live configuration, print the schema."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from trellis.packs.content import Manifest
from trellis.packs.export import pack_files, write_files
from trellis.packs.export import select as select_documents
from trellis.packs.loading import validate_pack
from trellis.packs.problems import Problem
from trellis.packs.snapshot import snapshot


def installation_users(session: Session) -> set[str]:
    from trellis.accounts import User

    return set(session.scalars(select(User.username)))


def validate(path: Path | str | bytes, session: Session | None = None) -> list[Problem]:
    """Every problem of the pack at ``path``; with a ``session``, what it needs may come
    from this installation (entity types, lists, roles, users, the packs it requires)."""
    if session is None:
        return validate_pack(path)
    return validate_pack(
        path, snapshot(session), installation_users(session), installed_packs(session)
    )


def installed_packs(session: Session) -> dict[str, str]:
    """The packs installed here: name -> version."""
    from trellis.packs.models import InstalledPack

    return {
        name: version
        for name, version in session.execute(select(InstalledPack.name, InstalledPack.version))
    }


def export(
    session: Session,
    folder: Path | str,
    manifest: Manifest,
    only: Iterable[str] | None = None,
) -> dict[str, bytes]:
    """Write the live configuration (or the objects ``only`` names) as a pack into
    ``folder``; returns the files written."""
    documents = snapshot(session)
    if only:
        documents = select_documents(documents, only)
    files = pack_files(manifest, documents)
    write_files(Path(folder), files)
    return files


def default_trellis_range() -> str:
    """``>=<major>.<minor>`` of the running Trellis."""
    from trellis.packs.references import trellis_version

    parts = (trellis_version() or "0.1").split(".")
    return ">=" + ".".join(parts[:2])
