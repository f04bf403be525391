"""The demo: the packs that ship (``config/crm`` and ``config/hr``) applied with their sample
records, through :func:`trellis.packs.apply.apply_pack` like any other pack.

Used by ``trellis init --demo`` (and ``trellis serve`` on a new database). Each pack is
applied in its own transaction, with its samples (sample users come first, each with a new
password that is reported once through ``progress``; flows are published, so a sample record
entering a stage starts its flows).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

from trellis.accounts import SYSTEM, Actor
from trellis.runtime import Runtime

Progress = Callable[[str], None]

#: the shipped packs the demo applies, in order
DEMO_PACKS = ("crm", "hr")


def shipped_folder() -> Path:
    """The folder of the configurations that ship (``config/`` in the source tree)."""
    spec = find_spec("trellis.shipped")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("The shipped configurations (trellis.shipped) are not installed.")
    return Path(next(iter(spec.submodule_search_locations)))


def demo_packs() -> list[Path]:
    return [shipped_folder() / name for name in DEMO_PACKS]


def load_demo(
    runtime: Runtime, actor: Actor = SYSTEM, progress: Progress | None = None
) -> dict[str, int]:
    """Apply the demo packs with their samples; returns counts (entity types, records,
    users, flows, packs)."""
    from trellis.packs.apply import PackRefused, apply_pack
    from trellis.packs.loading import load_pack

    counts = {"entities": 0, "records": 0, "users": 0, "flows": 0, "packs": 0}
    say = progress or (lambda _text: None)
    for folder in demo_packs():
        content = load_pack(folder)
        say(f"pack {content.manifest.name} {content.manifest.version}")
        outcome = apply_pack(runtime, content, actor=actor, progress=say, samples=True)
        if not outcome.applied:  # pragma: no cover - apply_pack raises instead
            raise PackRefused([], outcome.plan)
        created = outcome.plan.by_action("create")
        counts["entities"] += sum(1 for o in created if o.kind == "entity")
        counts["flows"] += sum(1 for o in created if o.kind == "flow")
        counts["records"] += outcome.samples["records"]
        counts["users"] += outcome.samples["users"]
        counts["packs"] += 1
    if counts["flows"]:
        say(f"{counts['flows']} flows")
    return counts
