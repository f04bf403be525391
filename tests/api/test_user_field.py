"""The ``user`` field type (issue 13, item 4): a record names a Trellis user ("assigned
to"). Written by id, ``{"id"}`` or username, read as ``{"id", "username", "name"}``,
filtered by id or username, imported and exported by username; an unknown user is a clear
field error, and a disabled user already in a field stays readable."""

from __future__ import annotations

import csv
import io
import re

import pytest
from api_helpers import Caller, assert_problem
from configured_fixtures import configured
from signed_in import sign_in
from sqlalchemy import update

from trellis.accounts import User, create_user
from trellis.errors import ValidationFailed


@configured
def task_rows(factory, runtime, client, admin_headers):  # type: ignore[no-untyped-def]
    """Tasks with an "assigned to" user field; users ann, bob and carl (carl is disabled
    after a task was assigned to him)."""
    admin = Caller(client, admin_headers)
    factory.entity(
        "task",
        {"name": "text", "assigned_to": "user"},
        title="{name}",
    )
    ids = {}
    with runtime.transaction() as session:
        for name, shown in (("ann", "Ann Tamm"), ("bob", ""), ("carl", "Carl Kask")):
            user = create_user(session, name, f"{name}-password", ["user"], display_name=shown)
            ids[name] = user.id
    held = admin.ok("POST", "/api/records/task", {"name": "Old", "assigned_to": "carl"}, 201)
    with runtime.transaction() as session:
        session.execute(update(User).where(User.username == "carl").values(is_active=False))
    return {"ids": ids, "held": held}


@pytest.fixture
def tasks(task_rows, admin):  # type: ignore[no-untyped-def]
    return {"admin": admin, **task_rows}


def test_a_user_field_is_written_by_id_or_username_and_read_with_the_name(tasks) -> None:  # type: ignore[no-untyped-def]
    admin, ids = tasks["admin"], tasks["ids"]
    ann = {"id": ids["ann"], "username": "ann", "name": "Ann Tamm"}
    for given in ("ann", ids["ann"], str(ids["ann"]), {"id": ids["ann"]}):
        created = admin.ok("POST", "/api/records/task", {"name": "T", "assigned_to": given}, 201)
        assert created["assigned_to"] == ann
    url = f"/api/records/task/{created['id']}"
    changed = admin.ok("PATCH", url, {"assigned_to": "bob", "version": 1})
    assert changed["assigned_to"] == {"id": ids["bob"], "username": "bob", "name": "bob"}
    assert admin.ok("GET", url)["assigned_to"]["username"] == "bob"
    cleared = admin.ok("PATCH", url, {"assigned_to": None, "version": 2})
    assert cleared["assigned_to"] is None
    spec = admin.ok("GET", "/api/openapi.json")["components"]["schemas"]
    assert "assigned_to" in spec["TaskRecord"]["properties"]
    assert "assigned_to" in spec["TaskCreate"]["properties"]
    history = admin.ok("GET", f"{url}/history")["items"]
    assert [(h["old"], h["new"]) for h in history if h["field"] == "assigned_to"] == [
        (None, ids["ann"]),
        (ids["ann"], ids["bob"]),
        (ids["bob"], None),
    ]


def test_unknown_and_disabled_users_are_field_errors(tasks, factory) -> None:  # type: ignore[no-untyped-def]
    admin, ids = tasks["admin"], tasks["ids"]
    for given, message in (
        ("nobody", "No user 'nobody'."),
        (999999, "No user with id 999999."),
        ("carl", "Carl Kask is disabled; choose someone else."),
        ([1], "Give a user's id or username."),
    ):
        body = assert_problem(
            admin.post("/api/records/task", {"name": "T", "assigned_to": given}), 422
        )
        assert body["errors"] == {"assigned_to": [message]}
    with pytest.raises(ValidationFailed) as caught:
        factory.records("create", "task", {"name": "T", "assigned_to": "nobody"})
    assert caught.value.errors == {"assigned_to": ["No user 'nobody'."]}
    # a default names its user by username too
    factory.meta("add_field", "task", "reviewer", "Reviewer", "user", default="ann")
    made = admin.ok("POST", "/api/records/task", {"name": "Defaulted"}, 201)
    assert made["reviewer"] == {"id": ids["ann"], "username": "ann", "name": "Ann Tamm"}
    factory.meta("update_field", "task", "reviewer", default="nobody")
    body = assert_problem(admin.post("/api/records/task", {"name": "T"}), 422)
    assert body["errors"] == {"reviewer": ["No user 'nobody'."]}
    # a disabled user already in a field stays readable, and other changes keep him
    held = tasks["held"]
    url = f"/api/records/task/{held['id']}"
    carl = {"id": ids["carl"], "username": "carl", "name": "Carl Kask"}
    assert admin.ok("GET", url)["assigned_to"] == carl
    renamed = admin.ok("PATCH", url, {"name": "Old, renamed", "version": held["version"]})
    assert renamed["assigned_to"] == carl


def test_a_user_field_filters_by_id_or_username(tasks) -> None:  # type: ignore[no-untyped-def]
    admin, ids = tasks["admin"], tasks["ids"]
    for name, who in (("A1", "ann"), ("A2", "ann"), ("B1", "bob"), ("N1", None)):
        admin.ok("POST", "/api/records/task", {"name": name, "assigned_to": who}, 201)

    def names(query: str) -> list[str]:
        items = admin.ok("GET", f"/api/records/task?sort=name&{query}")["items"]
        return [i["name"] for i in items]

    assert names("assigned_to=ann") == ["A1", "A2"]
    assert names(f"assigned_to={ids['ann']}") == ["A1", "A2"]
    assert names("assigned_to__in=bob,carl") == ["B1", "Old"]
    assert names(f"assigned_to__in={ids['bob']},ann") == ["A1", "A2", "B1"]
    assert names("assigned_to__ne=ann") == ["B1", "N1", "Old"]
    assert names("assigned_to__isnull=true") == ["N1"]
    assert names("assigned_to=nobody") == []
    assert_problem(admin.get("/api/records/task?assigned_to__gt=ann"), 400, "assigned_to")


def test_import_and_export_name_users_by_username(tasks, app, runtime) -> None:  # type: ignore[no-untyped-def]
    admin, ids = tasks["admin"], tasks["ids"]
    url = "/api/records/task/import"
    bad = admin.raw("POST", url, "name,assigned_to\nOne,ann\nTwo,nobody\n", "text/csv")
    assert bad.status_code == 422
    assert "No user 'nobody'." in str(bad.json)
    assert admin.ok("GET", "/api/records/task")["total"] == 1  # all or nothing
    done = admin.raw(
        "POST", url, f"name,assigned_to\nOne,ann\nTwo,#{ids['bob']}\nThree,\n", "text/csv"
    )
    assert done.status_code == 201, done.json
    assert [i["assigned_to"] and i["assigned_to"]["username"] for i in _sorted(admin)] == [
        "carl",
        "ann",
        None,
        "bob",
    ]
    # the app's export writes usernames, and the exported file imports as it is
    client = _signed_in_admin(runtime, app)
    exported = client.get("/records/task/export.csv?sort=name").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["Name"], r["Assigned To"]) for r in rows] == [
        ("Old", "carl"),
        ("One", "ann"),
        ("Three", ""),
        ("Two", "bob"),
    ]
    again = admin.raw(
        "POST",
        url + "?dry_run=true",
        "name,assigned_to\n" + "".join(f"{r['Name']},{r['Assigned To']}\n" for r in rows[1:]),
        "text/csv",
    )
    assert again.status_code == 200, again.json
    # the card and the form show names; the form offers active users (and the one held)
    card = client.get(f"/records/task/{tasks['held']['id']}").get_data(as_text=True)
    assert "Carl Kask" in card
    form = client.get(f"/records/task/{tasks['held']['id']}/edit").get_data(as_text=True)
    options = re.findall(r'<option value="(\d+)"( selected)?>([^<]*)</option>', form)
    offered = {int(i): (text, bool(chosen)) for i, chosen, text in options}
    assert offered[ids["carl"]] == ("Carl Kask (carl) (disabled)", True)
    assert offered[ids["ann"]] == ("Ann Tamm (ann)", False) and ids["bob"] in offered
    # the list shows names and filters by user (a select of users)
    listed = client.get("/records/task?assigned_to=carl").get_data(as_text=True)
    assert f'<option value="{ids["carl"]}" selected>Carl Kask</option>' in listed
    shown = set(re.findall(r'href="/records/task/(\d+)"', listed))
    assert shown == {str(tasks["held"]["id"])} and "Carl Kask" in listed
    fresh = client.get("/records/task/new").get_data(as_text=True)
    assert (
        f'<option value="{ids["carl"]}"' not in fresh and f'<option value="{ids["ann"]}"' in fresh
    )


def _sorted(admin):  # type: ignore[no-untyped-def]
    return admin.ok("GET", "/api/records/task?sort=name")["items"]


def test_a_user_field_in_the_title_shows_the_users_name(tasks, factory, runtime, app) -> None:  # type: ignore[no-untyped-def]
    """A title made of a user field reads the user's name (as the field itself does), not
    ``#<id>``: in the API's records, in a referrer's reference and on the web card."""
    admin, ids = tasks["admin"], tasks["ids"]
    factory.meta("update_entity", "task", title_template="{name} for {assigned_to}")
    factory.entity("note", {"about": ("reference", {"settings": {"target": "task"}})})
    created = admin.ok("POST", "/api/records/task", {"name": "Call", "assigned_to": "ann"}, 201)
    assert created["title"] == "Call for Ann Tamm"
    url = f"/api/records/task/{created['id']}"
    assert admin.ok("GET", url)["title"] == "Call for Ann Tamm"
    changed = admin.ok("PATCH", url, {"assigned_to": "bob", "version": 1})
    assert changed["title"] == "Call for bob"  # no display name: the username
    listed = admin.ok("GET", "/api/records/task?sort=name")["items"]
    assert [i["title"] for i in listed] == ["Call for bob", "Old for Carl Kask"]
    note = admin.ok("POST", "/api/records/note", {"about": created["id"]}, 201)
    assert note["about"]["title"] == "Call for bob"
    assert f"#{ids['bob']}" not in str(admin.ok("GET", "/api/records/task"))
    client = _signed_in_admin(runtime, app)
    card = client.get(f"/records/task/{tasks['held']['id']}").get_data(as_text=True)
    assert 'id="record-title">Old for Carl Kask</h1>' in card


def _signed_in_admin(runtime, app):  # type: ignore[no-untyped-def]
    """A test client of the web app signed in as a new administrator."""
    with runtime.transaction() as session:
        create_user(session, "boss", "boss-password", ["admin"])
    client = app.test_client()
    sign_in(client, "boss")
    return client
