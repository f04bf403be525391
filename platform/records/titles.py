"""Finding records by the text a person typed for them: a title, ``#12`` or a suggestion's
``Title (#12)``. Forms and CSV import resolve references with it, so a name typed without
picking a suggestion means the record of exactly that title, or a clear error.
"""

from __future__ import annotations

import re

from trellis.patterns import fixed
from trellis.records.service import Record, RecordService

#: how a suggestion of a reference input reads: ``Ann Tamm (#1)`` (RE2: Python's ``re`` took
#: quadratic time on a long run of spaces, holding every thread)
SUGGESTION = fixed(r"^(?P<title>.*?)\s*\(#(?P<id>\d{1,18})\)$")
CANDIDATES = 200


def _plain(text: str) -> str:
    return " ".join(text.split()).casefold()


def records_titled(service: RecordService, entity: str, text: str) -> list[int]:
    """Ids of the records of ``entity`` the caller may read whose title is ``text``
    (ignoring case and repeated spaces). ``#12`` and ``Title (#12)`` name record 12, if the
    caller may read it."""
    text = text.strip()
    by_id = SUGGESTION.match(text) or re.fullmatch(r"#(?P<id>\d{1,18})", text)
    if by_id:
        record_id = int(by_id.group("id"))
        return [record_id] if service.titles(entity, [record_id]) else []
    wanted = _plain(text)
    if not wanted:
        return []
    # a title is made of several fields ("{first_name} {last_name}"): the records with each
    # word in one of them, then those whose whole title matches
    page = service.list(entity, title_text=wanted, per_page=CANDIDATES)
    return sorted(r.id for r in page.items if _plain(r.title) == wanted)


def title_suggestions(service: RecordService, entity: str, text: str, limit: int) -> list[Record]:
    """The records of ``entity`` the caller may read that ``text`` may mean, as typed into a
    reference input so far: the text in a searchable field, or each of its words in one of
    the title's fields ("Ann Tamm")."""
    text = text.strip()
    return service.list(entity, title_text=text or None, per_page=limit).items
