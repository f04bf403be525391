"""Configuration changes on a large configuration: ``--n`` entity types of ``--fields``
fields each. What one change costs the worker that makes it, what it costs the other workers
on their next request, what ``/api/openapi.json`` costs, and whether memory grows.

    python benchmarks/bench_config.py --n 20 --changes 10            # quick check
    python benchmarks/bench_config.py --n 200                        # full (30 fields each)

Three workers share one database, as three processes would: worker A makes the changes
(``MetamodelService.add_field``, one transaction each), worker B (a Flask app) serves
``GET /api/records/kind0?per_page=1``, a one-record list request as a client sends it (its
read transaction, the token, the list and its JSON), worker C (a Flask app) serves
``GET /api/openapi.json``. Each round: the other
workers' first request after the change, then the same request again with nothing changed;
worker B then lists the changed entity type itself (its first use after the change).
Set-up (not timed): each entity type's rows are added in one step and its table created
whole by the metamodel service's schema sync (adding 6,000 columns one by one costs minutes
of ALTER TABLE on SQLite, which is not what is measured). ``--no-openapi`` leaves worker C
out, to see the metamodel's own memory without the OpenAPI document's.

Issue 12 goals: a change at most 50 ms and incremental (here: another worker's first
request after it at most 50 ms slower than with nothing changed); OpenAPI not rebuilt per
request (here: at most 50 ms when nothing changed); no memory growth per change (here: under
0.5 MB of resident memory per change, measured after the first 5 changes).
"""

from __future__ import annotations

import gc
import resource
import time
from pathlib import Path

from apiserver import PASSWORD, USERNAME
from common import FIELD_TYPES as TYPES
from common import database, latency_line, median, parser, platform_settings, verdict

from trellis.access.tokens import issue_token
from trellis.accounts import create_user, ensure_builtin_roles
from trellis.app import create_app, get_runtime_of
from trellis.metamodel.fieldtypes import registry
from trellis.metamodel.models import EntityType, Field
from trellis.runtime import Runtime

GOAL_MS = 50.0
GROWTH_MB = 0.5
WARM_CHANGES = 5


def build(runtime: Runtime, types: int, fields: int) -> None:
    """``types`` entity types of ``fields`` fields each, and an administrator with a token."""
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        levels = [{"key": f"l{i}", "label": f"Level {i}"} for i in range(5)]
        meta.create_list("level", "Level", levels)
        ensure_builtin_roles(session)
        create_user(session, USERNAME, PASSWORD, roles=["admin"])
    for e in range(types):
        with runtime.transaction() as session:
            meta = runtime.metamodel(session)
            row = EntityType(key=f"kind{e}", label=f"Kind {e}", label_plural=f"Kinds {e}")
            for k in range(fields):
                name, settings = TYPES[k % len(TYPES)]
                row.fields.append(
                    Field(
                        key=f"f{k}",
                        label=f"Field {k}",
                        type=name,
                        settings=registry.get(name).normalise_settings(settings),
                        position=k,
                        indexed=k % 10 == 1,
                    )
                )
            session.add(row)
            meta.sync_schema(row)  # the whole table at once, as a configuration pack would
            meta.bump("entity.create", f"kind{e}", {"fields": fields})
        print(f"  built {e + 1}/{types} entity types", end="\r", flush=True)
    print()


def rss_mb() -> float:
    """Resident memory of this process now (Linux), in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 1024 / 1024


def main() -> None:
    p = parser(__doc__, 200, "entity types")
    p.add_argument("--fields", type=int, default=30, help="fields per entity type")
    p.add_argument("--changes", type=int, default=30, help="changes timed")
    p.add_argument("--no-openapi", action="store_true", help="no worker C (OpenAPI)")
    args = p.parse_args()
    with database(args.database_url) as db_url:
        settings = platform_settings(db_url)
        worker_a = Runtime.from_settings(settings)
        worker_a.initialise()
        build(worker_a, args.n, args.fields)
        app_b = create_app(settings)
        worker_b = get_runtime_of(app_b)
        app = create_app(settings)
        with worker_a.transaction() as session:
            from trellis.accounts import get_user

            token, _row = issue_token(session, get_user(session, USERNAME))
        client, client_b = app.test_client(), app_b.test_client()
        headers = {"Authorization": f"Bearer {token}"}

        def list_request(entity: str) -> None:
            response = client_b.get(f"/api/records/{entity}?per_page=1", headers=headers)
            assert response.status_code == 200, response.status_code

        def other_worker() -> None:
            list_request("kind0")

        def openapi() -> None:
            if args.no_openapi:
                return
            response = client.get("/api/openapi.json", headers=headers)
            assert response.status_code == 200, response.status_code

        took: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}

        def timed(name: str, fn) -> None:  # type: ignore[no-untyped-def]
            began, began_cpu = time.perf_counter(), time.process_time()
            fn()
            took.setdefault(name, []).append(time.perf_counter() - began)
            cpu.setdefault(name, []).append(time.process_time() - began_cpu)

        other_worker(), openapi()  # the workers are warm before the first change
        recompiled: list[int] = []
        memory = []
        for turn in range(WARM_CHANGES + args.changes):
            if turn == WARM_CHANGES:
                took.clear()
                cpu.clear()
                gc.collect()
                memory.append(rss_mb())

            def change(turn: int = turn) -> None:
                with worker_a.transaction() as session:
                    meta = worker_a.metamodel(session)
                    meta.add_field(f"kind{turn % args.n}", f"extra{turn}", f"Extra {turn}", "text")

            timed("change (worker A, add a field)", change)
            timed("worker B, first list after it", other_worker)
            timed("worker B, next list", other_worker)

            def changed_type(turn: int = turn) -> None:
                list_request(f"kind{turn % args.n}")

            timed("worker B, first list of the changed type", changed_type)
            with worker_b.transaction(read_only=True) as session:
                recompiled.append(len(worker_b.model(session).recompiled))
            timed("worker C, first OpenAPI after it", openapi)
            timed("worker C, next OpenAPI", openapi)
        gc.collect()
        memory.append(rss_mb())
        worker_a.dispose()
        worker_b.dispose()
        get_runtime_of(app).dispose()
    print(
        f"configuration changes with {args.n} entity types x {args.fields} fields, "
        f"{args.changes} changes (after {WARM_CHANGES} not timed)"
    )
    for name, samples in took.items():
        print(latency_line(name, samples, indent=2))
        # the CPU this process spent on it (the machine may be busy with others)
        print(f"    CPU p50 {median(cpu[name]) * 1000:.1f} ms")

    def p50(name: str) -> float:
        return median(took[name]) * 1000

    print(
        f"  worker B recompiled {max(recompiled[WARM_CHANGES:])} entity type(s) per change "
        f"at most (of {args.n})"
    )
    change = p50("change (worker A, add a field)")
    extra = p50("worker B, first list after it") - p50("worker B, next list")
    extra_changed = p50("worker B, first list of the changed type") - p50("worker B, next list")
    cached = 0.0 if args.no_openapi else p50("worker C, next OpenAPI")
    growth = (memory[1] - memory[0]) / args.changes
    print(f"  goal: a change <= {GOAL_MS:.0f} ms: {verdict(change <= GOAL_MS)}")
    print(
        f"  goal: incremental: another worker's first request after a change costs "
        f"{extra:.1f} ms more (<= {GOAL_MS:.0f} ms): {verdict(extra <= GOAL_MS)}"
    )
    print(
        f"  (worker B's first list of the changed entity type itself: {extra_changed:.1f} ms "
        f"more than a list with nothing changed)"
    )
    if not args.no_openapi:
        print(
            f"  goal: OpenAPI not rebuilt per request: {cached:.1f} ms with nothing changed "
            f"(<= {GOAL_MS:.0f} ms): {verdict(cached <= GOAL_MS)}"
        )
        print(
            f"  (OpenAPI's first request after a change: "
            f"{p50('worker C, first OpenAPI after it'):.1f} ms, the changed entity type's "
            f"part of the document built again)"
        )
    print(
        f"  goal: no memory growth: {growth:+.2f} MB per change ({memory[0]:.0f} -> "
        f"{memory[1]:.0f} MB; < {GROWTH_MB} MB): {verdict(growth < GROWTH_MB)}"
    )


if __name__ == "__main__":
    main()
