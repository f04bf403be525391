"""No request of any user keeps another user waiting more than a second (issue 9): the real
server (waitress, as ``trellis serve`` runs it) answers ``/healthz`` within 1 s while another
client sends the worst inputs known: a pathological import cell, a value for a backtracking
pattern, a huge body."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from live_waitress import waitress_serving

from trellis.accounts import create_user

#: the bound of the issue; each attack below held every thread for 8 seconds or more
SECOND = 1.0


@pytest.fixture
def served(app, runtime, factory) -> Iterator[tuple[str, int, dict[str, str]]]:  # type: ignore[no-untyped-def]
    factory.entity(
        "deal",
        {
            "name": "text",
            "amount": "money",
            "code": ("text", {"settings": {"pattern": r"([A-Za-z0-9]+)+-\d+"}}),
        },
    )
    with runtime.transaction() as session:
        create_user(session, "root", "root-password", ["admin"])
    with waitress_serving(app) as server:
        host, port = "127.0.0.1", server.effective_port
        token = _call(
            host, port, "POST", "/api/auth/token", {"username": "root", "password": "root-password"}
        )
        yield host, port, {"Authorization": f"Bearer {token[1]['token']}"}


def _call(
    host: str,
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers=None,
    raw=None,
    content_type="application/json",
):  # type: ignore[no-untyped-def]
    connection = http.client.HTTPConnection(host, port, timeout=60)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    connection.request(
        method, path, body=data, headers={"Content-Type": content_type, **(headers or {})}
    )
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    try:
        return response.status, json.loads(payload)
    except ValueError:
        return response.status, payload


def _huge_body(host: str, port: int) -> int:
    """150 MB announced without a token; the status the server answers. It must answer from
    the headers alone: none of the body is sent, so a server that waited for it (to read and
    hold it) would never answer. (Sending a part of it made the test flaky: the server closes
    after its answer, and closing with unread bytes resets the connection, which can drop the
    answer before the client reads it.)"""
    with socket.create_connection((host, port), timeout=30) as sock:
        size = 150 * 1024 * 1024
        sock.sendall(
            f"POST /api/records/deal HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n".encode()
        )
        answer = sock.recv(200).decode("latin-1")
    return int(answer.split()[1])


def test_health_answers_within_a_second_while_the_worst_inputs_arrive(served) -> None:  # type: ignore[no-untyped-def]
    host, port, auth = served
    attacks = {
        "import cell": lambda: _call(
            host,
            port,
            "POST",
            "/api/records/deal/import?dry_run=true",
            headers=auth,
            raw=("name,amount\n" + "".join(f"x,1{' ' * 30000}!\n" for _ in range(20))).encode(),
            content_type="text/csv",
        )[0],
        "pattern": lambda: _call(
            host, port, "POST", "/api/records/deal", {"code": "a" * 30 + "!"}, headers=auth
        )[0],
        "huge body": lambda: _huge_body(host, port),
    }
    results: dict[str, Any] = {}

    def attack(name: str) -> None:
        try:
            results[name] = attacks[name]()
        except Exception as exc:  # reported below
            results[name] = exc

    threads = [threading.Thread(target=attack, args=(name,), daemon=True) for name in attacks]
    for thread in threads:
        thread.start()
    waits = []
    deadline = time.monotonic() + 60
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        started = time.monotonic()
        status, _ = _call(host, port, "GET", "/healthz")
        waits.append(time.monotonic() - started)
        assert status == 200
        time.sleep(0.05)
    for thread in threads:
        thread.join(timeout=1)
    assert results == {"import cell": 422, "pattern": 422, "huge body": 413}
    assert waits and max(waits) < SECOND, waits
