"""Applying a config pack (issue 14): a pack of ``--n`` entity types with ``--fields``
fields each (and the option list its list fields name), applied to an empty installation,
against creating the same configuration through the MetamodelService directly.

    python benchmarks/bench_packs.py --n 5 --fields 10 --rounds 2     # quick check
    python benchmarks/bench_packs.py                                 # 50 x 30, 3 rounds

Each round gives each side a fresh, initialised database of its own and alternates which
side goes first. The pack side is ``trellis.packs.apply.apply_pack`` (the plan against the
live snapshot, the apply through the services in one transaction, the installed pack and
its base recorded) of a pack already loaded; loading and validating its zip is timed apart.
The direct side is what a careful script would do with the same service, in one
transaction: ``create_list``, then per entity type ``create_entity`` and ``add_field`` for
each field. Before timing, both sides' results are checked equal (the live snapshots of the
entity types and the list are the same documents), so the pack does no less.
"""

from __future__ import annotations

import io
import time
import zipfile

from common import FIELD_TYPES as TYPES
from common import backend, database, median, parser, platform_settings, rotated

from trellis.packs.apply import apply_pack
from trellis.packs.content import Manifest, PackContent, canonical
from trellis.packs.export import pack_files
from trellis.packs.loading import load_pack
from trellis.packs.snapshot import snapshot
from trellis.runtime import Runtime

LEVELS = [{"key": f"l{i}", "label": f"Level {i}"} for i in range(5)]


def field_spec(k: int) -> dict:
    name, settings = TYPES[k % len(TYPES)]
    spec = {"key": f"f{k}", "label": f"Field {k}", "type": name, "indexed": k % 10 == 1}
    if settings:
        spec["settings"] = dict(settings)
    if k == 0:
        spec["required"] = True
    return spec


def pack_content(types: int, fields: int) -> PackContent:
    entities = {
        f"kind{e}": canonical(
            "entity",
            {
                "key": f"kind{e}",
                "label": f"Kind {e}",
                "fields": [field_spec(k) for k in range(fields)],
            },
        )
        for e in range(types)
    }
    lists = {"level": canonical("list", {"key": "level", "label": "Level", "options": LEVELS})}
    return PackContent(
        Manifest("bench", "1.0.0", "Benchmark", "", ">=0.1"),
        {"list": lists, "entity": entities},
    )


def fresh(url: str) -> Runtime:
    runtime = Runtime.from_settings(platform_settings(url))
    runtime.initialise()
    return runtime


def by_pack(runtime: Runtime, content: PackContent) -> None:
    outcome = apply_pack(runtime, content)
    assert outcome.applied, outcome


def by_service(runtime: Runtime, types: int, fields: int) -> None:
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        meta.create_list("level", "Level", LEVELS)
        for e in range(types):
            meta.create_entity(f"kind{e}", f"Kind {e}")
            for k in range(fields):
                spec = field_spec(k)
                meta.add_field(
                    f"kind{e}",
                    spec.pop("key"),
                    spec.pop("label"),
                    spec.pop("type"),
                    **spec,
                )


def configuration(runtime: Runtime) -> dict:
    with runtime.transaction(read_only=True) as session:
        live = snapshot(session)
    return {kind: live.get(kind, {}) for kind in ("list", "entity")}


def zipped(content: PackContent) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in pack_files(content.manifest, content.objects).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def main() -> None:
    p = parser(__doc__, 50, "entity types")
    p.add_argument("--fields", type=int, default=30, help="fields per entity type")
    p.add_argument("--rounds", type=int, default=3, help="rounds (each side once a round)")
    args = p.parse_args()
    content = pack_content(args.n, args.fields)
    raw = zipped(content)
    began = time.perf_counter()
    loaded = load_pack(raw)
    load_s = time.perf_counter() - began
    assert loaded.objects == content.objects, "the zip does not load back as the pack"

    took: dict[str, list[float]] = {"pack": [], "service": []}
    results: dict[str, dict] = {}
    for turn in range(args.rounds):
        for side in rotated(["pack", "service"], turn):
            with database(args.database_url) as url:
                runtime = fresh(url)
                began = time.perf_counter()
                if side == "pack":
                    by_pack(runtime, loaded)
                else:
                    by_service(runtime, args.n, args.fields)
                took[side].append(time.perf_counter() - began)
                if turn == 0:
                    results[side] = configuration(runtime)
                runtime.dispose()
            print(f"  round {turn + 1}: {side} {took[side][-1]:.2f} s", flush=True)
        if turn == 0:
            assert results["pack"] == results["service"], "the two sides built different things"
            assert len(results["pack"]["entity"]) == args.n
    pack_s, service_s = median(took["pack"]), median(took["service"])
    print(
        f"pack apply, {backend(args.database_url)}: {args.n} entity types x {args.fields} "
        f"fields (+ 1 option list), {args.rounds} rounds, sides alternated"
    )
    print(f"  load and validate the zip ({len(raw):,} bytes)   {load_s:8.2f} s")
    print(f"  apply_pack (median)                      {pack_s:8.2f} s   {took['pack']}")
    print(f"  MetamodelService directly (median)       {service_s:8.2f} s   {took['service']}")
    print(f"  ratio pack / direct                      {pack_s / service_s:8.2f}x")


if __name__ == "__main__":
    main()
