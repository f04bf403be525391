"""Run every benchmark, one after the other, at the quick sizes (default) or the full ones.

    python benchmarks/run_all.py                          # quick check, SQLite (minutes)
    python benchmarks/run_all.py --full                   # the sizes of issue 12 (hours)
    python benchmarks/run_all.py --full --database-url postgresql+psycopg://postgres@HOST/postgres
    python benchmarks/run_all.py --only api pages         # some of them

``--database-url`` (or ``$TRELLIS_BENCH_DATABASE_URL``) names a PostgreSQL server; each
benchmark creates and drops databases of its own on it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from common import DATABASE_ENV

HERE = Path(__file__).parent
#: name -> (script, quick arguments, full arguments on SQLite, full on PostgreSQL)
RUNS = {
    "create": (
        "bench_create.py",
        ["--n", "2000", "--batch", "500"],
        ["--n", "100000"],
        ["--n", "20000"],
    ),
    "import": ("bench_import.py", ["--n", "2000", "--batch", "500"], ["--n", "20000"], None),
    "api": (
        "bench_api.py",
        ["--n", "2000", "--requests", "2000"],
        ["--n", "100000", "--requests", "20000"],
        None,
    ),
    "pages": (
        "bench_pages.py",
        ["--n", "20000", "--repeat", "50"],
        ["--n", "1000000"],
        ["--n", "300000"],
    ),
    "busy": ("bench_busy.py", ["--n", "2000"], ["--n", "20000"], None),
    "busy-long": ("bench_busy.py", None, ["--n", "250000"], None),
    "conversion": (
        "bench_conversion.py",
        ["--n", "2000", "--repeat", "30"],
        ["--n", "50000"],
        None,
    ),
    "config": ("bench_config.py", ["--n", "20", "--changes", "10"], ["--n", "200"], None),
    "flows": ("bench_flows.py", ["--n", "300"], ["--n", "3000"], ["--n", "3000"]),
    "packs": ("bench_packs.py", ["--n", "5", "--fields", "10"], ["--n", "50"], ["--n", "50"]),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--full", action="store_true", help="the sizes of issue 12")
    p.add_argument("--database-url", default=os.environ.get(DATABASE_ENV))
    p.add_argument("--only", nargs="*", choices=list(RUNS), help="run only these")
    args = p.parse_args()
    postgres = bool(args.database_url) and not args.database_url.startswith("sqlite")
    failed = []
    for name, (script, quick, full, full_pg) in RUNS.items():
        if args.only and name not in args.only:
            continue
        chosen = (full_pg or full) if args.full and postgres else full if args.full else quick
        if chosen is None:
            continue
        command = [sys.executable, str(HERE / script), *chosen]
        if args.database_url:
            command += ["--database-url", args.database_url]
        print(f"\n$ {' '.join(command[1:])}", flush=True)
        if subprocess.run(command, cwd=HERE).returncode != 0:
            failed.append(name)
    if failed:
        raise SystemExit(f"Failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
