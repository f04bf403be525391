"""The Packs page: installed packs (version, objects edited here since), and a pack applied in
two steps - upload a zip (or pick a pack shipped with Trellis), read its plan (what is
created, changed, archived, the conflicts with a pack|local choice per object, what each
change does to stored data, what would stop it), then apply it. Nothing is applied before
the administrator confirms; a broken pack lists every problem by file, line and JSON path.

Between the two steps the zip waits in the instance folder (``pack-uploads/<token>.zip``,
the token random and in the form), so the plan applied is the plan read; it is removed once
applied (or after a day). The work is :mod:`trellis.packs.review`, as for ``/api/packs``.
"""

from __future__ import annotations

import contextlib
import io
import re
import secrets
import time
import zipfile
from pathlib import Path
from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose

from trellis.admin.base import AdminView
from trellis.errors import TrellisError
from trellis.limits import accepts_upload
from trellis.packs.apply import PackRefused
from trellis.packs.content import MANIFEST_FILE
from trellis.packs.problems import PackInvalid, Problem
from trellis.packs.review import install, installed_packs, plan_data, review

TOKEN = re.compile(r"^[0-9a-f]{32}$")
UPLOADS = "pack-uploads"
#: an upload whose plan was read but never applied is removed after this long
KEEP_SECONDS = 24 * 3600


def shipped_packs() -> dict[str, Path]:
    """The packs that ship with Trellis (``config/<name>/pack.yaml``), by folder name."""
    from trellis.demo import shipped_folder

    try:
        root = shipped_folder()
    except FileNotFoundError:
        return {}
    if not root.is_dir():
        return {}
    return {
        folder.name: folder
        for folder in sorted(root.iterdir())
        if folder.is_dir() and (folder / MANIFEST_FILE).is_file()
    }


def zip_folder(folder: Path) -> bytes:
    """A pack folder as zip bytes (as an administrator would upload it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not any(p.startswith(".") for p in path.parts):
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


class PacksView(AdminView):
    def _uploads(self) -> Path:
        """The folder of uploads waiting for their apply (those left a day are removed)."""
        folder = Path(self.runtime.settings["INSTANCE_PATH"]) / UPLOADS
        folder.mkdir(parents=True, exist_ok=True)
        stale = time.time() - KEEP_SECONDS
        for path in folder.glob("*.zip"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < stale:
                    path.unlink()
        return folder

    def _stored(self, token: str) -> bytes | None:
        if not TOKEN.match(token or ""):
            return None
        path = self._uploads() / f"{token}.zip"
        return path.read_bytes() if path.is_file() else None

    def _index(self, problems: list[Problem] | None = None, message: str = "") -> Any:
        with self.reading() as session:
            packs = installed_packs(session)
        status = 422 if problems or message else 200
        return self.render(
            "admin/trellis/packs.html",
            packs=packs,
            shipped=list(shipped_packs()),
            problems=problems or [],
            message=message,
        ), status

    @expose("/")
    def index(self) -> Any:
        return self._index()

    @expose("/review", methods=["POST"])
    @accepts_upload
    def review(self) -> Any:
        """Upload (or a shipped pack, or the stored zip again with decisions): the plan."""
        token = request.form.get("token") or ""
        raw = self._stored(token) if token else None
        if raw is None:
            token = ""
            upload = request.files.get("file")
            shipped = shipped_packs().get(request.form.get("shipped") or "")
            if upload is not None and upload.filename:
                try:
                    raw = upload.read()
                finally:  # a large upload is a temporary file: closed at once
                    upload.close()
            elif shipped is not None:
                raw = zip_folder(shipped)
            else:
                return self._index(message="Choose a pack's zip file or a shipped pack.")
            token = secrets.token_hex(16)
            (self._uploads() / f"{token}.zip").write_bytes(raw)
        take = _takes()
        try:
            result = review(self.runtime, raw, take, self.actor)
        except PackInvalid as invalid:
            self._forget(token)
            return self._index(invalid.problems, invalid.detail)
        except TrellisError as error:
            self._forget(token)
            return self._index(message=error.detail)
        plan = plan_data(
            result.content, result.plan, result.impact, result.problems, result.installed_version
        )
        return self.render("admin/trellis/pack_plan.html", plan=plan, token=token, take=take)

    @expose("/apply", methods=["POST"])
    def apply(self) -> Any:
        token = request.form.get("token") or ""
        raw = self._stored(token)
        if raw is None:
            flash("That upload is gone (applied already?); upload the pack again.", "warning")
            return redirect(url_for(".index"))
        take = _takes()
        try:
            content, outcome = install(self.runtime, raw, take, self.actor)
        except PackInvalid as invalid:
            self._forget(token)
            return self._index(invalid.problems, invalid.detail)
        except PackRefused as refused:
            result = review(self.runtime, raw, take, self.actor)
            plan = plan_data(
                result.content,
                result.plan,
                result.impact,
                result.problems or refused.problems,
                result.installed_version,
            )
            return self.render(
                "admin/trellis/pack_plan.html",
                plan=plan,
                token=token,
                take=take,
                refused=True,
            ), 422
        self._forget(token)
        plan = outcome.plan
        counts = ", ".join(
            f"{len(plan.by_action(a))} {word}"  # type: ignore[arg-type]
            for a, word in (("create", "created"), ("change", "changed"), ("archive", "archived"))
        )
        manifest = content.manifest
        flash(f"{manifest.title or manifest.name} {manifest.version} applied: {counts}.", "success")
        return redirect(url_for(".index"))

    def _forget(self, token: str) -> None:
        if TOKEN.match(token or ""):
            (self._uploads() / f"{token}.zip").unlink(missing_ok=True)


def _takes() -> dict[str, Any]:
    """The form's conflict decisions: ``take:<kind:key>`` = ``pack`` | ``local``."""
    return {
        name.removeprefix("take:"): value
        for name, value in request.form.items()
        if name.startswith("take:") and value in ("pack", "local")
    }


def pack_value(value: Any) -> str:
    """A document's value in a plan, short: a keyed list by its keys, others as JSON."""
    import json

    if value is None:
        return "—"
    if isinstance(value, list) and value and all(isinstance(v, dict) and "key" in v for v in value):
        return ", ".join(str(v["key"]) for v in value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."
