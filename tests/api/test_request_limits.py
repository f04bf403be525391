"""Request bodies have a size limit and problems a length limit (issue 9 item 9): a body past
``MAX_CONTENT_LENGTH`` is a 413 before anything reads it, CSV imports may still send 20 MB,
and a problem lists at most ``MAX_LISTED`` entries per mapping, saying how many it left out."""

from __future__ import annotations

import json
import time

from trellis.api.problems import MAX_LISTED


def test_a_body_past_the_limit_is_refused_unread(client, admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text"})
    huge = b'{"username": "' + b"x" * (2 * 1024 * 1024) + b'", "password": "p"}'
    response = client.post("/api/auth/token", data=huge, content_type="application/json")
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    created = admin.raw("POST", "/api/records/deal", huge, "application/json")
    assert created.status_code == 413
    assert factory.records("list", "deal").total == 0


def test_imports_may_still_send_twenty_megabytes(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"notes": "long_text"})
    rows = "notes\n" + "".join(f"deal {i} {'x' * 2000}\n" for i in range(1200))  # 2.4 MB
    assert len(rows) > 2 * 1024 * 1024
    checked = admin.raw("POST", "/api/records/deal/import?dry_run=true", rows, "text/csv")
    assert checked.status_code == 200, checked.get_data(as_text=True)[:500]
    assert checked.json["valid"] == 1200
    form = (
        '--b0\r\nContent-Disposition: form-data; name="file"; filename="deals.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n{rows}\r\n--b0--\r\n"
    )
    uploaded = admin.raw(
        "POST", "/api/records/deal/import?dry_run=true", form, "multipart/form-data; boundary=b0"
    )
    assert uploaded.status_code == 200 and uploaded.json["valid"] == 1200
    too_big = admin.raw(
        "POST", "/api/records/deal/import", "notes\n" + "x" * (21 << 20), "text/csv"
    )
    assert too_big.status_code in (400, 413)


def test_a_problem_lists_a_bounded_number_of_errors_and_counts_the_rest(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text"})
    body = {f"k{i}": 1 for i in range(40000)}  # just under the 1 MiB limit
    raw = json.dumps(body)
    assert len(raw) < 1024 * 1024
    started = time.monotonic()
    response = admin.raw("POST", "/api/records/deal", raw, "application/json")
    assert time.monotonic() - started < 10  # a minute once, with no limit on the body
    assert response.status_code in (400, 422)
    problem = response.json
    assert len(problem["errors"]) == MAX_LISTED
    assert problem["not_listed"] == 40000 - MAX_LISTED
    assert len(problem["detail"]) < 500
    assert len(response.get_data()) < 50_000


def test_an_import_header_of_many_columns_gives_a_short_answer(admin, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text"})
    header = ",".join(["name", *(f"c{i}" for i in range(50000)), *(["id"] * 50000)])
    response = admin.raw("POST", "/api/records/deal/import", header + "\n", "text/csv")
    assert response.status_code == 422
    assert len(response.get_data()) < 100_000
    assert response.json["not_listed"] > 0
