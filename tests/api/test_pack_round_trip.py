"""Issue 14, Done when: a configuration built through the API, exported as a pack, applied
on an empty installation and exported there gives the same files byte for byte; so do the
shipped packs (applied, exported, applied elsewhere, exported)."""

from __future__ import annotations

from pathlib import Path

from trellis.flows.automations import save_automation
from trellis.packs import service
from trellis.packs.apply import apply_pack
from trellis.packs.content import Manifest
from trellis.packs.loading import load_pack
from trellis.runtime import Runtime

MANIFEST = Manifest("built", "1.0.0", "Built through the API", "", ">=0.1")
CONFIG = Path(__file__).resolve().parents[2] / "config"


def _export(runtime: Runtime, folder: Path) -> dict[str, bytes]:
    with runtime.transaction(read_only=True) as session:
        return service.export(session, folder, MANIFEST)


def _elsewhere(new_database, folder: Path):  # type: ignore[no-untyped-def]
    """A second, empty installation (a context manager giving its runtime)."""
    from contextlib import contextmanager

    @contextmanager
    def make():  # type: ignore[no-untyped-def]
        folder.mkdir(parents=True, exist_ok=True)
        with new_database(folder) as url:
            other = Runtime.from_settings(
                {"DATABASE_URL": url, "INSTANCE_PATH": str(folder), "SECRET_KEY": "t"}
            )
            try:
                yield other
            finally:
                other.dispose()

    return make()


def _build(admin) -> None:  # type: ignore[no-untyped-def]
    ok = admin.ok
    ok(
        "POST",
        "/api/meta/lists",
        {
            "key": "tier",
            "label": "Tier",
            "options": [
                {"key": "gold", "label": "Gold", "color": "#ffd700"},
                {"key": "basic", "label": "Basic", "active": False},
            ],
        },
        201,
    )
    ok(
        "POST",
        "/api/meta/lists",
        {
            "key": "level",
            "label": "Level",
            "options": [
                {"key": "high", "label": "High"},
                {"key": "low", "label": "Low"},
            ],
        },
        201,
    )
    ok("POST", "/api/meta/entities", {"key": "client", "label": "Client", "title": None}, 201)
    for field in (
        {"key": "name", "label": "Name", "type": "text", "required": True, "unique": True},
        {"key": "tier", "label": "Tier", "type": "list", "settings": {"list": "tier"}},
        {"key": "notes", "label": "Notes", "type": "long_text", "help_text": "Anything."},
    ):
        ok("POST", "/api/meta/entities/client/fields", field, 201)
    ok("PATCH", "/api/meta/entities/client", {"title": "{name}"})
    ok(
        "POST",
        "/api/meta/entities",
        {"key": "order", "label": "Order", "label_plural": "Orders"},
        201,
    )
    for field in (
        {"key": "subject", "label": "Subject", "type": "text", "required": True},
        {
            "key": "client",
            "label": "Client",
            "type": "reference",
            "settings": {"target": "client", "on_delete": "restrict"},
        },
        {"key": "amount", "label": "Amount", "type": "money", "settings": {"currencies": ["EUR"]}},
        {
            "key": "rate",
            "label": "Rate",
            "type": "decimal",
            "settings": {"precision": 6, "scale": 3},
        },
        {"key": "level", "label": "Level", "type": "list", "settings": {"list": "level"}},
        {"key": "tags", "label": "Tags", "type": "multi_list", "settings": {"list": "tier"}},
        {"key": "due", "label": "Due", "type": "date", "indexed": True},
        {"key": "urgent", "label": "Urgent", "type": "boolean", "default": False},
        {"key": "owner_user", "label": "Handled by", "type": "user"},
    ):
        ok("POST", "/api/meta/entities/order/fields", field, 201)
    ok("POST", "/api/meta/roles", {"key": "clerk", "label": "Clerk"}, 201)
    ok(
        "PUT",
        "/api/meta/roles/clerk/permissions/order",
        {"create": True, "read": "own", "update": "own", "fields": {"rate": "read_only"}},
    )
    ok("PUT", "/api/meta/roles/clerk/permissions/client", {"read": "all"})
    ok(
        "POST",
        "/api/meta/entities/order/pipelines",
        {
            "key": "flow",
            "label": "Flow",
            "stages": [
                {"key": "new", "label": "New", "next_stages": ["checked"]},
                {
                    "key": "checked",
                    "label": "Checked",
                    "color": "#17a2b8",
                    "enter_roles": ["clerk"],
                },
                {
                    "key": "done",
                    "label": "Done",
                    "kind": "success",
                    "flow_only": True,
                    "next_stages": [],
                },
                {"key": "dropped", "label": "Dropped", "kind": "failure"},
            ],
        },
        201,
    )
    rules = "/api/meta/entities/order/rules"
    ok("POST", rules, {"kind": "required", "field": "amount", "from_stage": "flow.checked"}, 201)
    ok(
        "POST",
        rules,
        {"kind": "required", "field": "due", "when": "urgent", "key": "urgent_due"},
        201,
    )
    ok(
        "POST",
        rules,
        {
            "kind": "validation",
            "field": "rate",
            "expression": "rate is None or rate < 1",
            "message": "A rate is below one.",
        },
        201,
    )
    ok("POST", "/api/meta/entities/client/duplicate-rules", {"fields": ["name"]}, 201)
    ok(
        "POST",
        "/api/meta/conversions",
        {
            "key": "client_to_order",
            "label": "Order for a client",
            "source": "client",
            "targets": {
                "order": {
                    "fields": {
                        "subject": "name",
                        "level": "tier",
                        "urgent": {"value": True},
                        "rate": {"expr": "0.5"},
                    },
                    "values": {"level": {"gold": "high", "basic": "low"}},
                    "pipeline": "flow",
                    "stage": "checked",
                }
            },
        },
        201,
    )
    ok(
        "POST",
        "/api/meta/flows",
        {
            "key": "order_check",
            "label": "Order check",
            "entity": "order",
            "trigger": {"on": "stage", "stage": "checked", "when": "amount > 100"},
        },
        201,
    )
    route = {
        "steps": [
            {"id": "clerks", "label": "Clerk check", "approvers": {"role": "clerk"}, "mode": "any"}
        ],
        "on_approved": {"stage": "done"},
        "on_rejected": {"stage": "dropped"},
    }
    ok("POST", "/api/meta/flows/order_check/versions", {"route": route}, 201)
    ok("POST", "/api/meta/flows/order_check/versions/1/publish", None)
    route["steps"][0]["label"] = "Clerk review"
    ok("POST", "/api/meta/flows/order_check/versions", {"route": route}, 201)
    ok("POST", "/api/meta/flows/order_check/versions/2/publish", None)
    ok("POST", "/api/meta/flows/order_check/versions", {"route": route}, 201)  # a draft


def test_a_configuration_built_through_the_api_round_trips_byte_for_byte(
    admin, runtime, new_database, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _build(admin)
    with runtime.transaction() as session:
        save_automation(
            session,
            runtime.model(session),
            "mark_urgent",
            {
                "entity": "order",
                "trigger": {"on": "field", "field": "amount", "when": "amount > 1000"},
                "actions": [{"type": "set_fields", "values": {"urgent": True}}],
            },
            create=True,
        )
    first = _export(runtime, tmp_path / "first")
    assert "flows/order_check.yaml" in first and "automations/mark_urgent.yaml" in first
    with _elsewhere(new_database, tmp_path / "b") as other:
        apply_pack(other, load_pack(tmp_path / "first"))
        second = _export(other, tmp_path / "second")
    assert second == first


def test_the_shipped_packs_round_trip_byte_for_byte(runtime, new_database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for name in ("crm", "hr"):
        apply_pack(runtime, load_pack(CONFIG / name), samples=True)
    first = _export(runtime, tmp_path / "first")
    with _elsewhere(new_database, tmp_path / "b") as other:
        with other.transaction() as session:  # the approvers the deal approval names
            from trellis.accounts import create_user

            for user in ("hanna", "ivan", "jonas"):
                create_user(session, user, "a-long-password-1", ["user"])
            users = service.installation_users(session)
        apply_pack(other, load_pack(tmp_path / "first", users=users))
        second = _export(other, tmp_path / "second")
    assert second == first
