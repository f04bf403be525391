"""``trellis pack diff|apply|list`` on pack folders, and a ``trellis pack apply`` killed with
SIGKILL in the middle leaving the database as it was. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pack_docs import pack, sales_docs  # type: ignore[import-not-found]
from sqlalchemy import func, inspect, select

from trellis.packs.content import FOLDERS, PackContent, without_defaults
from trellis.packs.snapshot import snapshot


def write_pack(folder: Path, content: PackContent) -> Path:
    """The pack's files as an author writes them (defaults left out)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pack.yaml").write_text(yaml.safe_dump(content.manifest.as_data()))
    for kind, objects in content.objects.items():
        (folder / FOLDERS[kind]).mkdir(exist_ok=True)
        for key, doc in objects.items():
            text = yaml.safe_dump(without_defaults(kind, doc), sort_keys=False)
            (folder / FOLDERS[kind] / f"{key}.yaml").write_text(text)
    return folder


def state(runtime) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What the database holds: its tables, the live configuration, the history's length."""
    from trellis.metamodel.models import ConfigChange
    from trellis.packs.models import InstalledPack, PackObject

    with runtime.transaction() as session:
        return {
            "tables": sorted(inspect(session.connection()).get_table_names()),
            "config": snapshot(session),
            "history": session.scalar(select(func.count()).select_from(ConfigChange)),
            "packs": session.scalar(select(func.count()).select_from(InstalledPack)),
            "objects": session.scalar(select(func.count()).select_from(PackObject)),
        }


def test_diff_apply_and_list_a_pack_then_upgrade_it_with_take(runner, runtime, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = write_pack(tmp_path / "v1", pack("1.0", *sales_docs()))
    diff = runner.invoke(args=["pack", "diff", str(first)])
    assert diff.exit_code == 0, diff.output
    assert "create entity:deal" in diff.output and "(not installed)" in diff.output

    dry = runner.invoke(args=["pack", "apply", str(first), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "nothing was changed" in dry.output
    assert runner.invoke(args=["pack", "list"]).output.strip() == "No packs are installed."

    applied = runner.invoke(args=["pack", "apply", str(first)])
    assert applied.exit_code == 0, applied.output
    assert "sales 1.0 applied." in applied.output and "create entity:deal" in applied.output

    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        meta.update_field("deal", "subject", label="Topic")
        rule = next(r for r in meta.entity_row("deal").rules if r.key == "positive")
        meta.update_rule("deal", rule.id, expression="amount is None or amount > 100")
    listed = runner.invoke(args=["pack", "list"])
    assert "sales 1.0" in listed.output
    assert "edited here: entity:deal (fields.subject.label)" in listed.output
    assert "edited here: rule:deal.positive (expression)" in listed.output

    docs = sales_docs()
    docs[2][1]["fields"].append({"key": "closes", "label": "Closes", "type": "date"})
    docs[5][1]["expression"] = "amount is None or amount >= 0"
    second = write_pack(tmp_path / "v2", pack("2.0", *docs))
    diff = runner.invoke(args=["pack", "diff", str(second)])
    assert "CONFLICT expression" in diff.output and "fields.closes" in diff.output
    refused = runner.invoke(args=["pack", "apply", str(second)])
    assert refused.exit_code != 0
    assert "--take rule:deal.positive=pack|local" in refused.output
    assert "nothing was changed" in refused.output
    done = runner.invoke(args=["pack", "apply", str(second), "--take", "rule:deal.positive=pack"])
    assert done.exit_code == 0, done.output
    assert "upgraded from 1.0" in done.output
    live = state(runtime)["config"]
    assert live["rule"]["deal.positive"]["expression"] == "amount is None or amount >= 0"
    fields = {f["key"]: f for f in live["entity"]["deal"]["fields"]}
    assert fields["subject"]["label"] == "Topic" and "closes" in fields
    assert "sales 2.0" in runner.invoke(args=["pack", "list"]).output


def test_apply_refuses_a_broken_pack_listing_every_problem(runner, runtime, tmp_path) -> None:  # type: ignore[no-untyped-def]
    docs = copy.deepcopy(sales_docs())
    docs[2][1]["fields"].append(
        {"key": "colour", "label": "Colour", "type": "list", "settings": {"list": "nope"}}
    )
    docs.append(("duplicate", {"entity": "deal", "fields": ["ghost"]}))
    folder = write_pack(tmp_path / "broken", pack("1.0", *docs))
    before = state(runtime)
    result = runner.invoke(args=["pack", "apply", str(folder)])
    assert result.exit_code != 0
    assert "nope" in result.output and "ghost" in result.output
    assert "nothing was changed" in result.output
    assert state(runtime) == before


def big_pack(entities: int, fields: int) -> PackContent:
    docs: list[tuple[str, dict[str, Any]]] = []
    for number in range(entities):
        docs.append(
            (
                "entity",
                {
                    "key": f"thing_{number}",
                    "label": f"Thing {number}",
                    "fields": [
                        {"key": f"field_{n}", "label": f"Field {n}", "type": "text"}
                        for n in range(fields)
                    ],
                },
            )
        )
    return pack("1.0", *docs, name="big")


def test_a_killed_apply_leaves_the_database_as_it_was(settings, runtime, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = write_pack(tmp_path / "big", big_pack(20, 8))
    before = state(runtime)
    env = {
        **os.environ,
        "TRELLIS_DATABASE_URL": settings["DATABASE_URL"],
        "TRELLIS_INSTANCE_PATH": settings["INSTANCE_PATH"],
        "TRELLIS_SECRET_KEY": settings["SECRET_KEY"],
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "trellis.cli", "pack", "apply", str(folder)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    try:
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.strip().startswith("[3/"):  # in the middle: a few steps done, more to do
                os.kill(process.pid, signal.SIGKILL)
                break
    finally:
        process.wait(timeout=30)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL, "".join(seen)
    assert not any("applied" in line for line in seen)
    assert state(runtime) == before
    # and the database still works: the same pack applies in full
    env_done = subprocess.run(
        [sys.executable, "-m", "trellis.cli", "pack", "apply", str(folder)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert env_done.returncode == 0, env_done.stdout + env_done.stderr
    assert len(state(runtime)["config"]["entity"]) == 20


def test_after_init_demo_the_shipped_packs_are_installed_and_unchanged(runner, demo_crm) -> None:  # type: ignore[no-untyped-def]
    from trellis.demo import demo_packs

    listed = runner.invoke(args=["pack", "list"])
    assert listed.exit_code == 0, listed.output
    assert "crm 1.0.0" in listed.output and "hr 1.0.0" in listed.output
    assert "edited here" not in listed.output
    for folder in demo_packs():
        diff = runner.invoke(args=["pack", "diff", str(folder)])
        assert diff.exit_code == 0, diff.output
        assert "0 to create, 0 to change, 0 to archive" in diff.output, diff.output
        assert "0 open conflicts" in diff.output
