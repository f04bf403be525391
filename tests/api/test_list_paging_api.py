"""``GET /api/records/<entity>``: the total counted up to a cap (a flag says when it is a lower
bound, ``?total=exact`` counts all), and keyset paging through ``next`` / ``?after=``."""

from __future__ import annotations

from api_helpers import assert_problem

from trellis.records import service as record_service


def test_the_total_is_a_flagged_lower_bound_unless_asked_exactly(
    factory, admin, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(record_service, "COUNT_CAP", 4)
    factory.entity("item", {"name": "text", "score": "integer"})
    for i in range(9):
        factory.record("item", name=f"n{i}", score=i % 3)
    body = admin.ok("GET", "/api/records/item?per_page=2")
    assert (body["total"], body["total_is_lower_bound"]) == (4, True)
    body = admin.ok("GET", "/api/records/item?per_page=2&total=exact")
    assert (body["total"], body["total_is_lower_bound"]) == (9, False)
    body = admin.ok("GET", "/api/records/item?score=1")
    assert (body["total"], body["total_is_lower_bound"], body["next"]) == (3, False, None)
    assert_problem(admin.get("/api/records/item?total=all"), 400, "total")


def test_next_walks_every_record_once_with_the_same_filters_and_sort(factory, admin) -> None:  # type: ignore[no-untyped-def]
    factory.entity("item", {"name": "text", "score": "integer"})
    for i in range(11):
        factory.record("item", name=f"n{i}", score=None if i % 4 == 0 else i % 3)
    whole = admin.ok("GET", "/api/records/item?sort=-score&score__ne=2&per_page=100")["items"]
    seen, address = [], "/api/records/item?sort=-score&score__ne=2&per_page=3"
    while address:
        body = admin.ok("GET", address)
        seen += body["items"]
        address = body["next"]
        if address:
            assert "after=" in address and "sort=-score" in address and "score__ne=2" in address
            assert body["next_cursor"] in address
    assert [r["id"] for r in seen] == [r["id"] for r in whole]
    assert len(seen) == len({r["id"] for r in seen}) == 9  # the empty ones too
    assert_problem(admin.get("/api/records/item?sort=score&after=xyz"), 400, "after")
