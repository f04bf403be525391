"""A small pack (tickets: an option list and an entity type) as zip bytes, for the tests of
the API, the admin's Packs page and the browser: version 1, and a version 2 that renames the
subject and adds a due date."""

from __future__ import annotations

import io
import zipfile

MANIFEST = "name: tickets\nversion: {version}\ntitle: Tickets\ntrellis: '>=0.1'\n"
SEVERITY = """\
key: severity
label: Severity
options:
  - {key: low, label: Low}
  - {key: high, label: High}
"""
TICKET = """\
key: ticket
label: Ticket
fields:
  - {key: subject, label: Subject, type: text, required: true}
  - {key: severity, label: Severity, type: list, settings: {list: severity}}
"""
TICKET_V2 = """\
key: ticket
label: Ticket
fields:
  - {key: subject, label: Summary, type: text, required: true}
  - {key: severity, label: Severity, type: list, settings: {list: severity}}
  - {key: due, label: Due, type: date}
"""


def zip_of(files: dict[str, str | bytes], folder: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(folder + name, data)
    return buffer.getvalue()


def tickets_files(version: str = "1.0.0", ticket: str = TICKET) -> dict[str, str]:
    return {
        "pack.yaml": MANIFEST.format(version=version),
        "lists/severity.yaml": SEVERITY,
        "entities/ticket.yaml": ticket,
    }


def tickets_pack(version: str = "1.0.0", ticket: str = TICKET) -> bytes:
    """The pack's folder zipped (with the folder's name inside, as zipping a folder does)."""
    return zip_of(tickets_files(version, ticket), folder=f"tickets-{version}/")
