"""The app's list says "1,000+ records" when the count stopped at its cap, pages on past it,
and the CSV export reads every record (page after page by keyset) whatever the cap."""

from __future__ import annotations

import csv
import io

from trellis.records import service as record_service
from trellis.web import records as web_records


def test_a_capped_count_shows_as_a_lower_bound_and_paging_goes_on(
    factory, boss, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text", "amount": "integer"}, title="{name}")
    for i in range(60):
        factory.record("deal", name=f"Deal {i:02d}", amount=i % 7)
    exact = boss.get("/records/deal").get_data(as_text=True)
    assert "60 records" in exact
    monkeypatch.setattr(record_service, "COUNT_CAP", 30)
    page = boss.get("/records/deal?sort=name").get_data(as_text=True)
    assert "30+ records" in page and "60 records" not in page
    assert "page=2" in page  # the next page is offered
    second = boss.get("/records/deal?sort=name&page=2").get_data(as_text=True)
    assert "Deal 29" in second
    monkeypatch.setattr(record_service, "COUNT_CAP", 3)
    monkeypatch.setattr(web_records, "EXPORT_PAGE", 8)
    exported = boss.get("/records/deal/export.csv?sort=-amount&amount__gte=1")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))[1:]
    wanted = sorted(
        (i for i in range(60) if i % 7 >= 1), key=lambda i: (i % 7, i + 1), reverse=True
    )
    assert [r[1] for r in rows] == [f"Deal {i:02d}" for i in wanted]
