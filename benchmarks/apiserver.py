"""The two web apps the API benchmarks compare, and serving either through waitress.

* the platform: ``trellis.app.create_app`` over a database made by :func:`prepare`;
* the baseline, :func:`bare_app`: a bare Flask endpoint written by hand for the same
  ``GET /api/records/item/<id>``: the bearer token looked up by its SHA-256 (one indexed
  query joined with its user: unrevoked, unexpired, active, and the read scope their roles
  grant on items: all, own or none, as the platform's policy), one SELECT of the record by its
  primary key, the same JSON body and ETag. Reads use ordinary (deferred) transactions.

``python apiserver.py platform|bare DATABASE_URL THREADS`` serves one of them with waitress
on 127.0.0.1 (a free port, printed on the first line of stdout) until it is terminated.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

from common import STATUSES, hand_read_engine, platform_runtime, platform_settings, row_values
from flask import Flask, jsonify, request
from sqlalchemy import MetaData, Table, bindparam, select, text

from trellis.access.grants import create_role, set_grant
from trellis.access.tokens import issue_token
from trellis.accounts import SYSTEM, create_user, ensure_builtin_roles, get_user
from trellis.clock import utcnow
from trellis.runtime import Runtime

USERNAME, PASSWORD = "bench", "a-long-bench-password"
OUTSIDER = "outsider"
READER = "reader"
"""a user who is no administrator: their role ``reader`` may read every item"""
LABELS = {k: k.title() for k in STATUSES}
#: the token's user and how far their roles let them read items (2: all, 1: their own,
#: 0: none; the admin role reads everything), in one indexed query
TOKEN_QUERY = text(
    "SELECT u.id, (SELECT coalesce(max(CASE WHEN r.key = 'admin' OR p.read = 'all' THEN 2 "
    "WHEN p.read = 'own' THEN 1 ELSE 0 END), 0) FROM auth_user_role ur "
    "JOIN auth_role r ON r.id = ur.role_id LEFT JOIN auth_permission p "
    "ON p.role_id = r.id AND p.entity = 'item' WHERE ur.user_id = u.id) AS reads "
    "FROM auth_token t JOIN auth_user u ON u.id = t.user_id "
    "WHERE t.token_hash = :digest AND t.revoked_at IS NULL AND t.expires_at > :now "
    "AND u.is_active"
)


def prepare(url: str, n: int) -> tuple[Runtime, str]:
    """The platform's database with ``n`` items (created through the record service) and an
    administrator ``bench`` with a bearer token; returns the runtime and the token."""
    runtime = platform_runtime(url)
    with runtime.transaction() as session:
        records = runtime.records(session)
        for i in range(n):
            records.create("item", row_values(i))
        ensure_builtin_roles(session)
        user = create_user(session, USERNAME, PASSWORD, roles=["admin"])
        token, _row = issue_token(session, user)
        # a user whose roles grant nothing on items: both apps must refuse them
        create_user(session, OUTSIDER, PASSWORD, roles=["user"])
    return runtime, token


def outsider_token(runtime: Runtime) -> str:
    """A new token of the user whose roles grant nothing on items."""
    with runtime.transaction() as session:
        return issue_token(session, get_user(session, OUTSIDER))[0]


def reader_token(runtime: Runtime) -> str:
    """A token of ``reader``, whose one role (``reader``, made here) may read every item and
    do nothing else: the platform decides their rights from the permission tables."""
    with runtime.transaction() as session:
        create_role(session, SYSTEM, READER, "Reader")
        set_grant(session, SYSTEM, runtime.model(session), READER, "item", {"read": "all"})
        user = create_user(session, READER, PASSWORD, roles=[READER])
        return issue_token(session, user)[0]


def platform_app(url: str) -> Flask:
    from trellis.app import create_app

    return create_app(platform_settings(url))


def bare_app(url: str) -> Flask:
    """The hand-written endpoint over the same tables (it only reads)."""
    engine = hand_read_engine(url)
    records = Table("rec_item", MetaData(), autoload_with=engine)
    one = select(records).where(records.c.id == bindparam("id"))
    app = Flask("bare")

    @app.get("/api/records/item/<int:record_id>")
    def get_item(record_id: int) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return {"detail": "Send a bearer token."}, 401
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        with engine.connect() as conn:
            caller = conn.execute(TOKEN_QUERY, {"digest": digest, "now": utcnow()}).first()
            if caller is None:
                return {"detail": "The token is unknown, expired or revoked."}, 401
            if not caller.reads:
                return {"detail": "No entity type 'item'."}, 404
            row = conn.execute(one, {"id": record_id}).mappings().first()
        if row is None or (caller.reads == 1 and row["owner_id"] != caller.id):
            return {"detail": f"No Item with id {record_id}."}, 404
        body = {
            "id": row["id"],
            "version": row["version"],
            # named by its first text field (the platform's default title), else by its id
            "title": " ".join((row["name"] or "").split()) or f"Item #{row['id']}",
            "created_at": row["created_at"].replace(tzinfo=UTC).isoformat(),
            "updated_at": row["updated_at"].replace(tzinfo=UTC).isoformat(),
            "created_by": row["created_by"],
            "owner": row["owner_id"],
            "name": row["name"],
            "code": row["code"],
            "notes": row["notes"],
            "quantity": row["quantity"],
            "rate": None if row["rate"] is None else str(row["rate"]),
            "amount": None
            if row["amount_amount"] is None
            else {"amount": str(row["amount_amount"]), "currency": row["amount_currency"]},
            "active": row["active"],
            "due": None if row["due"] is None else row["due"].isoformat(),
            "email": row["email"],
            "status": None
            if row["status"] is None
            else {"key": row["status"], "label": LABELS[row["status"]]},
        }
        response = jsonify(body)
        response.headers["ETag"] = f'"{row["version"]}"'
        return response

    return app


def start(kind: str, url: str, threads: int) -> tuple[subprocess.Popen, int]:
    """Serve ``kind`` in a child process; its process and port."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__)), kind, url, str(threads)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line.strip().isdigit():
        proc.kill()
        raise SystemExit(f"The {kind} server did not start.")
    return proc, int(line)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _serve(kind: str, url: str, threads: int) -> None:
    import logging

    from waitress import create_server

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" notes
    app = platform_app(url) if kind == "platform" else bare_app(url)
    if kind == "platform":  # as ``trellis serve`` does before it serves
        from trellis.runtime import get_runtime_of
        from trellis.serving import settle_start_up

        settle_start_up(get_runtime_of(app))
    server = create_server(app, host="127.0.0.1", port=0, threads=threads)
    print(server.effective_port, flush=True)  # type: ignore[union-attr]
    server.run()


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2], int(sys.argv[3]))
