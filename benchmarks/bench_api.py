"""API ``GET /api/records/item/<id>`` vs. a bare Flask endpoint doing the same work by hand
(token lookup, one SELECT, the same JSON), in-process and served through waitress.

    python benchmarks/bench_api.py --n 2000 --requests 2000         # quick check
    python benchmarks/bench_api.py --n 100000 --requests 20000      # full

In-process, both apps answer Flask test-client requests (alternating blocks of 100). Served,
each app runs in its own waitress process on 127.0.0.1 (``--threads`` threads) and
``--clients`` client threads with keep-alive connections send the requests (alternating
rounds). Both apps read the same database; before timing, their JSON bodies for the same
record must be equal. Both are timed for two callers: an administrator, and a user whose one
role may read every item (the platform decides their rights from the permission tables, the
bare endpoint in its token query). Issue 12 goal: the platform serves at least 0.7x the bare
endpoint's requests/s.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time

from apiserver import bare_app, outsider_token, platform_app, prepare, reader_token, start, stop
from common import backend, database, parser, rotated, verdict

GOAL = 0.7
BLOCK = 100


def in_process(apps: dict, token: str, ids: list[int], requests: int) -> dict[str, float]:
    """Seconds each app took for ``requests`` test-client GETs."""
    clients = {name: app.test_client() for name, app in apps.items()}
    headers = {"Authorization": f"Bearer {token}"}
    timings = dict.fromkeys(apps, 0.0)
    rng = random.Random(1)
    for turn in range(max(1, requests // BLOCK)):
        block = [rng.choice(ids) for _ in range(BLOCK)]
        for name in rotated(list(apps), turn):
            client = clients[name]
            began = time.perf_counter()
            for record_id in block:
                response = client.get(f"/api/records/item/{record_id}", headers=headers)
                assert response.status_code == 200, response.get_data(as_text=True)
            timings[name] += time.perf_counter() - began
    return timings


def served_round(port: int, token: str, ids: list[int], requests: int, clients: int) -> float:
    """Seconds for ``clients`` threads to send ``requests`` GETs in all."""
    errors: list[str] = []

    def work(share: list[int]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {token}"}
        for record_id in share:
            conn.request("GET", f"/api/records/item/{record_id}", headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"{response.status} for {record_id}")
        conn.close()

    rng = random.Random(port)
    wanted = [rng.choice(ids) for _ in range(requests)]
    threads = [threading.Thread(target=work, args=(wanted[k::clients],)) for k in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - began
    if errors:
        raise SystemExit(f"Failed requests: {errors[:5]}")
    return seconds


def same_answers(apps: dict, token: str, outsider: str, record_id: int) -> None:
    """Both apps give the same body and ETag for a record, and refuse the same requests with
    the same status: no token, an unknown token, a missing record, a user whose roles grant
    nothing on items. A baseline that checks less stops the run."""
    asks = {
        "the record": (f"/api/records/item/{record_id}", token),
        "no token": (f"/api/records/item/{record_id}", None),
        "unknown token": (f"/api/records/item/{record_id}", "trl_" + "x" * 43),
        "missing record": (f"/api/records/item/{record_id + 1}", token),
        "no grant on items": (f"/api/records/item/{record_id}", outsider),
    }
    for what, (path, bearer) in asks.items():
        answers = {}
        for name, app in apps.items():
            headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
            response = app.test_client().get(path, headers=headers)
            body = response.json if response.status_code == 200 else None
            answers[name] = (response.status_code, body, response.headers.get("ETag"))
        if len({json.dumps(a, sort_keys=True) for a in answers.values()}) != 1:
            raise SystemExit(f"The two apps answer {what} differently: {answers}")


def goal_text(ratio: float) -> str:
    return f"goal >= {GOAL}x: {verdict(ratio >= GOAL)}"


def main() -> None:
    p = parser(__doc__, 100_000, "records in the table")
    p.add_argument("--requests", type=int, default=20_000, help="GETs per side, mode and caller")
    p.add_argument("--threads", type=int, default=4, help="waitress threads per server")
    p.add_argument("--clients", type=int, default=4, help="client threads (served mode)")
    args = p.parse_args()
    url = args.database_url
    rounds = 10
    timings: dict[str, dict[str, float]] = {}
    served: dict[str, dict[str, float]] = {}
    with database(url) as db_url:
        runtime, token = prepare(db_url, args.n)
        outsider = outsider_token(runtime)
        callers = {"administrator": token, "reader (no admin)": reader_token(runtime)}
        runtime.dispose()
        apps = {"platform API": platform_app(db_url), "bare Flask endpoint": bare_app(db_url)}
        ids = list(range(1, args.n + 1))
        for bearer in callers.values():
            same_answers(apps, bearer, outsider, ids[-1])
        for caller, bearer in callers.items():
            in_process(apps, bearer, ids, BLOCK * 2)  # warm-up, not timed
            timings[caller] = in_process(apps, bearer, ids, args.requests)

        servers = {
            name: start(kind, db_url, args.threads)
            for name, kind in (("platform API", "platform"), ("bare Flask endpoint", "bare"))
        }
        try:
            for caller, bearer in callers.items():
                for _proc, port in servers.values():  # warm-up, not timed
                    served_round(port, bearer, ids, 200, args.clients)
                served[caller] = dict.fromkeys(servers, 0.0)
                for turn in range(rounds):
                    for name in rotated(list(servers), turn):
                        port = servers[name][1]
                        served[caller][name] += served_round(
                            port, bearer, ids, max(1, args.requests // rounds), args.clients
                        )
        finally:
            for proc, _port in servers.values():
                stop(proc)
    n = max(1, args.requests // BLOCK) * BLOCK
    sent = max(1, args.requests // rounds) * rounds
    print(f"GET one record of {args.n:,} ({backend(url)})")
    for caller in callers:
        print(f"  caller: {caller}")
        print(f"    in-process (Flask test client), {n:,} requests per side:")
        for name, seconds in timings[caller].items():
            print(
                f"      {name:22s} {n / seconds:8.0f} requests/s   "
                f"{seconds / n * 1000:6.2f} ms each"
            )
        ratio = timings[caller]["bare Flask endpoint"] / timings[caller]["platform API"]
        print(f"      platform / bare requests/s: {ratio:.2f}x   {goal_text(ratio)}")
        print(
            f"    served by waitress on 127.0.0.1 ({args.threads} threads each, {args.clients} "
            f"clients, keep-alive), {sent:,} requests per side:"
        )
        for name, seconds in served[caller].items():
            print(f"      {name:22s} {sent / seconds:8.0f} requests/s")
        ratio = served[caller]["bare Flask endpoint"] / served[caller]["platform API"]
        print(f"      platform / bare requests/s: {ratio:.2f}x   {goal_text(ratio)}")


if __name__ == "__main__":
    main()
