"""Bearer tokens: issued for the right password, stored hashed, expiring, revocable, revoked
when the user's password or roles change; repeated failed logins for one user from one address
are paused; every other /api call needs a valid token."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import datetime, timedelta

import pytest
from api_helpers import assert_problem
from sqlalchemy import inspect, select

import trellis.access.credentials as credentials
from trellis.access.credentials import change_password, change_roles
from trellis.access.models import ApiToken, LoginThrottle
from trellis.accounts import Role, User
from trellis.clock import utcnow

TOKEN_URL = "/api/auth/token"


def ask_for_token(client, username: str, password: str):  # type: ignore[no-untyped-def]
    return client.post(TOKEN_URL, json={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_rows(runtime) -> list[ApiToken]:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def set_active(runtime, username: str, active: bool) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        session.scalar(select(User).where(User.username == username)).is_active = active


# -- issuing -------------------------------------------------------------------------------


def test_the_right_password_gives_a_token_that_works(client, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    response = ask_for_token(client, "ann", "ann-password")
    assert response.status_code == 201
    assert set(response.json) == {"token", "expires_at"}
    expires_at = datetime.fromisoformat(response.json["expires_at"])
    assert expires_at.utcoffset() == timedelta(0)  # UTC, with its offset
    assert expires_at.replace(tzinfo=None) > utcnow()
    headers = bearer(response.json["token"])
    assert client.get("/api/meta/entities", headers=headers).status_code == 200


def test_tokens_are_stored_hashed(client, make_user, runtime) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    token = ask_for_token(client, "ann", "ann-password").json["token"]
    [row] = token_rows(runtime)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = [getattr(row, c.key) for c in inspect(ApiToken).columns]
    assert not any(isinstance(value, str) and token in value for value in stored)
    assert token.startswith(row.prefix) and len(row.prefix) < len(token) // 3


def test_each_request_for_a_token_gives_a_new_one(client, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    first = ask_for_token(client, "ann", "ann-password").json["token"]
    second = ask_for_token(client, "ann", "ann-password").json["token"]
    assert first != second
    for token in (first, second):
        assert client.get("/api/meta/entities", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    ("username", "password"),
    [("ann", "wrong-password"), ("ann", "ANN-PASSWORD"), ("nobody", "ann-password")],
)
def test_wrong_credentials_are_a_401_that_does_not_say_which_part_was_wrong(
    client, make_user, runtime, username, password
) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    response = ask_for_token(client, username, password)
    body = assert_problem(response, 401)
    assert body["detail"] == "Wrong user name or password."
    assert token_rows(runtime) == []


@pytest.mark.parametrize(
    ("data", "content_type", "status", "fields"),
    [
        ("username=ann&password=ann-password", "application/x-www-form-urlencoded", 400, ()),
        ('["ann", "ann-password"]', "application/json", 400, ()),
        ("{not json", "application/json", 400, ()),
        ("{}", "application/json", 422, ("username", "password")),
        ('{"username": 5, "password": ["x"]}', "application/json", 422, ("username", "password")),
        ('{"username": "ann"}', "application/json", 422, ("password",)),
    ],
)
def test_malformed_token_requests(client, make_user, data, content_type, status, fields) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    response = client.post(TOKEN_URL, data=data, content_type=content_type)
    assert_problem(response, status, *fields)


# -- every other call needs a valid token --------------------------------------------------


def api_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, path) of every route under /api, with placeholder path parameters."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<int(32)?:[^>]+>", "1", rule.rule)
        path = re.sub(r"<[^>]+>", "thing", path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (method, rule.endpoint) != ("POST", "api.issue_token_view"):
                found.append((method, path))
    return found


@pytest.fixture
def bad_authorization(request, client, make_user, runtime) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Authorization headers that must not get anyone in, by kind."""
    make_user("ann", ["admin"])
    kind = request.param
    if kind in ("expired", "revoked", "disabled user"):
        headers = bearer(ask_for_token(client, "ann", "ann-password").json["token"])
        assert client.get("/api/meta/entities", headers=headers).status_code == 200
        if kind == "expired":
            with runtime.transaction() as session:
                row = session.scalar(select(ApiToken))
                row.expires_at = utcnow() - timedelta(seconds=1)
        elif kind == "revoked":
            assert client.delete(TOKEN_URL, headers=headers).status_code == 204
        else:
            set_active(runtime, "ann", False)
        return headers
    return {
        "none": {},
        "other scheme": {"Authorization": "Basic YW5uOmFubi1wYXNzd29yZA=="},
        "empty bearer": {"Authorization": "Bearer "},
        "malformed": {"Authorization": "Bearer not a token at all"},
        "overlong": {"Authorization": "Bearer trl_" + "x" * 5000},
        "unknown": bearer("trl_" + secrets.token_urlsafe(32)),
    }[kind]


@pytest.mark.parametrize(
    "bad_authorization",
    [
        "none",
        "other scheme",
        "empty bearer",
        "malformed",
        "overlong",
        "unknown",
        "expired",
        "revoked",
        "disabled user",
    ],
    indirect=True,
)
def test_every_other_api_call_is_a_401_without_a_valid_token(
    app, client, bad_authorization
) -> None:  # type: ignore[no-untyped-def]
    routes = api_routes(app)
    assert len(routes) > 40  # records, metamodel, roles, conversions, the document
    for method, path in routes:
        response = client.open(path, method=method, json={}, headers=bad_authorization)
        assert response.status_code == 401, (method, path, response.status_code)
        assert_problem(response, 401)


def test_a_401_says_how_to_authenticate_and_leaks_nothing(client) -> None:  # type: ignore[no-untyped-def]
    body = assert_problem(client.get("/api/records/deal/1"), 401)
    assert "Bearer" in body["detail"]
    assert "deal" not in body["detail"]  # not even whether the entity type exists


# -- revoking ------------------------------------------------------------------------------


def test_delete_revokes_only_the_token_used(client, make_user, runtime) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    laptop = bearer(ask_for_token(client, "ann", "ann-password").json["token"])
    phone = bearer(ask_for_token(client, "ann", "ann-password").json["token"])
    assert client.delete(TOKEN_URL, headers=laptop).status_code == 204
    assert_problem(client.get("/api/meta/entities", headers=laptop), 401)
    assert_problem(client.delete(TOKEN_URL, headers=laptop), 401)  # no second revocation
    assert client.get("/api/meta/entities", headers=phone).status_code == 200
    laptop_row, phone_row = token_rows(runtime)
    assert laptop_row.revoked_at is not None and phone_row.revoked_at is None


def test_an_expired_token_stops_working_while_a_fresh_one_works(client, make_user, runtime) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    old = bearer(ask_for_token(client, "ann", "ann-password").json["token"])
    with runtime.transaction() as session:
        session.scalar(select(ApiToken)).expires_at = utcnow() - timedelta(minutes=1)
    body = assert_problem(client.get("/api/meta/entities", headers=old), 401)
    assert "expired" in body["detail"]
    fresh = bearer(ask_for_token(client, "ann", "ann-password").json["token"])
    assert client.get("/api/meta/entities", headers=fresh).status_code == 200


# -- disabled users ------------------------------------------------------------------------


def test_a_disabled_user_gets_no_token_and_their_token_stops_working(
    client, make_user, runtime
) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    headers = bearer(ask_for_token(client, "ann", "ann-password").json["token"])
    set_active(runtime, "ann", False)
    assert_problem(client.get("/api/meta/entities", headers=headers), 401)
    refused = assert_problem(ask_for_token(client, "ann", "ann-password"), 401)
    assert refused["detail"] == "Wrong user name or password."  # same as a wrong password
    assert len(token_rows(runtime)) == 1  # no new token was issued


def test_a_new_password_or_new_roles_revoke_the_users_tokens(client, make_user, runtime) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    make_user("bob", ["user"])

    def tokens() -> tuple[dict[str, str], dict[str, str]]:
        ann = bearer(ask_for_token(client, "ann", "ann-password").json["token"])
        bob = bearer(ask_for_token(client, "bob", "bob-password").json["token"])
        return ann, bob

    def change(action) -> None:  # type: ignore[no-untyped-def]
        with runtime.transaction() as session:
            action(session, session.scalar(select(User).where(User.username == "ann")))

    for action in (
        lambda s, ann: change_password(s, ann, "ann-new-password"),
        lambda s, ann: change_roles(s, ann, ["admin"]),
        lambda s, ann: credentials.set_active(s, ann, False),
    ):
        ann, bob = tokens()
        change(action)
        body = assert_problem(client.get("/api/meta/entities", headers=ann), 401)
        assert "revoked" in body["detail"]
        assert client.get("/api/meta/entities", headers=bob).status_code == 200  # only ann's
        change(lambda s, ann: credentials.set_active(s, ann, True))
        change(lambda s, ann: ann.set_password("ann-password"))
        # the user may sign in again and get a token that works
        assert client.get("/api/meta/entities", headers=tokens()[0]).status_code == 200


def test_saving_the_same_roles_again_keeps_the_tokens(client, make_user, runtime) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    headers = bearer(ask_for_token(client, "ann", "ann-password").json["token"])
    with runtime.transaction() as session:
        change_roles(session, session.scalar(select(User).where(User.username == "ann")), ["user"])
    assert client.get("/api/meta/entities", headers=headers).status_code == 200


def test_a_changed_role_applies_to_the_next_call_with_the_same_token(
    client, make_user, runtime
) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    headers = bearer(ask_for_token(client, "ann", "ann-password").json["token"])
    body = {"key": "project", "label": "Project"}
    assert_problem(client.post("/api/meta/entities", json=body, headers=headers), 403)
    with runtime.transaction() as session:
        ann = session.scalar(select(User).where(User.username == "ann"))
        ann.roles = [session.scalar(select(Role).where(Role.key == "admin"))]
    assert client.post("/api/meta/entities", json=body, headers=headers).status_code == 201


# -- throttling ----------------------------------------------------------------------------


LOCAL = "127.0.0.1"  # the test client's address


def fail(client, username: str, times: int, address: str = LOCAL) -> list[int]:  # type: ignore[no-untyped-def]
    return [
        client.post(
            TOKEN_URL,
            json={"username": username, "password": "guess"},
            environ_base={"REMOTE_ADDR": address},
        ).status_code
        for _ in range(times)
    ]


def end_pause(runtime, username: str) -> None:  # type: ignore[no-untyped-def]
    """Let the pause pass (instead of sleeping through it)."""
    with runtime.transaction() as session:
        row = session.get(LoginThrottle, (username, LOCAL))
        row.blocked_until = utcnow() - timedelta(seconds=1)


def test_five_failures_pause_logins_even_for_the_right_password(client, make_user, runtime) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    assert fail(client, "ann", 5) == [401] * 5
    paused = ask_for_token(client, "ann", "ann-password")
    body = assert_problem(paused, 429)
    assert int(paused.headers["Retry-After"]) >= 1
    assert paused.headers["Retry-After"] in body["detail"]
    assert token_rows(runtime) == []
    end_pause(runtime, "ann")
    assert ask_for_token(client, "ann", "ann-password").status_code == 201
    with runtime.transaction() as session:
        assert session.get(LoginThrottle, ("ann", LOCAL)) is None  # a success forgets them


def test_after_the_pause_each_further_failure_pauses_again_for_longer(
    client, make_user, runtime
) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    fail(client, "ann", 4)
    waits = []
    for _ in range(2):
        before = utcnow()
        assert fail(client, "ann", 1) == [401]  # a try after a pause is judged...
        assert ask_for_token(client, "ann", "ann-password").status_code == 429  # ...and pauses
        with runtime.transaction() as session:
            waits.append(session.get(LoginThrottle, ("ann", LOCAL)).blocked_until - before)
        end_pause(runtime, "ann")
    assert waits[0] >= timedelta(seconds=1) and waits[1] >= timedelta(seconds=2)


def test_fewer_than_five_failures_do_not_pause_and_a_success_resets_the_count(
    client, make_user
) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    fail(client, "ann", 4)
    assert ask_for_token(client, "ann", "ann-password").status_code == 201
    fail(client, "ann", 4)
    assert ask_for_token(client, "ann", "ann-password").status_code == 201


def test_the_pause_is_per_user_and_ignores_the_case_of_the_name(client, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    make_user("bob", ["user"])
    assert fail(client, "ANN", 3) + fail(client, "Ann", 2) == [401] * 5
    assert_problem(ask_for_token(client, "ann", "ann-password"), 429)
    assert ask_for_token(client, "bob", "bob-password").status_code == 201


def test_a_paused_user_keeps_the_tokens_they_have(client, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["user"])
    headers = bearer(ask_for_token(client, "ann", "ann-password").json["token"])
    fail(client, "ann", 5)
    assert client.get("/api/meta/entities", headers=headers).status_code == 200


def test_failures_from_one_address_do_not_lock_the_user_out_elsewhere(client, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("root", ["admin"])
    attacker = "203.0.113.9"
    assert fail(client, "root", 5, attacker) == [401] * 5
    refused = client.post(
        TOKEN_URL,
        json={"username": "root", "password": "root-password"},
        environ_base={"REMOTE_ADDR": attacker},
    )
    assert_problem(refused, 429)  # the guessing address is paused, even with the password...
    for _ in range(3):  # ...and stays paused with every further try from there
        fail(client, "root", 1, attacker)
    # while the administrator, from their own address, signs in at once
    assert ask_for_token(client, "root", "root-password").status_code == 201


@pytest.mark.real_password_cost
def test_passwords_are_stored_with_werkzeugs_full_scrypt_cost(runtime, make_user) -> None:  # type: ignore[no-untyped-def]
    """The suite hashes cheaply (tests/conftest.py); the product keeps werkzeug's default."""
    make_user("ann", ["user"])
    with runtime.transaction() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "ann"))
    assert stored.startswith("scrypt:32768:8:1$")
    assert credentials._stand_in_hash().startswith("scrypt:32768:8:1$")


def test_the_suite_hashes_passwords_cheaply_outside_marked_tests(runtime, make_user) -> None:  # type: ignore[no-untyped-def]
    """The marked tests above leave the cheap cost behind them (whatever order they run in)."""
    make_user("ann", ["user"])
    with runtime.transaction() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "ann"))
    assert stored.startswith("scrypt:128:8:1$")
    assert credentials._stand_in_hash().startswith("scrypt:128:8:1$")


@pytest.mark.real_password_cost
def test_an_unknown_user_name_costs_a_password_hash_like_a_known_one(
    client, make_user, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Answering faster for an unknown user name would tell which user names exist."""
    make_user("ann", ["user"])
    checked: list[str] = []
    real_check = credentials.check_password_hash

    def counting_check(pwhash: str, password: str) -> bool:
        checked.append(password)
        return real_check(pwhash, password)

    monkeypatch.setattr(credentials, "check_password_hash", counting_check)
    monkeypatch.setattr("trellis.accounts.check_password_hash", counting_check)
    for name, password in [("ann", "wrong-password"), ("nobody", "some-password")]:
        assert_problem(ask_for_token(client, name, password), 401)
    assert checked == ["wrong-password", "some-password"]

    def slowest_of_fastest(name: str) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            ask_for_token(client, name, "wrong-password")
            times.append(time.perf_counter() - started)
        return min(times)

    # generous: before, an unknown name answered about ten times faster
    assert slowest_of_fastest("nobody") > 0.3 * slowest_of_fastest("ann")


def test_a_forged_forwarded_for_header_does_not_escape_the_pause(client, make_user) -> None:  # type: ignore[no-untyped-def]
    """Without proxies configured (TRELLIS_PROXY_HOPS=0) X-Forwarded-For is the client's word."""
    make_user("root", ["admin"])
    statuses = [
        client.post(
            TOKEN_URL,
            json={"username": "root", "password": "guess"},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        ).status_code
        for n in range(6)
    ]
    assert statuses == [401] * 5 + [429]


def test_behind_proxies_the_forwarded_client_address_counts(settings, make_user) -> None:  # type: ignore[no-untyped-def]
    from trellis.app import create_app

    app = create_app({**settings, "PROXY_HOPS": 1})
    try:
        make_user("root", ["admin"])
        client = app.test_client()

        def ask(password: str, address: str) -> int:
            return client.post(
                TOKEN_URL,
                json={"username": "root", "password": password},
                headers={"X-Forwarded-For": address},
            ).status_code

        assert [ask("guess", "203.0.113.9") for _ in range(6)] == [401] * 5 + [429]
        assert ask("root-password", "198.51.100.7") == 201
    finally:
        app.extensions["trellis"].dispose()
