"""The CSV export quotes every cell and guards every cell a spreadsheet would run as a formula
(issue 9 item 15), and what it writes still imports as it is."""

from __future__ import annotations

import csv
import io

NASTY = ["\t=1+1", "\r=cmd|' /C calc'!A0", "a;b;c", "plain"]


def test_every_cell_is_quoted_and_formulas_behind_a_tab_or_return_are_guarded(
    factory, boss
) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text", "notes": "long_text"})
    factory.meta("update_field", "deal", "notes", label="=Notes")
    for value in NASTY:
        factory.record("deal", name=value.replace("\r", "").replace("\t", ""), notes=value)
    text = boss.get("/records/deal/export.csv").get_data(as_text=True)
    assert text.startswith('"id","title","Name","\'=Notes"\r\n')
    assert ',"a;b;c","a;b;c"\r\n' in text and ',"plain","plain"\r\n' in text
    notes = [row[3] for row in csv.reader(io.StringIO(text))][1:]
    assert sorted(notes) == sorted(["'\t=1+1", "'\r=cmd|' /C calc'!A0", "a;b;c", "plain"])
    checked = boss.post(
        "/records/deal/import",
        data={"file": (io.BytesIO(text.encode()), "deals.csv"), "action": "import"},
        content_type="multipart/form-data",
    )
    assert checked.status_code == 302, checked.get_data(as_text=True)
    imported = factory.records("list", "deal", per_page=50).items
    assert sorted(r.values["notes"] for r in imported) == sorted(NASTY * 2)
