"""Reads, writes and logins while a bulk import runs: do other requests wait on the writer,
and what answer do they get?

    python benchmarks/bench_busy.py --n 2000                        # quick check
    python benchmarks/bench_busy.py --n 20000                       # full: the GET case
    python benchmarks/bench_busy.py --n 250000                      # full: writes and logins

The platform is served by waitress on 127.0.0.1 (its own process) over a SQLite file (or
``--database-url``). ``trellis import item FILE`` imports ``--n`` rows in another process,
as an administrator would. While it runs, three clients keep sending requests one after the
other: ``GET /api/records/item/<id>``, ``POST /api/records/item`` (a write) and
``POST /api/auth/token`` (a login). Issue 12 goals: a GET never waits on a writer (here:
no GET during the import takes more than its idle median + 250 ms); a write or login never
gets a 500 but, when it cannot go ahead, a clear "busy, retry" answer at once (here: every
answer, whatever it is, within its idle median + 1 s; a 500 or no answer misses the goal).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from apiserver import PASSWORD, USERNAME, prepare, start, stop
from bench_import import csv_text
from common import backend, database, latency_line, median, parser, platform_settings, verdict

#: s over the idle median: more than this is waiting on the writer (CPU contention with the
#: importing process adds some too; a wait for the writer lasts as long as the import)
WAIT_MARGIN = 0.25
AT_ONCE = 1.0  # s over the idle median: an answer later than this did not come "at once"
BUSY = (423, 429, 503)  # "busy, retry" answers (a 503 is one, not an error)


class Probe(threading.Thread):
    """Sends one kind of request again and again until told to stop; keeps every answer's
    start time, duration and status."""

    def __init__(self, port: int, method: str, path: str, body, token: str | None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.port, self.method, self.path, self.body, self.token = port, method, path, body, token
        self.results: list[tuple[float, float, int]] = []
        self.stopping = threading.Event()

    def once(self, conn: http.client.HTTPConnection) -> tuple[float, float, int]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = json.dumps(self.body(len(self.results))) if self.body else None
        began = time.perf_counter()
        conn.request(self.method, self.path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return began, time.perf_counter() - began, response.status

    def idle(self, count: int) -> list[tuple[float, float, int]]:
        """``count`` requests before the import starts (not kept in :attr:`results`)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            return [self.once(conn) for _ in range(count)]
        finally:
            conn.close()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        while not self.stopping.is_set():
            try:
                self.results.append(self.once(conn))
            except (OSError, http.client.HTTPException):
                self.results.append((time.perf_counter(), 0.0, 0))  # 0: no answer at all
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            time.sleep(0.02)


def main() -> None:
    args = parser(__doc__, 20_000, "rows imported").parse_args()
    url = args.database_url
    with database(url) as db_url, tempfile.TemporaryDirectory() as folder:
        runtime, token = prepare(db_url, 50)
        runtime.dispose()
        path = Path(folder) / "items.csv"
        path.write_text(csv_text(range(1000, 1000 + args.n)))
        proc, port = start("platform", db_url, 4)
        try:
            probes = {
                "GET one record": Probe(port, "GET", "/api/records/item/7", None, token),
                "POST a record (write)": Probe(
                    port, "POST", "/api/records/item", lambda i: {"name": f"During {i}"}, token
                ),
                "POST /api/auth/token (login)": Probe(
                    port,
                    "POST",
                    "/api/auth/token",
                    lambda _i: {"username": USERNAME, "password": PASSWORD},
                    None,
                ),
            }
            idle = {name: probe.idle(12)[2:] for name, probe in probes.items()}
            settings = platform_settings(db_url)
            env = {**os.environ, **{f"TRELLIS_{k}": str(v) for k, v in settings.items()}}
            for probe in probes.values():
                probe.start()
            time.sleep(0.5)
            began = time.perf_counter()
            importer = subprocess.run(
                [sys.executable, "-m", "trellis.cli", "import", "item", str(path)],
                env=env,
                capture_output=True,
                text=True,
            )
            ended = time.perf_counter()
            time.sleep(0.5)
            for probe in probes.values():
                probe.stopping.set()
            for probe in probes.values():
                probe.join(330)
        finally:
            stop(proc)
    if importer.returncode != 0:
        raise SystemExit(f"The import failed: {importer.stderr[-2000:]}")
    print(
        f"requests while `trellis import` writes {args.n:,} rows ({backend(url)}; the import "
        f"took {ended - began:.1f} s)"
    )
    for name, probe in probes.items():
        idle_p50 = median([d for _s, d, _c in idle[name]])
        # requests that were running at some moment of the import
        during = [(s, d, c) for s, d, c in probe.results if s < ended and s + d > began]
        print(f"  {name}:")
        print(latency_line("idle, before the import", [d for _s, d, _c in idle[name]]))
        if not during:
            print("    no request overlapped the import")
            continue
        statuses = Counter(c for _s, d, c in during)
        print(latency_line("during the import", [d for _s, d, _c in during]))
        answers = ", ".join(f"{c or 'none'} x{k}" for c, k in sorted(statuses.items()))
        print(f"    answers (status x count): {answers}")
        if len(statuses) > 1:
            for code in sorted(statuses):
                took = [d for _s, d, c in during if c == code]
                print(latency_line(f"  answered {code or 'nothing'}", took))
        slowest = max(d for _s, d, _c in during)
        waited = max(0.0, slowest - idle_p50)
        if name.startswith("GET"):
            ok = waited <= WAIT_MARGIN
            print(
                f"    waited up to {waited:.2f} s longer than idle; "
                f"goal: never waits on a writer: {verdict(ok)}"
            )
        else:
            busy = sum(k for c, k in statuses.items() if c in BUSY)
            errors = sum(k for c, k in statuses.items() if (c >= 500 and c not in BUSY) or c == 0)
            ok = not errors and waited <= AT_ONCE
            print(
                f"    500s or no answer: {errors}; busy answers: {busy}; waited up to "
                f"{waited:.2f} s longer than idle; goal: never a 500, a busy answer at once "
                f"(within {AT_ONCE:.0f} s): {verdict(ok)}"
            )


if __name__ == "__main__":
    main()
