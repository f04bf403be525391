"""Numbers are held to what their column holds before they reach the database, so SQLite and
PostgreSQL answer alike: versions and user ids are INTEGER (32-bit on PostgreSQL), record ids
BIGINT. A filter beyond its column is a 400 naming the parameter, a body value a 422 naming
the field, and the document states each bound (``maximum``)."""

from __future__ import annotations

import pytest
from api_helpers import Caller, assert_problem
from configured_fixtures import configured
from sqlalchemy.exc import DataError

from trellis.accounts import create_user

INT32 = 2**31 - 1
INT64 = 2**63 - 1


@configured
def task_rows(factory, runtime, client, admin_headers):  # type: ignore[no-untyped-def]
    factory.entity(
        "task", {"name": "text", "assigned_to": "user"}, pipelines={"work": ["open", "done"]}
    )
    with runtime.transaction() as session:
        ann = create_user(session, "ann", "ann-password", ["user"]).id
    admin = Caller(client, admin_headers)
    created = admin.ok("POST", "/api/records/task", {"name": "First", "assigned_to": ann}, 201)
    return {"ann": ann, "record": created}


@pytest.fixture
def tasks(task_rows, admin):  # type: ignore[no-untyped-def]
    return {"admin": admin, **task_rows}


@pytest.mark.parametrize(
    ("parameter", "beyond"),
    [
        ("version", INT32 + 1),
        ("version__gte", 2**63 - 2),
        ("owner", INT32 + 1),
        ("created_by__in", f"1,{INT32 + 1}"),
        ("id__lt", INT64 + 1),
    ],
)
def test_a_filter_beyond_its_column_is_a_400_naming_it(tasks, parameter, beyond) -> None:  # type: ignore[no-untyped-def]
    response = tasks["admin"].get(f"/api/records/task?{parameter}={beyond}")
    body = assert_problem(response, 400, parameter.partition("__")[0])
    assert "up to" in str(body["errors"]) or "whole number" in str(body["errors"]).lower()


def test_a_filter_at_its_columns_bound_is_answered(tasks) -> None:  # type: ignore[no-untyped-def]
    admin = tasks["admin"]
    for query in (f"version__lte={INT32}", f"owner={INT32}", f"id__lt={INT64}"):
        response = admin.get(f"/api/records/task?{query}")
        assert response.status_code == 200, (query, response.json)
    assert admin.get(f"/api/records/task?owner={INT32}").json["items"] == []


def test_a_user_id_beyond_the_users_ids_is_a_422_naming_the_field(tasks) -> None:  # type: ignore[no-untyped-def]
    admin = tasks["admin"]
    for beyond in (INT32 + 1, 2**63 - 2):
        response = admin.post("/api/records/task", {"name": "T", "assigned_to": beyond})
        body = assert_problem(response, 422, "assigned_to")
        assert body["errors"]["assigned_to"] == [f"A user id is at most {INT32}."]
    # digits beyond a user id are a username (usernames may be all digits): no such user
    response = admin.post("/api/records/task", {"name": "T", "assigned_to": str(INT32 + 1)})
    body = assert_problem(response, 422, "assigned_to")
    assert body["errors"]["assigned_to"] == [f"No user '{INT32 + 1}'."]
    # in a filter, the same text finds nobody
    found = admin.get(f"/api/records/task?assigned_to={INT32 + 1}")
    assert found.status_code == 200 and found.json["items"] == []
    at_bound = admin.post("/api/records/task", {"name": "T", "assigned_to": INT32})
    assert_problem(at_bound, 422, "assigned_to")  # a valid id of no one
    assert at_bound.json["errors"]["assigned_to"] == [f"No user with id {INT32}."]


def test_a_version_beyond_its_column_is_a_422_naming_it(tasks) -> None:  # type: ignore[no-untyped-def]
    admin, record = tasks["admin"], tasks["record"]
    url = f"/api/records/task/{record['id']}"
    assert_problem(admin.patch(url, {"name": "X", "version": INT32 + 1}), 422, "version")
    moved = admin.post(f"{url}/stage", {"stage": "done", "version": INT32 + 1})
    assert_problem(moved, 422, "version")
    stale = admin.patch(url, {"name": "X", "version": INT32})  # within: merely stale
    assert stale.status_code == 409, stale.json


def test_the_document_states_the_bounds(tasks) -> None:  # type: ignore[no-untyped-def]
    document = tasks["admin"].ok("GET", "/api/openapi.json")
    listing = document["paths"]["/api/records/task"]["get"]["parameters"]
    params = {p["name"]: p["schema"] for p in listing}
    assert params["version"]["maximum"] == INT32
    assert params["owner"]["maximum"] == INT32
    assert params["created_by"]["maximum"] == INT32
    assert params["id"]["maximum"] == INT64
    schemas = document["components"]["schemas"]
    assert schemas["TaskPatch"]["properties"]["version"]["maximum"] == INT32
    assert schemas["TaskStageMove"]["properties"]["version"]["maximum"] == INT32
    user = schemas["TaskCreate"]["properties"]["assigned_to"]["anyOf"]
    assert {"type": "integer", "minimum": 1, "maximum": INT32} in user


def test_the_edge_still_answers_an_overflow_the_checks_missed() -> None:
    """The API's last line: a database's "out of range" that got past the checks is the
    caller's number, a 400, not a 500."""
    from trellis.api.problems import from_unexpected

    class Orig(Exception):
        pass

    error = DataError("SELECT 1", {}, Orig("integer out of range"))
    response = from_unexpected(error)
    assert response.status_code == 400


def test_an_if_match_beyond_any_version_is_merely_stale(tasks) -> None:  # type: ignore[no-untyped-def]
    """The header is no body property: a version no record has is a 409 (DELETE documents
    no 422)."""
    admin, record = tasks["admin"], tasks["record"]
    url = f"/api/records/task/{record['id']}"
    headers = {"If-Match": f'"{INT32 + 5}"'}
    assert admin.delete(url, headers=headers).status_code == 409
    assert admin.patch(url, {"name": "X"}, headers=headers).status_code == 409
