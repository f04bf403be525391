"""The admin's Packs page (issue 14): upload a zip (or pick a shipped pack), read the plan,
apply it only when confirmed; an upgrade's conflict is decided per object (pack or ours); a
broken pack lists every problem by file, line and JSON path; installed packs show what was
edited here since."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from pack_zips import TICKET, TICKET_V2, tickets_files, tickets_pack, zip_of
from werkzeug.test import EnvironBuilder

from trellis.metamodel.models import EntityType


def upload(admin, data: bytes, **fields: str):  # type: ignore[no-untyped-def]
    return admin.post("/admin/packs/review", file=(io.BytesIO(data), "tickets.zip"), **fields)


def token_of(html: str) -> str:
    return re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)


def ticket_fields(runtime) -> dict[str, str] | None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        row = session.query(EntityType).filter_by(key="ticket").one_or_none()
        if row is None:
            return None
        return {f.key: f.label for f in meta.entity_row("ticket").fields if not f.archived}


def test_upload_shows_the_plan_and_only_the_confirmed_apply_applies(admin, runtime) -> None:  # type: ignore[no-untyped-def]
    page = admin.get("/admin/packs/")
    assert page.status_code == 200 and "No packs are installed." in page.get_data(as_text=True)
    plan = upload(admin, tickets_pack())
    html = plan.get_data(as_text=True)
    assert plan.status_code == 200, html
    assert 'data-object="entity:ticket" data-action="create"' in html
    assert 'data-object="list:severity" data-action="create"' in html
    assert "subject, severity" in html  # the new fields by key
    assert "A first install of" in html
    assert ticket_fields(runtime) is None  # nothing applied by reading the plan

    done = admin.post("/admin/packs/apply", token=token_of(html))
    assert done.status_code == 302
    assert ticket_fields(runtime) == {"subject": "Subject", "severity": "Severity"}
    index = admin.get("/admin/packs/").get_data(as_text=True)
    assert "Tickets 1.0.0 applied: 2 created, 0 changed, 0 archived." in index
    assert 'data-pack="tickets"' in index and "1.0.0" in index
    # the upload is gone once applied: a second apply of the same token applies nothing
    again = admin.post("/admin/packs/apply", token=token_of(html))
    assert again.status_code == 302
    assert "upload the pack again" in admin.get("/admin/packs/").get_data(as_text=True)


def test_an_upgrade_conflict_is_decided_per_object_before_it_applies(admin, runtime) -> None:  # type: ignore[no-untyped-def]
    html = upload(admin, tickets_pack()).get_data(as_text=True)
    assert admin.post("/admin/packs/apply", token=token_of(html)).status_code == 302
    with runtime.transaction() as session:
        runtime.metamodel(session).update_field("ticket", "subject", label="Topic")
    index = admin.get("/admin/packs/").get_data(as_text=True)
    assert "entity:ticket</code>: fields.subject.label" in index  # edited here since

    plan = upload(admin, tickets_pack("2.0.0", TICKET_V2)).get_data(as_text=True)
    assert "An upgrade of <code>tickets</code> from version 1.0.0." in plan
    assert 'data-conflict="fields.subject.label"' in plan
    assert 'name="take:entity:ticket" value="pack"' in plan
    assert 'name="take:entity:ticket" value="local"' in plan
    assert "Applying now would be refused" in plan
    token = token_of(plan)

    refused = admin.post("/admin/packs/apply", token=token)  # no side chosen
    assert refused.status_code == 422
    assert "The pack was not applied; nothing changed." in refused.get_data(as_text=True)
    assert ticket_fields(runtime) == {"subject": "Topic", "severity": "Severity"}

    done = admin.post("/admin/packs/apply", token=token, **{"take:entity:ticket": "local"})
    assert done.status_code == 302
    assert ticket_fields(runtime) == {"subject": "Topic", "severity": "Severity", "due": "Due"}
    index = admin.get("/admin/packs/").get_data(as_text=True)
    assert "Tickets 2.0.0 applied: 0 created, 1 changed, 0 archived." in index


def test_a_broken_pack_lists_every_problem_and_applies_nothing(admin, runtime) -> None:  # type: ignore[no-untyped-def]
    files = tickets_files(ticket=TICKET.replace("settings: {list: severity}", "settngs: 1"))
    files["lists/severity.yaml"] = "key: severity\nlabel: [not, text]\n"
    page = upload(admin, zip_of(files))
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert 'id="pack-problems"' in html
    assert (
        "<code>entities/ticket.yaml</code></td><td>5</td><td><code>$.fields[1].settngs</code>"
        in html
    )
    assert "<code>lists/severity.yaml</code>" in html and "<code>$.label</code>" in html
    assert ticket_fields(runtime) is None
    not_a_zip = upload(admin, b"plain text")
    assert not_a_zip.status_code == 422 and "Not a zip file" in not_a_zip.get_data(as_text=True)
    nothing = admin.post("/admin/packs/review")
    assert nothing.status_code == 422
    assert "Choose a pack" in nothing.get_data(as_text=True)


def test_a_shipped_pack_is_picked_by_name(admin, runtime, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "tickets"
    for name, text in tickets_files().items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    monkeypatch.setattr("trellis.admin.packs.shipped_packs", lambda: {"tickets": folder})
    assert '<option value="tickets">tickets</option>' in admin.get("/admin/packs/").get_data(
        as_text=True
    )
    html = admin.post("/admin/packs/review", shipped="tickets").get_data(as_text=True)
    assert 'data-object="entity:ticket" data-action="create"' in html
    assert admin.post("/admin/packs/apply", token=token_of(html)).status_code == 302
    assert ticket_fields(runtime) is not None


def test_forms_need_the_csrf_token_and_an_administrator(admin, client, signed_in) -> None:  # type: ignore[no-untyped-def]
    forged = client.post(
        "/admin/packs/review",
        data={"file": (io.BytesIO(tickets_pack()), "t.zip")},
        content_type="multipart/form-data",
    )
    assert forged.status_code == 400
    clerk = signed_in("clerk", ["user"])
    assert clerk.get("/admin/packs/").status_code == 403
    assert upload(clerk, tickets_pack()).status_code == 403


@pytest.mark.parametrize("token", ["../../etc/passwd", "0" * 32])
def test_an_unknown_or_forged_token_applies_nothing(admin, runtime, token: str) -> None:  # type: ignore[no-untyped-def]
    assert admin.post("/admin/packs/apply", token=token).status_code == 302
    assert ticket_fields(runtime) is None


def test_an_upload_may_be_larger_than_a_form(admin, runtime) -> None:  # type: ignore[no-untyped-def]
    """The page takes uploads up to MAX_UPLOAD_LENGTH, not the 1 MiB of an ordinary form (a
    pack's files are read; other files in the zip, here a large README, are ignored)."""
    files: dict[str, str | bytes] = dict(tickets_files())
    files["README.md"] = os.urandom(1_500_000)
    # the body built by hand: the test client leaves a large multipart body's file open
    environ = EnvironBuilder(
        path="/admin/packs/review",
        method="POST",
        data={"csrf_token": admin.token, "file": (io.BytesIO(zip_of(files)), "big.zip")},
    ).get_environ()
    try:
        page = admin.client.open(environ)
    finally:
        environ["wsgi.input"].close()
    assert page.status_code == 200, page.status_code
    assert 'data-object="entity:ticket" data-action="create"' in page.get_data(as_text=True)
